"""What the engine asks of the host's network stack, and what it reads from it."""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import Protocol

OWNER_PREFIX = "hatoba:"


@dataclass(frozen=True)
class HostFacts:
    uplink_mtu: int
    # every IPv4 route and address prefix on the host, to choose pools that overlap none
    taken: tuple[IPv4Network, ...]


@dataclass(frozen=True)
class HostLink:
    """A link of the host's namespace as a driver may look at it (a macvlan's parent)."""

    name: str
    kind: str
    mtu: int


class HostView(Protocol):
    """What a driver may look up on the host while it plans a network; it changes nothing."""

    def host_link(self, name: str) -> HostLink | None: ...
    # the kernel can make links of this kind (its module is built in or loads)
    def supports_link_kind(self, kind: str) -> bool: ...


class NoHostView:
    """A host with no links and no link drivers (plans that look at nothing)."""

    def host_link(self, name: str) -> HostLink | None:
        return None

    def supports_link_kind(self, kind: str) -> bool:
        return False


@dataclass(frozen=True)
class AttachRequest:
    """A veth pair: the container's end made in its namespace, the host's end on a bridge."""

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
class MacvlanRequest:
    """A macvlan on a host interface, made inside the container's namespace: the container
    has an address and MAC of its own on the parent's segment, and no interface on the host."""

    parent: str
    # linux's macvlan modes: bridge, private, vepa, passthru
    mode: str
    ifname: str
    mac: str
    address: IPv4Interface
    default_gateway: IPv4Address | None
    owner: str


# what the kernel makes for an endpoint
InterfaceRequest = AttachRequest | MacvlanRequest


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
