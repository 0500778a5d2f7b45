"""Networks: what `network create` asked for and what hatoba made of it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network
from types import MappingProxyType

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
EMPTY_ADDRESSES: Mapping[str, IPv4Address] = MappingProxyType({})


@dataclass(frozen=True)
class IpamPool:
    """One subnet of a network and how its addresses are handed out."""

    subnet: IPv4Network
    gateway: IPv4Address
    ip_range: IPv4Network | None = None
    user_subnet: bool = False
    user_gateway: bool = False
    # `--aux-address NAME=IP`: addresses something else on the segment uses, never handed out
    aux_addresses: Mapping[str, IPv4Address] = field(default_factory=lambda: EMPTY_ADDRESSES)

    @property
    def allocation_range(self) -> IPv4Network:
        return self.ip_range or self.subnet


@dataclass(frozen=True)
class NetworkSpec:
    """A `network create` request, validated but not yet placed."""

    name: str
    driver: str = BRIDGE
    subnet: IPv4Network | None = None
    gateway: IPv4Address | None = None
    ip_range: IPv4Network | None = None
    aux_addresses: Mapping[str, IPv4Address] = field(default_factory=lambda: EMPTY_ADDRESSES)
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

    @property
    def user_defined(self) -> bool:
        """Docker's notion: every network but the three predefined ones (DNS, aliases, --ip)."""
        return not self.predefined

    @property
    def pool(self) -> IpamPool | None:
        return self.ipam[0] if self.ipam else None

    @property
    def icc(self) -> bool:
        return self.options.get(OPT_ICC, "true").lower() != "false"
