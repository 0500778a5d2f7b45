"""The engine's records → the FirewallState the tables must hold.

Each network's driver says what the network is in the tables (the caller passes that answer
as `firewall_of`: bridge networks become FwNetworks, host and none nothing); a container
contributes its live endpoints on those networks and the host ports it holds, published to its
address on its first non-internal one (Docker's gateway endpoint: internal networks have no way
out, so nothing is published there). A stopped container has no endpoints and holds no
ports, so it contributes nothing.

Each state is derived from the previous one: a container whose endpoints, ports and name are
the same objects as last time gives back the very same values, so the derivation costs little
per container and `plan.delta` settles unchanged items by identity.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from hatoba.firewall.model import FirewallState, FwEndpoint, FwNetwork, FwPort
from hatoba.model.container import Container, Endpoint
from hatoba.model.network import Network
from hatoba.model.ports import PortMapping


def _target(endpoints: Iterable[Endpoint], networks: Mapping[str, FwNetwork]) -> Endpoint | None:
    for ep in endpoints:
        net = networks.get(ep.network_id)
        if net is not None and not net.internal and ep.addresses:
            return ep
    return None


def container_items(
    container: Container, networks: Mapping[str, FwNetwork]
) -> tuple[tuple[FwEndpoint, ...], tuple[FwPort, ...]]:
    """What one container puts in the tables; `networks` are the FwNetworks by id."""
    endpoints = tuple(
        FwEndpoint(
            container.id,
            container.name,
            ep.network_id,
            ep.host_ifname,
            ep.ipv4,
            ep.mac,
            ep.ipv6,
            ep.link_local,
            ep.link_local_ips,
        )
        for ep in container.endpoints
        if ep.network_id in networks and ep.host_ifname and ep.addresses
    )
    target = _target(container.endpoints, networks) if container.published else None
    if target is None:
        return endpoints, ()
    return endpoints, tuple(_port(container, target, m) for m in container.published)


def _port(container: Container, target: Endpoint, mapping: PortMapping) -> FwPort:
    return FwPort(
        container_id=container.id,
        container_name=container.name,
        network_id=target.network_id,
        container_ip=target.ipv4,
        container_port=mapping.container_port,
        protocol=mapping.protocol,
        host_ip=mapping.host_ip,
        host_port=mapping.host_port,
        container_ip6=target.ipv6,
    )


@dataclass(frozen=True)
class _Made:
    """One container's items, and the fields of the container they were made from."""

    endpoints_from: tuple[Endpoint, ...]
    published_from: tuple[PortMapping, ...]
    name: str
    endpoints: tuple[FwEndpoint, ...]
    ports: tuple[FwPort, ...]


_NETWORKS = "fw networks by network"  # network id -> (Network, FwNetwork | None)
_CONTAINERS = "fw items by container"  # container id -> _Made


def derive(
    networks: Mapping[str, Network],
    containers: Iterable[Container],
    previous: FirewallState | None = None,
    *,
    firewall_of: Callable[[Network], FwNetwork | None],
) -> FirewallState:
    """The state for these records, reusing what `previous` made from unchanged ones;
    `firewall_of` gives a network's part in the tables (None: it has none).

    Networks are never changed in place (only created and removed), so a container's items
    depend on its own endpoints, ports and name alone.
    """
    old_nets: dict[str, tuple[Network, FwNetwork | None]] = {}
    old_made: dict[str, _Made] = {}
    if previous is not None:
        old_nets = previous.derived.get(_NETWORKS, {})
        old_made = previous.derived.get(_CONTAINERS, {})
    nets: dict[str, tuple[Network, FwNetwork | None]] = {}
    for network in networks.values():
        hit = old_nets.get(network.id)
        nets[network.id] = (
            hit if hit is not None and hit[0] is network else (network, firewall_of(network))
        )
    by_id = {nid: fw for nid, (_, fw) in nets.items() if fw is not None}
    made: dict[str, _Made] = {}
    endpoints: list[FwEndpoint] = []
    ports: list[FwPort] = []
    for c in containers:
        if not c.endpoints:
            continue
        item = old_made.get(c.id)
        if (
            item is None
            or item.endpoints_from is not c.endpoints
            or item.published_from is not c.published
            or item.name != c.name
        ):
            item = _Made(c.endpoints, c.published, c.name, *container_items(c, by_id))
        made[c.id] = item
        endpoints += item.endpoints
        ports += item.ports
    state = FirewallState(tuple(by_id.values()), tuple(endpoints), tuple(ports))
    state.derived[_NETWORKS] = nets
    state.derived[_CONTAINERS] = made
    return state
