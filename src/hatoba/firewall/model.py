"""What the firewall needs to know: networks, endpoints and published ports, nothing else.

The engine builds a `FirewallState` from its own records; the firewall renders it. Keeping the
values this small means two states compare cheaply and a delta is a plain set difference.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address
from typing import Any

from hatoba.model.network import IPAddress, IPNetwork


@dataclass(frozen=True)
class FwNetwork:
    network_id: str
    name: str
    bridge: str
    # IPv4 and IPv6 alike (masqueraded on the way out unless `masquerade` is off)
    subnets: tuple[IPNetwork, ...]
    internal: bool = False
    icc: bool = True
    masquerade: bool = True
    # the namespace of its own the network is bridged in (overlay), by name ("" none): then
    # `bridge` is the host's routed link into it, what the host sends back out of it (hairpin
    # through a published port) is masqueraded, since the answer is bridged in the segment and
    # never passes the host to be un-NATed, and the segment has a bridge table of its own for
    # its ports (the host's never sees their frames)
    segment: str = ""


@dataclass(frozen=True)
class FwEndpoint:
    """A container's attachment: its host-side veth and the addresses it may send from."""

    container_id: str
    container_name: str
    network_id: str
    host_ifname: str
    ipv4: IPv4Address | None
    mac: str
    # on networks with IPv6: its address from the pool and its link-local one
    ipv6: IPv6Address | None = None
    link_local: IPv6Address | None = None
    # the link-local addresses asked for (`--link-local-ip`), of either family
    link_local_ips: tuple[IPv4Address | IPv6Address, ...] = ()


@dataclass(frozen=True)
class FwPort:
    """One published port: host `host_ip:host_port` → the container's port.

    `host_ip` None: every local address of both families (IPv6 only when the container has
    an IPv6 address, `container_ip6`); 0.0.0.0: every IPv4 one, `::` every IPv6 one.
    """

    container_id: str
    container_name: str
    network_id: str
    container_ip: IPv4Address | None
    container_port: int
    protocol: str
    host_ip: IPAddress | None
    host_port: int
    container_ip6: IPv6Address | None = None


@dataclass(frozen=True)
class FirewallState:
    networks: tuple[FwNetwork, ...] = ()
    endpoints: tuple[FwEndpoint, ...] = ()
    ports: tuple[FwPort, ...] = ()
    # Facts the firewall derives from the state and keeps with it, so that the next delta
    # starts from them instead of recomputing (see hatoba.firewall.plan). Not part of the value.
    derived: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def forwarding_needed(self) -> bool:
        """Forwarding is needed once any network may reach beyond its bridge."""
        return any(not n.internal for n in self.networks)

    @property
    def forwarding6_needed(self) -> bool:
        """IPv6 forwarding, once such a network has IPv6."""
        return any(not n.internal and any(s.version == 6 for s in n.subnets) for n in self.networks)
