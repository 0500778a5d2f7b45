"""The engine's records → the FirewallState the tables must hold.

Each network's driver says what the network is in the tables (the caller passes that answer
as `firewall_of`: bridge networks become FwNetworks, host and none nothing); a container
contributes its live endpoints on those networks and the host ports it holds, published to its
address on its first non-internal one (Docker's gateway endpoint: internal networks have no way
out, so nothing is published there). A stopped container has no endpoints and holds no
ports, so it contributes nothing.

Each state is derived from the previous one: a container whose endpoints, ports and name are
the same objects as last time gives back the very same values, so the derivation costs little
per container and `plan.delta` settles unchanged items by identity. When only some containers
changed (`derive_changed`), only they are looked at, and the new state remembers what went and
came against the previous one (`changes_between`), so neither the derivation nor the delta
walks the containers that did not change.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from itertools import chain
from operator import attrgetter

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


@dataclass(frozen=True)
class Change:
    """What went and came from one state to the next."""

    gone_endpoints: tuple[FwEndpoint, ...]
    came_endpoints: tuple[FwEndpoint, ...]
    gone_ports: tuple[FwPort, ...]
    came_ports: tuple[FwPort, ...]

    def reversed(self) -> Change:
        return Change(self.came_endpoints, self.gone_endpoints, self.came_ports, self.gone_ports)


_ENDPOINTS, _PORTS = attrgetter("endpoints"), attrgetter("ports")
_NETWORKS = "fw networks by network"  # network id -> (Network, FwNetwork | None)
_CONTAINERS = "fw items by container"  # container id -> _Made
# (a weak reference to the state this one was made from, the Change from it); weak, so that
# a state does not keep every earlier one alive
_CHANGE = "fw change from the previous state"


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
    for c in containers:
        if c.endpoints:
            made[c.id] = _made(c, old_made.get(c.id), by_id)
    return _state(tuple(by_id.values()), nets, made)


def derive_changed(
    networks: Mapping[str, Network],
    changed: Mapping[str, Container | None],
    previous: FirewallState,
) -> FirewallState | None:
    """`previous` with these containers as they are now (None: gone) and every other as it
    was: costs what the changed ones cost. None when `previous` was not derived from these
    very networks (then `derive` everything)."""
    nets: dict[str, tuple[Network, FwNetwork | None]] | None = previous.derived.get(_NETWORKS)
    old_made: dict[str, _Made] | None = previous.derived.get(_CONTAINERS)
    if nets is None or old_made is None or nets.keys() != networks.keys():
        return None
    if any(hit[0] is not networks[nid] for nid, hit in nets.items()):
        return None
    by_id = {nid: fw for nid, (_, fw) in nets.items() if fw is not None}
    made = dict(old_made)
    gone_eps: list[FwEndpoint] = []
    came_eps: list[FwEndpoint] = []
    gone_ports: list[FwPort] = []
    came_ports: list[FwPort] = []
    for cid, c in changed.items():
        old = made.get(cid)
        item = _made(c, old, by_id) if c is not None and c.endpoints else None
        if item is old:
            continue
        if item is None:
            del made[cid]
        else:
            made[cid] = item
        if old is not None:
            gone_eps += old.endpoints
            gone_ports += old.ports
        if item is not None:
            came_eps += item.endpoints
            came_ports += item.ports
    state = _state(previous.networks, nets, made)
    change = Change(tuple(gone_eps), tuple(came_eps), tuple(gone_ports), tuple(came_ports))
    state.derived[_CHANGE] = (weakref.ref(previous), change)
    return state


def changes_between(old: FirewallState, new: FirewallState) -> Change | None:
    """The endpoints and ports that go and come from `old` to `new` when one was made from
    the other by `derive_changed` (None: compare them)."""
    for made, start, forward in ((new, old, True), (old, new, False)):
        recorded: tuple[weakref.ref[FirewallState], Change] | None = made.derived.get(_CHANGE)
        if recorded is not None and recorded[0]() is start:
            return recorded[1] if forward else recorded[1].reversed()
    return None


def _made(c: Container, old: _Made | None, networks: Mapping[str, FwNetwork]) -> _Made:
    """A container's items: the old ones when it is the same as they were made from."""
    if (
        old is not None
        and old.endpoints_from is c.endpoints
        and old.published_from is c.published
        and old.name == c.name
    ):
        return old
    return _Made(c.endpoints, c.published, c.name, *container_items(c, networks))


def _state(
    networks: tuple[FwNetwork, ...],
    nets: dict[str, tuple[Network, FwNetwork | None]],
    made: dict[str, _Made],
) -> FirewallState:
    items = made.values()
    # without a Python frame per container: this is the only walk over all of them
    state = FirewallState(
        networks,
        tuple(chain.from_iterable(map(_ENDPOINTS, items))),
        tuple(chain.from_iterable(map(_PORTS, items))),
    )
    state.derived[_NETWORKS] = nets
    state.derived[_CONTAINERS] = made
    return state
