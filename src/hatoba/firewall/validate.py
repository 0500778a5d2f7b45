"""Reject states the tables cannot express before anything reaches the kernel."""

from __future__ import annotations

from hatoba.errors import Conflict, InvalidArgument
from hatoba.firewall.model import FirewallState, FwPort
from hatoba.model.ports import PROTOCOLS


def internal_publish_error(network_name: str) -> InvalidArgument:
    """Docker accepts `-p` on an internal network and silently publishes nothing; we refuse."""
    return InvalidArgument(
        f"cannot publish ports on internal network {network_name}: "
        "it has no connectivity outside the network"
    )


def already_allocated(host_ip: str, host_port: int | str) -> Conflict:
    return Conflict(f"Bind for {host_ip}:{host_port} failed: port is already allocated")


def validate(state: FirewallState) -> None:
    networks = {n.network_id: n for n in state.networks}
    if len(networks) != len(state.networks):
        raise InvalidArgument("firewall state lists a network twice")
    if len({n.bridge for n in state.networks}) != len(state.networks):
        raise InvalidArgument("firewall state gives two networks the same bridge")
    for ep in state.endpoints:
        if ep.network_id not in networks:
            raise InvalidArgument(
                f"endpoint of {ep.container_name} on unknown network {ep.network_id}"
            )
    taken: dict[tuple[str, int], list[FwPort]] = {}
    for port in state.ports:
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
        same = taken.setdefault((port.protocol, port.host_port), [])
        if any(_overlap(port, other) for other in same):
            raise already_allocated(_any(port), port.host_port)
        same.append(port)


def _any(port: FwPort) -> str:
    return "0.0.0.0" if port.host_ip is None else str(port.host_ip)


def _overlap(a: FwPort, b: FwPort) -> bool:
    if (
        a.host_ip is None
        or b.host_ip is None
        or a.host_ip.is_unspecified
        or b.host_ip.is_unspecified
    ):
        return True
    return a.host_ip == b.host_ip
