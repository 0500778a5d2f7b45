"""What the engine asks of the host's network stack, and what it reads from it."""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv4Network

OWNER_PREFIX = "hatoba:"


@dataclass(frozen=True)
class HostFacts:
    uplink_mtu: int
    # every IPv4 route and address prefix on the host, to choose pools that overlap none
    taken: tuple[IPv4Network, ...]


@dataclass(frozen=True)
class AttachRequest:
    bridge: str
    host_ifname: str
    ifname: str
    ifindex: int
    mac: str
    mtu: int
    address: IPv4Interface
    default_gateway: IPv4Address | None
    owner: str


@dataclass(frozen=True)
class OwnedLink:
    """A link whose alias says hatoba made it, and for which network or container."""

    name: str
    kind: str
    owner: str
    # the bridge a veth is a port of ("" when it is not enslaved)
    master: str = ""


@dataclass(frozen=True)
class TunnelPeer:
    """A remote endpoint as a VXLAN device must know it: its MAC is behind the tunnel
    endpoint `vtep` (forwarding database), its address has that MAC (neighbour table)."""

    mac: str
    address: IPv4Address
    vtep: IPv4Address
