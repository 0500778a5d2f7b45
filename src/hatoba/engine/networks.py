"""Network use cases: create, remove, prune, connect, disconnect."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from types import MappingProxyType

from hatoba.drivers import bridge as bridge_driver
from hatoba.engine import endpoints, firewall, resolver
from hatoba.engine.core import Core
from hatoba.engine.undo import UndoStack
from hatoba.errors import Conflict, Forbidden, InvalidArgument, NotFound
from hatoba.ipam.pools import check_user_subnet, choose_subnet, make_pool
from hatoba.model.container import SHARED_NETWORK, Container, EndpointConfig, joined_container
from hatoba.model.ids import new_id, now_rfc3339, parse_link, validate_network_name
from hatoba.model.network import (
    BRIDGE,
    DEFAULT_BRIDGE_IFNAME,
    HOST,
    NULL,
    OPT_BRIDGE_NAME,
    OPT_DEFAULT_BRIDGE,
    OPT_HOST_BINDING,
    OPT_ICC,
    OPT_MASQUERADE,
    OPT_MTU,
    Network,
    NetworkSpec,
)

SUPPORTED_DRIVERS = (BRIDGE,)


def _taken_subnets(core: Core, host: Sequence[IPv4Network]) -> list[IPv4Network]:
    ours = {p.subnet for n in core.state.networks.values() for p in n.ipam}
    return [*ours, *host]


def create_network(core: Core, spec: NetworkSpec, *, predefined: bool = False) -> Network:
    validate_network_name(spec.name)
    if spec.driver in (HOST, NULL) and not predefined:
        raise Forbidden(f'only one instance of "{spec.driver}" network is allowed')
    if spec.driver not in (*SUPPORTED_DRIVERS, HOST, NULL):
        raise NotFound(f'plugin "{spec.driver}" not found')
    if core.state.network_by_name(spec.name) is not None:
        raise Conflict(f"network with name {spec.name} already exists")
    network_id = new_id()
    if spec.driver != BRIDGE:
        network = Network(network_id, spec.name, spec.driver, now_rfc3339(), predefined=True)
        core.commit(networks=[network])
        return network
    if spec.subnet is None and (spec.gateway is not None or spec.ip_range is not None):
        raise InvalidArgument("every ip-range or gateway must have a corresponding subnet")
    bridge_driver.validate_options(spec.options)
    facts = core.kernel.host_facts()
    mtu = bridge_driver.mtu_option(spec.options, facts.uplink_mtu)
    if predefined:
        bridge = DEFAULT_BRIDGE_IFNAME
    else:
        bridge = bridge_driver.bridge_name(network_id, spec.options)
    taken = _taken_subnets(core, facts.taken)
    if spec.subnet is not None:
        check_user_subnet(spec.subnet, taken)
        subnet = spec.subnet
    else:
        subnet = choose_subnet(taken)
    pool = make_pool(
        subnet, gateway=spec.gateway, ip_range=spec.ip_range, user_subnet=spec.subnet is not None
    )
    if any(n.bridge == bridge for n in core.state.networks.values()) or core.kernel.link_exists(
        bridge
    ):
        raise Conflict(f"bridge interface {bridge} already exists")
    options: Mapping[str, str] = spec.options
    if predefined:
        options = MappingProxyType(
            {
                OPT_DEFAULT_BRIDGE: "true",
                OPT_ICC: "true",
                OPT_MASQUERADE: "true",
                OPT_HOST_BINDING: "0.0.0.0",
                OPT_BRIDGE_NAME: bridge,
                OPT_MTU: str(mtu),
            }
        )
    network = Network(
        id=network_id,
        name=spec.name,
        driver=BRIDGE,
        created=now_rfc3339(),
        ipam=(pool,),
        bridge=bridge,
        bridge_mac=bridge_driver.random_mac(),
        mtu=mtu,
        internal=spec.internal,
        labels=spec.labels,
        options=options,
        predefined=predefined,
    )
    with UndoStack() as undo:
        make_bridge(core, network)
        undo.push("bridge", lambda: core.kernel.delete_link(bridge))
        firewall.bridge_ready(core, network)
        firewall.follow(core, undo, networks={**core.state.networks, network.id: network})
        core.commit(networks=[network])
        undo.commit()
    return network


def make_bridge(core: Core, network: Network) -> None:
    assert network.bridge is not None and network.bridge_mac
    core.kernel.create_bridge(
        network.bridge, network.bridge_mac, network.mtu, _gateway(network), network.id
    )


def repair_bridge(core: Core, network: Network) -> None:
    """The network's existing bridge up and with its gateway address again."""
    assert network.bridge is not None
    core.kernel.repair_bridge(network.bridge, _gateway(network))


def _gateway(network: Network) -> IPv4Interface:
    assert network.pool is not None
    return IPv4Interface(f"{network.pool.gateway}/{network.pool.subnet.prefixlen}")


def remove_network(core: Core, ref: str) -> Network:
    network = core.state.network(ref)
    if network.predefined:
        raise Forbidden(f"{network.name} is a pre-defined network and cannot be removed")
    if core.state.attached(network.id):
        raise Forbidden(
            "error while removing network: network "
            f"{network.name} id {network.id} has active endpoints"
        )
    # stopped members lose the network, as in Docker (their start would fail otherwise)
    members = [
        dataclasses.replace(c, networks=tuple(n for n in c.networks if n.network_id != network.id))
        for c in core.state.members(network.id)
    ]
    with UndoStack() as undo:
        others = {nid: n for nid, n in core.state.networks.items() if nid != network.id}
        firewall.follow(core, undo, members, networks=others)
        core.commit(removed_networks=[network.id], containers=members)
        undo.commit()
    if network.bridge:
        core.kernel.delete_link(network.bridge)
    return network


def prune_networks(core: Core, matches: Callable[[Network], bool]) -> list[str]:
    removed = []
    for network in list(core.state.networks.values()):
        if network.predefined or not matches(network):
            continue
        if core.state.members(network.id):
            continue
        remove_network(core, network.id)
        removed.append(network.name)
    return sorted(removed)


def endpoint_config(
    network: Network,
    aliases: Sequence[str],
    ipv4: IPv4Address | None,
    *,
    joined_later: bool,
    links: Sequence[str] = (),
) -> EndpointConfig:
    if aliases and not network.user_defined:
        raise InvalidArgument("network-scoped aliases are only supported for user-defined networks")
    for link in links:
        parse_link(link)
    if links and not network.user_defined:
        # links there are legacy links (environment variables, /etc/hosts entries)
        raise InvalidArgument(f"hatoba does not support links on network {network.name} yet")
    if ipv4 is not None and not network.user_defined:
        raise InvalidArgument(
            "user specified IP address is supported on user defined networks only"
        )
    if ipv4 is not None and (network.pool is None or not network.pool.user_subnet):
        raise InvalidArgument(
            "user specified IP address is supported only when connecting to networks "
            "with user configured subnets"
        )
    return EndpointConfig(
        network.id, tuple(aliases), ipv4, joined_later=joined_later, links=tuple(links)
    )


def connect(
    core: Core,
    network_ref: str,
    container_ref: str,
    aliases: Sequence[str] = (),
    ipv4: IPv4Address | None = None,
    links: Sequence[str] = (),
) -> Container:
    network = core.state.network(network_ref)
    container = core.state.container(container_ref)
    if joined_container(container.config.network_mode) is not None:
        # Docker refuses it for a running container only, and a stopped one never uses it
        raise Forbidden(SHARED_NETWORK)
    current = [core.state.networks.get(n.network_id) for n in container.networks]
    if network.driver == HOST or any(n is not None and n.driver == HOST for n in current):
        raise Forbidden(
            "container cannot be disconnected from host network or connected to host network"
        )
    if container.config_on(network.id) is not None:
        raise Forbidden(
            f"endpoint with name {container.name} already exists in network {network.name}"
        )
    if (network.driver == NULL and container.networks) or any(
        n is not None and n.driver == NULL for n in current
    ):
        raise Forbidden(
            "container cannot be connected to multiple networks with one of the networks "
            "in private (none) mode"
        )
    cfg = endpoint_config(network, aliases, ipv4, joined_later=True, links=links)
    if cfg.ipv4 is not None:
        # checked now so that a stopped container is refused too, and nothing changes
        endpoints.check_static(core, network, cfg.ipv4, container.id)
    updated = dataclasses.replace(container, networks=(*container.networks, cfg))
    if not container.state.running:
        core.commit(containers=[updated])
        return updated
    with UndoStack() as undo:
        slot = container.next_ifindex
        has_route = any(e.default_route for e in container.endpoints)
        endpoint = endpoints.attach(
            core, undo, container, network, cfg, container.netns, slot, default_route=not has_route
        )
        if endpoint.ifname:
            undo.push("detach", lambda: endpoints.detach(core, updated, endpoint))
        updated = dataclasses.replace(
            updated,
            endpoints=(*container.endpoints, endpoint),
            next_ifindex=slot + (1 if endpoint.ifname else 0),
        )
        firewall.follow(core, undo, [updated])
        before = [n for n in current if n is not None]
        resolver.follow(core, undo, updated, [*before, network], before)
        core.commit(containers=[updated])
        undo.commit()
    return updated


def disconnect(core: Core, network_ref: str, container_ref: str, force: bool = False) -> Container:
    network = core.state.network(network_ref)
    container = core.state.container(container_ref)
    if network.driver == HOST:
        raise Forbidden(
            "container cannot be disconnected from host network or connected to host network"
        )
    if container.config_on(network.id) is None:
        raise Forbidden(f"container {container.id} is not connected to network {network.name}")
    endpoint = container.endpoint_on(network.id)
    updated = dataclasses.replace(
        container,
        networks=tuple(n for n in container.networks if n.network_id != network.id),
        endpoints=tuple(e for e in container.endpoints if e.network_id != network.id),
    )
    gone = firewall.ports_of(core, container)
    joined = [core.state.networks.get(n.network_id) for n in container.networks]
    before = [n for n in joined if n is not None]
    with UndoStack() as undo:
        firewall.follow(core, undo, [updated])
        if endpoint is not None:
            endpoints.detach(core, container, endpoint)
        resolver.follow(core, undo, updated, [n for n in before if n.id != network.id], before)
        core.commit(containers=[updated])
        undo.commit()
    firewall.forget_flows(core, [p for p in gone if p not in firewall.ports_of(core, updated)])
    return updated
