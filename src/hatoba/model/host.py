"""What the engine asks of the host's network stack, and what it reads from it."""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv6Interface
from typing import Protocol

from hatoba.model.network import IPAddress, IPNetwork

OWNER_PREFIX = "hatoba:"
IPInterface = IPv4Interface | IPv6Interface


@dataclass(frozen=True)
class HostFacts:
    uplink_mtu: int
    # every route and address prefix on the host (IPv6's when asked for), to choose pools
    # that overlap none
    taken: tuple[IPNetwork, ...]


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
    # IPv4 first; an IPv6 address turns IPv6 on for this interface (off on every other)
    addresses: tuple[IPInterface, ...]
    # the container's default routes through this interface, one per family at most
    default_gateways: tuple[IPAddress, ...]
    owner: str
    # the namespace `bridge` and the host end are in: a segment's name ("" the host's)
    segment: str = ""

    @property
    def ipv6(self) -> bool:
        return any(a.version == 6 for a in self.addresses)


@dataclass(frozen=True)
class MacvlanRequest:
    """A macvlan on a host interface, made inside the container's namespace: the container
    has an address and MAC of its own on the parent's segment, and no interface on the host."""

    parent: str
    # linux's macvlan modes: bridge, private, vepa, passthru
    mode: str
    ifname: str
    mac: str
    # as on a veth: IPv4 first, an IPv6 address turns IPv6 on for this interface
    addresses: tuple[IPInterface, ...]
    default_gateways: tuple[IPAddress, ...]
    owner: str

    @property
    def ipv6(self) -> bool:
        return any(a.version == 6 for a in self.addresses)


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
