"""The compose project as frozen values: what normalize.py makes of the files.

Everything is resolved: environment files read, variables substituted, short syntaxes expanded,
durations in nanoseconds, network keys mapped to engine names. Mappings are tuples of pairs
in a fixed order, so that values compare, hash and pickle the same everywhere.
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import asdict, dataclass, field
from typing import Any

# depends_on conditions
STARTED = "service_started"
HEALTHY = "service_healthy"
COMPLETED = "service_completed_successfully"

Pairs = tuple[tuple[str, str], ...]

# mount types of a service's `volumes`
BIND = "bind"
VOLUME = "volume"
TMPFS = "tmpfs"
# `volumes_from: [container:NAME]` names a container, not a service
CONTAINER_PREFIX = "container:"
# Service fields added after config hashes were first given out: left out of the hash while
# empty, so that a file that does not use them keeps the hashes (and containers) it had
_HASHED_WHEN_SET = (
    "volumes",
    "tmpfs",
    "volumes_from",
    "cap_add",
    "cap_drop",
    "privileged",
    "sysctls",
    "read_only",
    "security_opt",
    "ulimits",
    "shm_size",
    "devices",
    "device_cgroup_rules",
    "oom_score_adj",
    "mem_limit",
    "memswap_limit",
    "cpus",
    "cpu_shares",
    "cpu_quota",
    "cpu_period",
    "pids_limit",
    "limits",
)


@dataclass(frozen=True)
class Port:
    """One published container port (a range is one Port per container port)."""

    target: int
    protocol: str = "tcp"
    host_ip: str = ""
    # "" for any free port, "8080", or a range to choose from: "8000-8010"
    published: str = ""


@dataclass(frozen=True)
class Healthcheck:
    # Docker's form: ["NONE"], ["CMD", …] or ["CMD-SHELL", "…"]; () keeps the image's test
    test: tuple[str, ...] = ()
    interval_ns: int = 0
    timeout_ns: int = 0
    start_period_ns: int = 0
    retries: int = 0


@dataclass(frozen=True)
class Dependency:
    service: str
    condition: str = STARTED
    required: bool = True
    restart: bool = False


@dataclass(frozen=True)
class ServiceNetwork:
    key: str
    aliases: tuple[str, ...] = ()
    ipv4_address: str = ""
    priority: int = 0
    ipv6_address: str = ""
    link_local_ips: tuple[str, ...] = ()


@dataclass(frozen=True)
class Mount:
    """One entry of a service's `volumes`, in the long syntax."""

    type: str
    target: str
    # bind: an absolute host path; volume: the top-level key ("" for an anonymous volume)
    source: str = ""
    # volume: the engine's name of that top-level volume
    name: str = ""
    read_only: bool = False
    # Docker for Mac's hint, no effect on Linux (Docker's neither)
    consistency: str = ""
    # bind: a missing host folder is made (what the short syntax asks)
    create_host_path: bool = False
    propagation: str = ""
    # z or Z: no effect, hatoba has no SELinux
    selinux: str = ""
    # volume: not filled from the image at first use
    nocopy: bool = False
    # volume: labels of an anonymous volume the engine makes
    labels: Pairs = ()
    # tmpfs: bytes (0: half the RAM, the kernel's default) and mode (0: 1777)
    size: int = 0
    mode: int = 0


@dataclass(frozen=True)
class Ulimit:
    """One entry of `ulimits` (a single number is both limits)."""

    name: str
    soft: int
    hard: int


@dataclass(frozen=True)
class Device:
    """One entry of `devices`: a host device node and where the container sees it."""

    source: str
    target: str
    permissions: str = "rwm"


def float32(value: float) -> float:
    """A float as Go's float32 holds it (compose-go reads CPUs so)."""
    return float(struct.unpack("f", struct.pack("f", value))[0])


@dataclass(frozen=True)
class Limits:
    """`deploy.resources.limits`: they override `cpus`, `mem_limit` and `pids_limit` in the
    request (the file may set both only to the same value, as compose-go checks)."""

    cpus: float = 0.0
    memory: int = 0
    pids: int = 0


@dataclass(frozen=True)
class RestartPolicy:
    name: str = "no"
    maximum_retry_count: int = 0


@dataclass(frozen=True)
class Service:
    name: str
    image: str
    # the file asks for a build; hatoba has no builder and uses the image if it is there
    build: bool = False
    command: tuple[str, ...] | None = None
    entrypoint: tuple[str, ...] | None = None
    environment: Pairs = ()
    hostname: str = ""
    domainname: str = ""
    extra_hosts: tuple[str, ...] = ()
    dns: tuple[str, ...] = ()
    dns_search: tuple[str, ...] = ()
    dns_opt: tuple[str, ...] = ()
    ports: tuple[Port, ...] = ()
    expose: tuple[str, ...] = ()
    depends_on: tuple[Dependency, ...] = ()
    healthcheck: Healthcheck | None = None
    restart: RestartPolicy = field(default_factory=RestartPolicy)
    replicas: int = 1
    container_name: str = ""
    labels: Pairs = ()
    init: bool | None = None
    stop_signal: str = ""
    stop_grace_period_s: int | None = None
    working_dir: str = ""
    user: str = ""
    tty: bool = False
    stdin_open: bool = False
    profiles: tuple[str, ...] = ()
    # by priority, highest first; empty when network_mode is set
    networks: tuple[ServiceNetwork, ...] = ()
    network_mode: str = ""
    volumes: tuple[Mount, ...] = ()
    # `/run` or `/run:size=64m,mode=1777`
    tmpfs: tuple[str, ...] = ()
    # `SERVICE[:ro|rw]` or `container:NAME[:ro|rw]`
    volumes_from: tuple[str, ...] = ()
    # what the container may do (capability names as written: the engine reads them)
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    privileged: bool = False
    sysctls: Pairs = ()
    read_only: bool = False
    security_opt: tuple[str, ...] = ()
    # by name
    ulimits: tuple[Ulimit, ...] = ()
    devices: tuple[Device, ...] = ()
    device_cgroup_rules: tuple[str, ...] = ()
    oom_score_adj: int = 0
    # limits: bytes (memswap_limit -1 is unlimited swap), CPUs as written, 0 is unset
    shm_size: int = 0
    mem_limit: int = 0
    memswap_limit: int = 0
    cpus: float = 0.0
    cpu_shares: int = 0
    cpu_quota: int = 0
    cpu_period: int = 0
    # -1 is unlimited
    pids_limit: int = 0
    limits: Limits | None = None

    @property
    def config_hash(self) -> str:
        """docker compose's `com.docker.compose.config-hash`: the service as configured, less
        what does not change a container (replicas, build, dependencies, profiles)."""
        data = asdict(self)
        for key in ("replicas", "build", "depends_on", "profiles"):
            data.pop(key)
        _unless_set(data, _HASHED_WHEN_SET)
        for network in data["networks"]:
            _unless_set(network, ("ipv6_address", "link_local_ips"))
        text = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    @property
    def shares_network_of(self) -> str:
        """The service whose first container's network this one joins (`service:NAME`)."""
        return self.network_mode.removeprefix("service:") if self.is_service_mode else ""

    @property
    def is_service_mode(self) -> bool:
        return self.network_mode.startswith("service:")


@dataclass(frozen=True)
class IpamPool:
    subnet: str = ""
    gateway: str = ""
    ip_range: str = ""


@dataclass(frozen=True)
class Network:
    key: str
    # the engine's name: `<project>_<key>` unless the file names it
    name: str
    driver: str = "bridge"
    driver_opts: Pairs = ()
    internal: bool = False
    external: bool = False
    labels: Pairs = ()
    ipam: tuple[IpamPool, ...] = ()
    enable_ipv6: bool = False

    @property
    def config_hash(self) -> str:
        data = asdict(self)
        _unless_set(data, ("enable_ipv6",))
        text = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


def _unless_set(data: dict[str, Any], keys: tuple[str, ...]) -> None:
    """Keys added after config hashes were first given out hash only when set: a file that
    does not use them keeps the hashes its networks and containers were labelled with."""
    for key in keys:
        if not data[key]:
            del data[key]


@dataclass(frozen=True)
class Volume:
    """A top-level volume."""

    key: str
    # the engine's name: `<project>_<key>` unless the file names it (or its key, if external)
    name: str
    # "" is the engine's default, local
    driver: str = ""
    driver_opts: Pairs = ()
    external: bool = False
    labels: Pairs = ()


@dataclass(frozen=True)
class Project:
    name: str
    working_dir: str
    config_files: tuple[str, ...]
    # enabled services, in dependency order (a service after everything it depends on)
    services: tuple[Service, ...]
    # the networks the enabled services use
    networks: tuple[Network, ...]
    # the top-level volumes the enabled services mount
    volumes: tuple[Volume, ...] = ()
    # services of the file left out by their profiles: their containers are not orphans
    disabled: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    def service(self, name: str) -> Service:
        for service in self.services:
            if service.name == name:
                return service
        raise KeyError(name)

    def network(self, key: str) -> Network:
        for network in self.networks:
            if network.key == key:
                return network
        raise KeyError(key)

    def volume(self, key: str) -> Volume:
        for volume in self.volumes:
            if volume.key == key:
                return volume
        raise KeyError(key)

    @property
    def service_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.services)
