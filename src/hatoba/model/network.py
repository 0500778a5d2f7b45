"""Networks: what `network create` asked for and what hatoba made of it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from types import MappingProxyType

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network

BRIDGE, HOST, NULL, OVERLAY = "bridge", "host", "null", "overlay"
DEFAULT_BRIDGE_IFNAME = "hatoba0"

OPT_BRIDGE_NAME = "com.docker.network.bridge.name"
OPT_MTU = "com.docker.network.driver.mtu"
OPT_ICC = "com.docker.network.bridge.enable_icc"
OPT_MASQUERADE = "com.docker.network.bridge.enable_ip_masquerade"
OPT_HOST_BINDING = "com.docker.network.bridge.host_binding_ipv4"
OPT_DEFAULT_BRIDGE = "com.docker.network.bridge.default_bridge"
# the VXLAN id of an overlay network, under Docker's name for it
OPT_VNI = "com.docker.network.driver.overlay.vxlanid_list"
OPT_IFACE_PREFIX = "com.docker.network.container_iface_prefix"

EMPTY: Mapping[str, str] = MappingProxyType({})
EMPTY_ADDRESSES: Mapping[str, IPAddress] = MappingProxyType({})


@dataclass(frozen=True)
class IpamPool:
    """One subnet of a network and how its addresses are handed out."""

    subnet: IPNetwork
    gateway: IPAddress
    ip_range: IPNetwork | None = None
    user_subnet: bool = False
    user_gateway: bool = False
    # `--aux-address NAME=IP`: addresses something else on the segment uses, never handed out
    aux_addresses: Mapping[str, IPAddress] = field(default_factory=lambda: EMPTY_ADDRESSES)

    @property
    def allocation_range(self) -> IPNetwork:
        return self.ip_range or self.subnet

    @property
    def version(self) -> int:
        return self.subnet.version


@dataclass(frozen=True)
class IpamRequest:
    """One `IPAM.Config` entry as asked (`--subnet` with its `--gateway`, `--ip-range` and
    `--aux-address`es)."""

    subnet: IPNetwork | None = None
    gateway: IPAddress | None = None
    ip_range: IPNetwork | None = None
    aux_addresses: Mapping[str, IPAddress] = field(default_factory=lambda: EMPTY_ADDRESSES)

    @property
    def version(self) -> int | None:
        """The address family the entry names (None: it names none)."""
        named = self.subnet or self.gateway or self.ip_range
        return named.version if named is not None else None


@dataclass(frozen=True)
class NetworkSpec:
    """A `network create` request, validated but not yet placed."""

    name: str
    driver: str = BRIDGE
    # the subnets asked for, in the order given; a family with none gets one from its pool
    ipam: tuple[IpamRequest, ...] = ()
    # `--ipv6` (also implied by an IPv6 subnet, as Docker >= 25 does)
    enable_ipv6: bool = False
    # `--ipv4=false` (Docker >= 28): an IPv6-only network
    enable_ipv4: bool = True
    internal: bool = False
    attachable: bool = False
    labels: Mapping[str, str] = field(default_factory=lambda: EMPTY)
    options: Mapping[str, str] = field(default_factory=lambda: EMPTY)


@dataclass(frozen=True)
class Network:
    id: str
    name: str
    driver: str
    created: str
    ipam: tuple[IpamPool, ...] = ()
    bridge: str | None = None
    bridge_mac: str | None = None
    mtu: int = 1500
    internal: bool = False
    labels: Mapping[str, str] = field(default_factory=lambda: EMPTY)
    options: Mapping[str, str] = field(default_factory=lambda: EMPTY)
    predefined: bool = False
    # `--attachable`: recorded and shown; every local network takes `network connect` anyway
    attachable: bool = False
    enable_ipv6: bool = False
    enable_ipv4: bool = True

    @property
    def user_defined(self) -> bool:
        """Docker's notion: every network but the three predefined ones (DNS, aliases, --ip)."""
        return not self.predefined

    def pools(self, version: int) -> tuple[IpamPool, ...]:
        """The network's subnets of one address family, in the order they were made."""
        return tuple(p for p in self.ipam if p.version == version)

    @property
    def pool(self) -> IpamPool | None:
        """The first IPv4 subnet (None on an IPv6-only network)."""
        return next(iter(self.pools(4)), None)

    @property
    def icc(self) -> bool:
        return self.options.get(OPT_ICC, "true").lower() != "false"
