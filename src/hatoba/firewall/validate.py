"""Reject states the tables cannot express before anything reaches the kernel."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from hatoba.errors import Conflict, InvalidArgument
from hatoba.firewall.model import FirewallState, FwEndpoint, FwNetwork, FwPort
from hatoba.model.ports import PROTOCOLS, host_ips_overlap


def internal_publish_error(network_name: str) -> InvalidArgument:
    """Docker accepts `-p` on an internal network and silently publishes nothing; we refuse."""
    return InvalidArgument(
        f"cannot publish ports on internal network {network_name}: "
        "it has no connectivity outside the network"
    )


def already_allocated(host_ip: str, host_port: int | str) -> Conflict:
    return Conflict(f"Bind for {host_ip}:{host_port} failed: port is already allocated")


def validate(state: FirewallState) -> None:
    networks = _networks(state.networks)
    _endpoints(state.endpoints, networks, state.endpoints)
    _ports(state.ports, networks, state.ports)


def validate_change(
    new: FirewallState,
    came_networks: Sequence[FwNetwork],
    gone_networks: Sequence[FwNetwork],
    came_endpoints: Sequence[FwEndpoint],
    came_ports: Sequence[FwPort],
    *,
    shared_veth: Callable[[FwEndpoint], bool] | None = None,
    shared_number: Callable[[FwPort], bool] | None = None,
) -> None:
    """`validate(new)` for a state whose other items were valid already: check what came,
    and what depended on networks that went or changed. `shared_veth` and `shared_number`
    say whether another item of `new` has the same host interface or host port (counts the
    caller keeps); without them, every item of `new` is looked at."""
    networks = _networks(new.networks)
    endpoints, ports = list(came_endpoints), list(came_ports)
    if came_networks or gone_networks:
        touched = {n.network_id for n in (*came_networks, *gone_networks)}
        endpoints += [e for e in new.endpoints if e.network_id in touched]
        ports += [p for p in new.ports if p.network_id in touched]
    if endpoints:
        _endpoints(endpoints, networks, new.endpoints, shared_veth)
    if ports:
        _ports(ports, networks, new.ports, shared_number)


def _networks(networks: Sequence[FwNetwork]) -> dict[str, FwNetwork]:
    by_id = {n.network_id: n for n in networks}
    if len(by_id) != len(networks):
        raise InvalidArgument("firewall state lists a network twice")
    if len({n.bridge for n in networks}) != len(networks):
        raise InvalidArgument("firewall state gives two networks the same bridge")
    return by_id


def _endpoints(
    check: Iterable[FwEndpoint],
    networks: dict[str, FwNetwork],
    everyone: Sequence[FwEndpoint],
    shared: Callable[[FwEndpoint], bool] | None = None,
) -> None:
    check = list(check)
    for ep in check:
        if ep.network_id not in networks:
            raise InvalidArgument(
                f"endpoint of {ep.container_name} on unknown network {ep.network_id}"
            )
    if shared is not None:
        twice = any(shared(e) for e in check)
    else:
        veths = {e.host_ifname for e in check}
        twice = sum(1 for e in everyone if e.host_ifname in veths) != len(veths)
    if twice:
        raise InvalidArgument("firewall state gives two endpoints the same host interface")


def _ports(
    check: Iterable[FwPort],
    networks: dict[str, FwNetwork],
    everyone: Sequence[FwPort],
    shared: Callable[[FwPort], bool] | None = None,
) -> None:
    check = list(check)
    for port in check:
        net = networks.get(port.network_id)
        if net is None:
            raise InvalidArgument(
                f"port of {port.container_name} on unknown network {port.network_id}"
            )
        if net.internal:
            raise internal_publish_error(net.name)
        if port.protocol not in PROTOCOLS:
            raise InvalidArgument(f"invalid proto: {port.protocol}")
        if not (0 < port.host_port < 65536 and 0 < port.container_port < 65536):
            raise InvalidArgument(f"invalid port mapping {port.host_port}:{port.container_port}")
    # a host port conflicts only with ports on the same number: look at those alone
    if shared is not None:
        check = [p for p in check if shared(p)]
        if not check:
            return
    numbers = {p.host_port for p in check}
    same_number: dict[tuple[str, int], list[FwPort]] = {}
    for other in everyone:
        if other.host_port in numbers:
            same_number.setdefault((other.protocol, other.host_port), []).append(other)
    for port in check:
        rivals = same_number.get((port.protocol, port.host_port), [])
        # itself, and another
        if sum(1 for other in rivals if host_ips_overlap(port.host_ip, other.host_ip)) > 1:
            raise already_allocated(_any(port), port.host_port)


def _any(port: FwPort) -> str:
    return "0.0.0.0" if port.host_ip is None else str(port.host_ip)
