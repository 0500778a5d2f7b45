"""Containers: their configuration, their network attachments and their run state."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from ipaddress import IPv4Address, IPv6Address
from types import MappingProxyType

from hatoba.model.health import Health, HealthConfig
from hatoba.model.links import LegacyLink
from hatoba.model.mounts import MountPoint, MountSpec
from hatoba.model.network import EMPTY
from hatoba.model.ports import PortMapping
from hatoba.model.resources import Resources
from hatoba.model.restart import RestartPolicy
from hatoba.model.security import Security

CREATED, RUNNING, EXITED, REMOVING = "created", "running", "exited", "removing"
# exited, and waiting for its restart policy's backoff to start it again
RESTARTING = "restarting"
# running, its processes frozen (`pause`): what Docker shows as State.Status
PAUSED = "paused"
HOSTFS_IMAGE = "hostfs"
# `--net container:NAME`: the container joins the network namespace of another
CONTAINER_MODE_PREFIX = "container:"
# Docker's refusal of any network for such a container (runconfig/errors.go)
SHARED_NETWORK = (
    "container sharing network namespace with another container or host cannot be connected "
    "to any other network"
)


def is_hostfs(reference: str) -> bool:
    """The built-in image, however a client spells it (the docker CLI adds `:latest`)."""
    return reference in (HOSTFS_IMAGE, f"{HOSTFS_IMAGE}:latest")


def joined_container(network_mode: str) -> str | None:
    """The container named by `container:<name|id>` (None for any other mode)."""
    if not network_mode.startswith(CONTAINER_MODE_PREFIX):
        return None
    return network_mode.removeprefix(CONTAINER_MODE_PREFIX)


@dataclass(frozen=True)
class EndpointConfig:
    """What the user asked for on one network (kept across stop/start, like Docker)."""

    network_id: str
    aliases: tuple[str, ...] = ()
    ipv4: IPv4Address | None = None
    # Docker shows `null` for networks given at create and `{}` for ones joined later.
    joined_later: bool = False
    # `NAME[:ALIAS]` as asked: ALIAS resolves to container NAME for this container only
    links: tuple[str, ...] = ()
    # EndpointSettings.MacAddress: the interface's MAC on this network ("": the driver's own)
    mac: str = ""
    # `--ip6`
    ipv6: IPv6Address | None = None

    @property
    def requested_addresses(self) -> tuple[IPv4Address | IPv6Address, ...]:
        """The addresses the user chose (`--ip`, `--ip6`)."""
        return tuple(a for a in (self.ipv4, self.ipv6) if a is not None)

    # EndpointSettings.DriverOpts: kept and shown, as Docker's drivers (bridge, macvlan,
    # overlay) keep them without a use
    driver_opts: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    # IPAMConfig.LinkLocalIPs (`--link-local-ip`): more addresses of the interface, each in
    # 169.254.0.0/16 or fe80::/10
    link_local_ips: tuple[IPv4Address | IPv6Address, ...] = ()


@dataclass(frozen=True)
class Endpoint:
    """A live attachment: exists only while the container runs."""

    network_id: str
    endpoint_id: str
    ifname: str
    host_ifname: str | None
    ipv4: IPv4Address | None
    prefixlen: int
    mac: str
    gateway: IPv4Address | None
    default_route: bool = False
    # on networks with IPv6: the address from the pool, its prefix length and the gateway
    # (the interface also has the kernel's link-local address, made from `mac`)
    ipv6: IPv6Address | None = None
    prefixlen6: int = 0
    gateway6: IPv6Address | None = None
    # the link-local addresses asked for (EndpointConfig.link_local_ips), on the interface
    link_local_ips: tuple[IPv4Address | IPv6Address, ...] = ()

    @property
    def addresses(self) -> tuple[IPv4Address | IPv6Address, ...]:
        """The endpoint's pool addresses, IPv4 first."""
        return tuple(a for a in (self.ipv4, self.ipv6) if a is not None)

    @property
    def has_ipv6(self) -> bool:
        """IPv6 is on for the interface: it has a pool address or a link-local one asked
        for of that family."""
        return self.ipv6 is not None or any(a.version == 6 for a in self.link_local_ips)

    @property
    def link_local(self) -> IPv6Address | None:
        """The link-local address the kernel makes on an interface with IPv6 on."""
        return link_local_for(self.mac) if self.has_ipv6 and self.mac else None


def link_local_for(mac: str) -> IPv6Address:
    """The link-local address the kernel gives an interface with this MAC (EUI-64, RFC 4291):
    fe80::/64, the MAC with its universal/local bit flipped and ff:fe in the middle."""
    octets = bytes(int(o, 16) for o in mac.split(":"))
    eui = bytes([octets[0] ^ 0x02]) + octets[1:3] + b"\xff\xfe" + octets[3:6]
    return IPv6Address(b"\xfe\x80" + bytes(6) + eui)


@dataclass(frozen=True)
class ContainerConfig:
    image: str
    image_id: str = ""
    cmd: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    workdir: str = ""
    hostname: str = ""
    domainname: str = ""
    tty: bool = False
    open_stdin: bool = False
    stdin_once: bool = False
    network_mode: str = "default"
    dns: tuple[str, ...] = ()
    dns_search: tuple[str, ...] = ()
    dns_options: tuple[str, ...] = ()
    extra_hosts: tuple[str, ...] = ()
    auto_remove: bool = False
    labels: Mapping[str, str] = field(default_factory=lambda: EMPTY)
    ports: tuple[PortMapping, ...] = ()
    publish_all: bool = False
    exposed_ports: tuple[str, ...] = ()
    stop_signal: str = "SIGTERM"
    stop_timeout: int | None = None
    # `-u`: name|uid[:group|gid], resolved against the container's /etc/passwd at each start
    user: str = ""
    group_add: tuple[str, ...] = ()
    # `--init`: a small init (tini) runs as PID 1; None when the client did not say
    init: bool | None = None
    # the request's check over the image's HEALTHCHECK (None: neither has one)
    healthcheck: HealthConfig | None = None
    restart_policy: RestartPolicy = field(default_factory=RestartPolicy)
    # the MAC address of the interface on the network of network_mode (Config.MacAddress)
    mac_address: str = ""
    # storage as asked (HostConfig.Binds, Mounts, Tmpfs, VolumesFrom, VolumeDriver;
    # Config.Volumes with the image's VOLUME): `Container.mounts` is what became of it
    binds: tuple[str, ...] = ()
    mount_specs: tuple[MountSpec, ...] = ()
    tmpfs: Mapping[str, str] = field(default_factory=lambda: EMPTY)
    volumes_from: tuple[str, ...] = ()
    volume_driver: str = ""
    volumes: tuple[str, ...] = ()
    # legacy links on the default bridge (HostConfig.Links), by the linked container's id
    links: tuple[LegacyLink, ...] = ()
    # capabilities, security options, sysctls, devices (model/security.py)
    security: Security = field(default_factory=Security)
    # cgroup limits, ulimits, /dev/shm (model/resources.py)
    resources: Resources = field(default_factory=Resources)
    # Config.NetworkDisabled: a namespace of its own with only lo, on no network, with the
    # image's /etc/hosts and /etc/resolv.conf (Docker's allocateNetwork does nothing)
    network_disabled: bool = False

    @property
    def argv(self) -> tuple[str, ...]:
        return self.entrypoint + self.cmd


@dataclass(frozen=True)
class RunState:
    status: str = CREATED
    pid: int = 0
    shim_pid: int = 0
    shim_start: int = 0
    exit_code: int = 0
    error: str = ""
    started_at: str = "0001-01-01T00:00:00Z"
    finished_at: str = "0001-01-01T00:00:00Z"
    restart_count: int = 0
    # Docker's HasBeenManuallyStopped: a stop or kill through the API since the last start
    # by the user; kept for containers with a restart policy, the only readers
    manually_stopped: bool = False
    # None until a start with a health check
    health: Health | None = None
    # frozen by `pause` (cgroup freezer); still running
    paused: bool = False

    @property
    def running(self) -> bool:
        return self.status == RUNNING

    @property
    def restarting(self) -> bool:
        return self.status == RESTARTING

    @property
    def shown_status(self) -> str:
        """Docker's State.Status: a paused container is `paused`."""
        return PAUSED if self.paused else self.status


@dataclass(frozen=True)
class Container:
    id: str
    name: str
    created: str
    config: ContainerConfig
    networks: tuple[EndpointConfig, ...] = ()
    state: RunState = field(default_factory=RunState)
    endpoints: tuple[Endpoint, ...] = ()
    # the namespace handle this container made (and removes when it stops)
    netns: str = ""
    # `--net container:`: the container whose namespace this one runs in, while that one
    # runs ("" once it stopped: the namespace left behind has no interface but `lo`)
    netns_owner: str = ""
    # Interface names are never reused within a sandbox (Docker): eth0, eth1, …
    next_ifindex: int = 0
    # the host ports held while the container runs (chosen at start, given back at exit)
    published: tuple[PortMapping, ...] = ()
    # created by a `hatoba run` whose start has not succeeded yet: a crash in between must
    # not leave it behind (the run reported failure), so reconcile removes it
    run_pending: bool = False
    # binds, volumes and `--mount type=tmpfs`, fixed at create (Docker's MountPoints)
    mounts: tuple[MountPoint, ...] = ()

    @property
    def short_id(self) -> str:
        return self.id[:12]

    @property
    def hostname(self) -> str:
        return self.config.hostname or self.short_id

    def endpoint_on(self, network_id: str) -> Endpoint | None:
        return next((e for e in self.endpoints if e.network_id == network_id), None)

    def config_on(self, network_id: str) -> EndpointConfig | None:
        return next((n for n in self.networks if n.network_id == network_id), None)

    def with_state(self, **changes: object) -> Container:
        return replace(self, state=replace(self.state, **changes))  # type: ignore[arg-type]
