"""Network use cases: create, remove, prune, connect, disconnect."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from functools import partial
from ipaddress import IPv4Address, IPv6Address
from types import MappingProxyType

from hatoba.drivers import registry as drivers
from hatoba.drivers.base import HostBridge, NetworkDriver, Placement, ipv6_enabled
from hatoba.engine import endpoints, firewall, overlay, resolver
from hatoba.engine.core import Core
from hatoba.engine.state import HeldNetwork
from hatoba.engine.undo import UndoStack
from hatoba.errors import Conflict, Forbidden, HatobaError, InvalidArgument
from hatoba.model.container import SHARED_NETWORK, Container, EndpointConfig, joined_container
from hatoba.model.ids import (
    check_dns_name,
    new_id,
    now_rfc3339,
    parse_link,
    validate_network_name,
)
from hatoba.model.network import IPNetwork, Network, NetworkSpec

log = logging.getLogger("hatoba.engine")

# Docker's texts (runconfig/errors.go) for what a container in the host's namespace, or on an
# exclusive network (none), cannot do
_CONFLICT_HOST_NETWORK = (
    "container cannot be disconnected from host network or connected to host network"
)
# what a container sharing another's (or the host's) network namespace cannot have of its own
CONFLICT_WITH_MODE = "conflicting options: {} and the network mode"
_CONFLICT_NO_NETWORK = (
    "container cannot be connected to multiple networks with one of the networks in private "
    "(none) mode"
)


def placement(
    core: Core,
    network_id: str,
    created: str,
    *,
    predefined: bool,
    own: Collection[IPNetwork] = (),
    ipv6: bool = True,
) -> Placement:
    """What a network being planned may depend on; `own`: the subnets the network has now (it
    is planned again), taken by nothing else; `ipv6`: whether it may have IPv6 subnets (the
    host's IPv6 routes and addresses are looked at only then)."""
    facts = core.kernel.host_facts(ipv6)
    ours = tuple({p.subnet for n in core.state.networks.values() for p in n.ipam} - set(own))
    # a removed network's subnets until the kernel has deleted its bridges
    held = {s for h in core.held_networks.values() for s in h.subnets}
    return Placement(
        network_id=network_id,
        created=created,
        predefined=predefined,
        uplink_mtu=facts.uplink_mtu,
        taken=(*ours, *held, *(prefix for prefix in facts.taken if prefix not in own)),
        network_subnets=ours,
        host=core.kernel,
        pools=core.config.default_address_pools,
    )


def _settle_held(
    core: Core, name: str, subnets: Collection[IPNetwork], bridges: Collection[str] = ()
) -> None:
    """A removed network's name, subnets and bridge names come free once the kernel has
    deleted its bridges: wait for that where a new network asks for one of them (a pool
    subnet is chosen around them instead), and forget the removed networks that are gone."""
    for nid, held in list(core.held_networks.items()):
        if held.conflicts(name, subnets) or set(bridges) & set(held.bridges):
            core.kernel.settle(held.bridges)
        elif core.kernel.being_deleted(held.bridges):
            # the reaper's own account: asking the kernel about every held bridge cost a
            # netlink round trip each, twice per create, while rms outpaced the reaper
            continue
        del core.held_networks[nid]


def create_network(core: Core, spec: NetworkSpec, *, predefined: bool = False) -> Network:
    if not predefined:
        validate_network_name(spec.name)
    driver = drivers.named(spec.driver)
    if driver.single_instance and not predefined:
        raise Forbidden(f'only one instance of "{spec.driver}" network is allowed')
    if core.state.network_by_name(spec.name) is not None:
        raise Conflict(f"network with name {spec.name} already exists")
    _settle_held(core, spec.name, [r.subnet for r in spec.ipam if r.subnet is not None])
    if driver.cluster_scoped:
        # planned against the whole cluster and claimed there first: the store decides
        # between hosts creating the same name at once
        network = overlay.create_network(core, driver, spec, _new_placement(core, spec, predefined))
    else:
        network = _plan(core, driver, spec, predefined)
    with UndoStack() as undo:
        if driver.cluster_scoped:
            undo.push("cluster network", lambda: core.cluster.delete_network(network))
        _make_network(core, undo, network)
        core.commit(networks=[network])
        undo.commit()
    return network


def _plan(core: Core, driver: NetworkDriver, spec: NetworkSpec, predefined: bool) -> Network:
    try:
        return driver.plan_network(spec, _new_placement(core, spec, predefined))
    except Conflict:
        if not core.held_networks:
            raise
        # the pools are full of removed networks' subnets: wait for those to come free
        for held in list(core.held_networks.values()):
            core.kernel.settle(held.bridges)
        core.held_networks.clear()
        return driver.plan_network(spec, _new_placement(core, spec, predefined))


def _new_placement(core: Core, spec: NetworkSpec, predefined: bool) -> Placement:
    """Where a network being created now is planned: a new id, now, the host as it is."""
    return placement(core, new_id(), now_rfc3339(), predefined=predefined, ipv6=ipv6_enabled(spec))


def adopt_network(core: Core, network: Network) -> None:
    """A cluster network another host created: made here too, as if created here."""
    if core.state.network_by_name(network.name) is not None:
        log.warning("network %s of the cluster not made here: the name is taken", network.name)
        return
    with UndoStack() as undo:
        _make_network(core, undo, network)
        core.commit(networks=[network])
        undo.commit()


def _make_network(core: Core, undo: UndoStack, network: Network) -> None:
    bridges = bridges_of(network)
    subnets = [p.subnet for p in network.ipam]
    _settle_held(core, network.name, subnets, [b.name for b in bridges])
    in_use = {b.name for n in core.state.networks.values() for b in bridges_of(n)}
    for bridge in bridges:
        if bridge.name in in_use or core.kernel.link_exists(bridge.name):
            raise Conflict(f"bridge interface {bridge.name} already exists")

    def make_bridges() -> None:
        for bridge in bridges:
            make_bridge(core, bridge, network.id)
            undo.push("bridge", partial(delete_bridge, core, bridge))
        firewall.bridge_ready(core, network)

    # the rules name the bridges and need none of them: the nftables helper commits while
    # the kernel makes them (a failure of either undoes both)
    networks = {**core.state.networks, network.id: network}
    firewall.follow(core, undo, networks=networks, meanwhile=make_bridges)


def warnings(core: Core, network: Network) -> list[str]:
    """The Warning of a network create (the operation went ahead)."""
    return [*firewall.host_warnings(core, [network]), *drivers.of(network).warnings(network)]


def bridges_of(network: Network) -> tuple[HostBridge, ...]:
    return drivers.of(network).host_bridges(network)


def make_bridge(core: Core, bridge: HostBridge, network_id: str) -> None:
    """The bridge (in its segment, with the host's link into it, if it has one), and the
    tunnel that carries its segment to other hosts if it has one."""
    if bridge.segment:
        core.kernel.create_segment(
            bridge.segment, bridge.name, bridge.mac, bridge.mtu, bridge.gateways, network_id
        )
    else:
        core.kernel.create_bridge(bridge.name, bridge.mac, bridge.mtu, bridge.gateways, network_id)
    if bridge.tunnel is None:
        return
    try:
        make_tunnel(core, bridge, network_id)
    except HatobaError:
        delete_bridge(core, bridge)
        raise


def make_tunnel(core: Core, bridge: HostBridge, network_id: str) -> None:
    """The bridge's VXLAN port; its peers are programmed by the next `cluster.program_peers`."""
    tunnel = bridge.tunnel
    assert tunnel is not None
    core.kernel.create_tunnel(
        tunnel.name,
        tunnel.vni,
        tunnel.mtu,
        bridge.name,
        core.cluster.advertise,
        network_id,
        bridge.segment,
    )
    # a new device has no peers: they are programmed afresh
    core.overlay.peers.pop(tunnel.name, None)


def delete_bridge(core: Core, bridge: HostBridge, *, later: bool = False) -> None:
    """`later`: the bridge itself (or the host's link into its segment) on the reaper thread
    (see _delete_bridges_later)."""
    if bridge.tunnel is not None:
        # now, not with its namespace: the kernel frees its VNI only when it is gone
        core.kernel.delete_link(bridge.tunnel.name, bridge.segment)
        core.overlay.peers.pop(bridge.tunnel.name, None)
    if later:
        core.kernel.detach(bridge.name)
    else:
        core.kernel.delete_link(bridge.name)
    if bridge.segment:
        core.kernel.remove_segment(bridge.segment)


def replace_network(core: Core, old: Network, new: Network) -> None:
    """A network planned again under its id (a predefined one the configuration changed),
    with no container running on it: its bridges made afresh."""
    with UndoStack() as undo:
        delete_bridges(core, old)
        undo.push("old bridges", partial(_make_bridges, core, old))
        _make_bridges(core, new)
        undo.push("new bridges", partial(delete_bridges, core, new))
        core.commit(networks=[new])
        undo.commit()


def _make_bridges(core: Core, network: Network) -> None:
    for bridge in bridges_of(network):
        make_bridge(core, bridge, network.id)


def delete_bridges(core: Core, network: Network) -> None:
    for bridge in bridges_of(network):
        delete_bridge(core, bridge)


def _delete_bridges_later(core: Core, network: Network, detached: Sequence[str]) -> None:
    """The kernel takes ~15-40 ms to delete a bridge: the reaper does it after the answer,
    and until it is done the network's name, subnets and bridges stay held. A bridge the
    kernel keeps for the next network instead is out of service at once: nothing held.
    `detached`: the host ends of the network's detached endpoints, maybe not deleted yet."""
    bridges = [b for b in bridges_of(network) if not _retired(core, b, detached)]
    if not bridges:
        return
    subnets = tuple(p.subnet for p in network.ipam)
    core.held_networks[network.id] = HeldNetwork(
        network.name, subnets, tuple(b.name for b in bridges)
    )
    for bridge in bridges:
        delete_bridge(core, bridge, later=True)


def _retired(core: Core, bridge: HostBridge, detached: Sequence[str]) -> bool:
    """Kept for the next network (the kernel's retire_bridge): a local bridge with a MAC of
    its own, none of whose detached ports the reaper is still deleting."""
    if bridge.segment or bridge.tunnel is not None or not bridge.mac:
        return False
    if core.kernel.being_deleted(detached):
        return False
    return core.kernel.retire_bridge(bridge.name, bridge.gateways)


def remove_network(core: Core, ref: str) -> Network:
    network = core.state.network(ref)
    if network.predefined:
        raise Forbidden(f"{network.name} is a pre-defined network and cannot be removed")
    if core.state.attached(network.id):
        raise Forbidden(
            "error while removing network: network "
            f"{network.name} id {network.id} has active endpoints"
        )
    detached = list(core.addresses.pending.get(network.id, {}).values())
    # stopped members lose the network, as in Docker (their start would fail otherwise)
    members = [
        dataclasses.replace(c, networks=tuple(n for n in c.networks if n.network_id != network.id))
        for c in core.state.members(network.id)
    ]
    with UndoStack() as undo:
        others = {nid: n for nid, n in core.state.networks.items() if nid != network.id}
        firewall.follow(core, undo, members, networks=others)
        if drivers.of(network).cluster_scoped:
            # refused while any host has an endpoint on it
            core.cluster.delete_network(network)
        core.commit(removed_networks=[network.id], containers=members)
        undo.commit()
    _delete_bridges_later(core, network, detached)
    return network


def forget_network(core: Core, network: Network) -> None:
    """A cluster network removed from the store (by another host, or while this one was cut
    off): its containers here leave it, then it goes as `network rm` would take it."""
    for container in core.state.attached(network.id):
        log.warning(
            "container %s leaves network %s: the cluster removed it", container.name, network.name
        )
        try:
            disconnect(core, network.id, container.id, force=True)
        except HatobaError as exc:
            log.error("container %s cannot leave network %s: %s", container.name, network.name, exc)
            return
    members = [
        dataclasses.replace(c, networks=tuple(n for n in c.networks if n.network_id != network.id))
        for c in core.state.members(network.id)
    ]
    with UndoStack() as undo:
        others = {nid: n for nid, n in core.state.networks.items() if nid != network.id}
        firewall.follow(core, undo, members, networks=others)
        core.commit(removed_networks=[network.id], containers=members)
        undo.commit()
    delete_bridges(core, network)


def prune_networks(core: Core, matches: Callable[[Network], bool]) -> list[str]:
    removed = []
    for network in list(core.state.networks.values()):
        if network.predefined or not matches(network):
            continue
        if core.state.members(network.id):
            continue
        try:
            remove_network(core, network.id)
        except Forbidden:
            continue  # a cluster network another host still uses
        removed.append(network.name)
    return sorted(removed)


def endpoint_config(
    network: Network,
    aliases: Sequence[str],
    ipv4: IPv4Address | None,
    *,
    joined_later: bool,
    links: Sequence[str] = (),
    mac: str = "",
    ipv6: IPv6Address | None = None,
    name: str = "",
    driver_opts: Mapping[str, str] | None = None,
    link_local_ips: Sequence[IPv4Address | IPv6Address] = (),
) -> EndpointConfig:
    """`name`: the container's, which the network's DNS answers as it answers the aliases.
    Link-local addresses pass on any network, as Docker's (a driver without an interface
    keeps them unused); an address outside 169.254.0.0/16 and fe80::/10 gets libnetwork's
    refusal (network.go createEndpoint)."""
    if mac and drivers.of(network).shares_host_namespace:
        raise InvalidArgument(CONFLICT_WITH_MODE.format("mac-address"))
    if aliases and not network.user_defined:
        raise InvalidArgument("network-scoped aliases are only supported for user-defined networks")
    if network.user_defined:
        for dns_name in (name, *aliases):
            if dns_name:
                check_dns_name(dns_name, network.name)
    for link in links:
        parse_link(link)
    if links and not network.user_defined:
        # links there are legacy links (environment variables, /etc/hosts entries)
        raise InvalidArgument(f"hatoba does not support links on network {network.name} yet")
    for address in (ipv4, ipv6):
        if address is None:
            continue
        if not network.user_defined:
            raise InvalidArgument(
                "user specified IP address is supported on user defined networks only"
            )
        if not any(p.user_subnet for p in network.pools(address.version)):
            raise InvalidArgument(
                "user specified IP address is supported only when connecting to networks "
                "with user configured subnets"
            )
    for address in link_local_ips:
        if not address.is_link_local:
            raise InvalidArgument(f"invalid link local IP address: {address}")
    return EndpointConfig(
        network.id,
        tuple(aliases),
        ipv4,
        joined_later=joined_later,
        links=tuple(links),
        mac=mac,
        ipv6=ipv6,
        driver_opts=MappingProxyType(dict(driver_opts or {})),
        # an address asked twice is one address of the interface
        link_local_ips=tuple(dict.fromkeys(link_local_ips)),
    )


def connect(
    core: Core,
    network_ref: str,
    container_ref: str,
    aliases: Sequence[str] = (),
    ipv4: IPv4Address | None = None,
    links: Sequence[str] = (),
    mac: str = "",
    ipv6: IPv6Address | None = None,
    driver_opts: Mapping[str, str] | None = None,
    link_local_ips: Sequence[IPv4Address | IPv6Address] = (),
) -> Container:
    network = core.state.network(network_ref)
    container = core.state.container(container_ref)
    if joined_container(container.config.network_mode) is not None:
        # Docker refuses it for a running container only, and a stopped one never uses it
        raise Forbidden(SHARED_NETWORK)
    if container.config.network_disabled:
        # Docker records the network for a stopped container and never joins it; for a
        # running one it wires an endpoint into a namespace the process is not in
        raise Forbidden(
            f"container {container.name} has its network disabled (Config.NetworkDisabled): "
            "it cannot be connected to any network"
        )
    current = [core.state.networks.get(n.network_id) for n in container.networks]
    joined = [drivers.of(n) for n in current if n is not None]
    driver = drivers.of(network)
    if driver.shares_host_namespace or any(d.shares_host_namespace for d in joined):
        raise Forbidden(_CONFLICT_HOST_NETWORK)
    if container.config_on(network.id) is not None:
        raise Forbidden(
            f"endpoint with name {container.name} already exists in network {network.name}"
        )
    if (driver.exclusive and container.networks) or any(d.exclusive for d in joined):
        raise Forbidden(_CONFLICT_NO_NETWORK)
    cfg = endpoint_config(
        network,
        aliases,
        ipv4,
        joined_later=True,
        links=links,
        mac=mac,
        ipv6=ipv6,
        name=container.name,
        driver_opts=driver_opts,
        link_local_ips=link_local_ips,
    )
    # checked now so that a stopped container is refused too, and nothing changes
    endpoints.check_static(core, network, cfg.requested_addresses, container.id)
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
    if drivers.of(network).shares_host_namespace:
        raise Forbidden(_CONFLICT_HOST_NETWORK)
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
