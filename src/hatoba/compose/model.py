"""The compose project as frozen values: what normalize.py makes of the files.

Everything is resolved: environment files read, variables substituted, short syntaxes expanded,
durations in nanoseconds, network keys mapped to engine names. Mappings are tuples of pairs
in a fixed order, so that values compare, hash and pickle the same everywhere.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

# depends_on conditions
STARTED = "service_started"
HEALTHY = "service_healthy"
COMPLETED = "service_completed_successfully"

Pairs = tuple[tuple[str, str], ...]


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

    @property
    def config_hash(self) -> str:
        """docker compose's `com.docker.compose.config-hash`: the service as configured, less
        what does not change a container (replicas, build, dependencies, profiles)."""
        data = asdict(self)
        for key in ("replicas", "build", "depends_on", "profiles"):
            data.pop(key)
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

    @property
    def config_hash(self) -> str:
        text = json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Project:
    name: str
    working_dir: str
    config_files: tuple[str, ...]
    # enabled services, in dependency order (a service after everything it depends on)
    services: tuple[Service, ...]
    # the networks the enabled services use
    networks: tuple[Network, ...]
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

    @property
    def service_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.services)
