"""What the firewall needs to know: networks, endpoints and published ports, nothing else.

The engine builds a `FirewallState` from its own records; the firewall renders it. Keeping the
values this small means two states compare cheaply and a delta is a plain set difference.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network
from typing import Any


@dataclass(frozen=True)
class FwNetwork:
    network_id: str
    name: str
    bridge: str
    subnet: IPv4Network
    gateway: IPv4Address
    internal: bool = False
    icc: bool = True
    masquerade: bool = True


@dataclass(frozen=True)
class FwEndpoint:
    """A container's attachment: its host-side veth and the addresses it may send from."""

    container_id: str
    container_name: str
    network_id: str
    host_ifname: str
    ipv4: IPv4Address
    mac: str


@dataclass(frozen=True)
class FwPort:
    """One published port: host `host_ip:host_port` (any local address when None) → container."""

    container_id: str
    container_name: str
    network_id: str
    container_ip: IPv4Address
    container_port: int
    protocol: str
    host_ip: IPv4Address | None
    host_port: int


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
