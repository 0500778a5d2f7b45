"""The embedded resolver as the use cases see it: which names it knows, and whom it serves.

As Docker: a container on at least one network that serves DNS (its driver says which: for
bridges, the user-defined ones) asks 127.0.0.11, which answers the names of its networks and
forwards the rest to the host's resolvers (or `--dns`); others keep the host's resolvers.
Names are published before the process that could ask for them starts, and again after every
committed change, so a query never sees a half-made change.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from ipaddress import IPv4Address, IPv4Interface

from hatoba.dns import DnsAttachment, DnsRecord, Upstream
from hatoba.drivers import registry as drivers
from hatoba.engine.core import Core
from hatoba.engine.state import State
from hatoba.engine.undo import UndoStack
from hatoba.errors import InvalidArgument
from hatoba.files.resolvconf import ContainerResolv, for_container, is_loopback, parse
from hatoba.model.cluster import ClusterView
from hatoba.model.container import Container, EndpointConfig
from hatoba.model.ids import parse_link
from hatoba.model.network import Network

log = logging.getLogger("hatoba.engine")

RESOLV_CONF = "/etc/resolv.conf"
NO_REMOTE = ClusterView()


def embedded(core: Core, networks: Iterable[Network]) -> bool:
    """True when the container's queries go to 127.0.0.11."""
    return core.dns.serves_containers and any(drivers.of(n).serves_dns(n) for n in networks)


def forwards(networks: Iterable[Network]) -> bool:
    """Only containers with a way out may ask upstream (CVE-2024-29018): not internal-only."""
    return any(not n.internal for n in networks)


def resolv_for(core: Core, container: Container, networks: Sequence[Network]) -> ContainerResolv:
    try:
        host = parse(core.paths.resolv_conf.read_text())
    except OSError:
        host = parse("")
    cfg = container.config
    return for_container(
        host,
        embedded_dns=embedded(core, networks),
        host_network=any(drivers.of(n).shares_host_namespace for n in networks),
        # daemon.json's dns and dns-search for containers that name none
        dns=cfg.dns or tuple(str(s) for s in core.config.dns),
        dns_search=cfg.dns_search or core.config.dns_search,
        dns_options=cfg.dns_options,
    )


def upstreams_of(resolv: ContainerResolv) -> tuple[Upstream, ...]:
    """The host's servers on its loopback are asked from the host; the rest from the
    container's namespace, as its own queries would leave."""
    chosen = []
    for server in resolv.upstreams:
        try:
            from_host = resolv.upstreams_from_host and is_loopback(server)
            chosen.append(Upstream(server, from_host=from_host))
        except InvalidArgument:
            log.warning("ignoring DNS server %r: not an IP address", server)
    return tuple(chosen)


def dns_names(container: Container, cfg: EndpointConfig) -> tuple[str, ...]:
    """Docker's names of a container on one network: name, aliases, short id, hostname."""
    return tuple(
        dict.fromkeys((container.name, *cfg.aliases, container.short_id, container.hostname))
    )


def records(
    state: State, cluster: ClusterView = NO_REMOTE, me: str = ""
) -> tuple[list[DnsRecord], dict[str, IPv4Address]]:
    """Every live endpoint on a network that serves DNS, and the networks' gateways. Endpoints
    other hosts (not `me`) have on this host's overlay networks come from the cluster store's
    cache: a lookup never waits on the store."""
    found: list[DnsRecord] = []
    for c in state.containers.values():
        found += _records_of(state, c)
    for remote in _remote_records(state, cluster, me).values():
        found += remote
    return found, _gateways(state)


def _records_of(state: State, c: Container) -> tuple[DnsRecord, ...]:
    found = []
    for cfg in c.networks:
        network = state.networks.get(cfg.network_id)
        endpoint = c.endpoint_on(cfg.network_id)
        if network is None or endpoint is None or not drivers.of(network).serves_dns(network):
            continue
        if not endpoint.addresses:
            continue
        links = tuple((alias, name) for name, alias in map(parse_link, cfg.links))
        found.append(
            DnsRecord(
                c.id,
                network.id,
                network.name,
                dns_names(c, cfg),
                endpoint.ipv4,
                links,
                endpoint.ipv6,
            )
        )
    return tuple(found)


def _remote_records(
    state: State, cluster: ClusterView, me: str
) -> dict[str, tuple[DnsRecord, ...]]:
    """Other hosts' endpoints on this host's overlay networks, by container."""
    found: dict[str, list[DnsRecord]] = {}
    for network_id, remote in cluster.endpoints.items():
        network = state.networks.get(network_id)
        if network is None or not drivers.of(network).serves_dns(network):
            continue
        for ep in remote.values():
            if ep.host_id != me:
                record = DnsRecord(ep.container_id, network.id, network.name, ep.names, ep.address)
                found.setdefault(ep.container_id, []).append(record)
    return {cid: tuple(mine) for cid, mine in found.items()}


def _gateways(state: State) -> dict[str, IPv4Address]:
    # host.docker.internal: the host's own address on the network, where it has one (on a
    # macvlan network the gateway is the segment's router, and the host is out of reach)
    return {
        n.id: gateway.ip
        for n in state.networks.values()
        if drivers.of(n).serves_dns(n)
        for bridge in drivers.of(n).host_bridges(n)[:1]
        for gateway in bridge.gateways[:1]
        if isinstance(gateway, IPv4Interface)
    }


def publish(core: Core, *pending: Container) -> None:
    """Tell the server the names of the containers that changed since it was last told
    (`pending` stand in for their committed selves: containers about to start or change
    networks). Only containers committed since (`Core.names_unsure`) are looked at, and of
    those only the ones whose record changed (another object than last time) are made
    again. Other hosts' endpoints on overlay networks are compared record by record."""
    if not core.dns.serves_containers:
        return  # an engine without a server attaches nothing faster for it
    state, cache = core.state, core.name_cache
    stand_ins = {c.id: c for c in pending}
    unsure = core.names_unsure
    looked_at = cache.keys() | state.containers.keys() if unsure is None else unsure
    remote = _remote_records(state, core.cluster.view(), core.cluster.host_id)
    changes: dict[str, tuple[DnsRecord, ...]] = {}
    for cid in looked_at | stand_ins.keys():
        c = stand_ins.get(cid) or state.containers.get(cid)
        hit = cache.get(cid)
        if c is None:
            if hit is not None and hit[0] is not None:
                del cache[cid]
                changes[cid] = ()
            continue
        if hit is not None and hit[0] is c:
            continue
        mine = _records_of(state, c)
        told = hit[1] if hit is not None else ()
        if told != mine:
            changes[cid] = mine
        else:
            mine = told  # the same records, as the server has them
        cache[cid] = (c, mine)
    for cid in core.remote_named - remote.keys():
        if cache.pop(cid, None) is not None:
            changes[cid] = ()
    for cid, mine in remote.items():
        hit = cache.get(cid)
        if hit is None or hit[1] != mine:
            changes[cid] = mine
            cache[cid] = (None, mine)
    core.remote_named = set(remote)
    # what was told of stand-ins is looked at again: committed, or put back by an undo
    core.names_unsure = set(stand_ins)
    core.dns.update(changes, _gateways(state))


def serve(
    core: Core,
    undo: UndoStack,
    container: Container,
    networks: Sequence[Network],
    resolv: ContainerResolv,
    *,
    fresh: bool = False,
) -> None:
    """Before the container's process starts: if it asks 127.0.0.11, that answers in its
    namespace (`container` has its endpoints and netns; `fresh`: the namespace was just
    made). Its names are published with the others of its start (`publish`)."""
    dns = core.dns
    if embedded(core, networks):
        upstreams = upstreams_of(resolv)
        dns.attach(container.id, container.netns, upstreams, forwards(networks), fresh=fresh)
        undo.push("dns", lambda: dns.detach(container.id))


def follow(
    core: Core,
    undo: UndoStack,
    container: Container,
    networks: Sequence[Network],
    before: Sequence[Network],
) -> None:
    """A running container goes from the networks `before` to `networks`.

    Joining its first network that serves DNS starts the resolver there and points its
    resolv.conf at it (Docker rebuilds resolv.conf then too); leaving its last one stops it
    and gives the host's resolvers back, so the container never loses DNS altogether.
    """
    dns = core.dns
    if not container.state.running:
        return
    publish(core, container)
    undo.push("dns names", lambda: publish(core))
    had, has = embedded(core, before), embedded(core, networks)
    if not (had or has):
        return
    resolv, old = resolv_for(core, container, networks), resolv_for(core, container, before)
    upstreams = upstreams_of(resolv if has else old)
    cid, netns = container.id, container.netns

    def as_before() -> None:
        dns.attach(cid, netns, upstreams, forwards(before))

    if has:
        dns.attach(cid, netns, upstreams, forwards(networks))
        undo.push("dns", as_before if had else lambda: dns.detach(cid))
    if had != has:
        previous = old.conf.render()
        core.runtime.rewrite_file(cid, RESOLV_CONF, resolv.conf.render())
        undo.push("resolv.conf", lambda: core.runtime.rewrite_file(cid, RESOLV_CONF, previous))
    if had and not has:
        dns.detach(cid)
        undo.push("dns", as_before)


def stop(core: Core, container_id: str) -> None:
    """After the namespace handle is gone (the resolver then has no table to delete)."""
    core.dns.detach(container_id)


def restore(core: Core, running: Iterable[str]) -> None:
    """After a restart of the service: names again, and 127.0.0.11 in every running
    container that asks it, without restarting any."""
    publish(core)
    attachments = []
    for cid in running:
        container = core.state.containers[cid]
        networks = [
            core.state.networks[cfg.network_id]
            for cfg in container.networks
            if cfg.network_id in core.state.networks
        ]
        if not container.netns or not embedded(core, networks):
            continue
        resolv = resolv_for(core, container, networks)
        attachments.append(
            DnsAttachment(cid, container.netns, upstreams_of(resolv), forwards(networks))
        )
    for cid, exc in core.dns.restore(attachments):
        log.warning("DNS for container %s not restored: %s", core.state.containers[cid].name, exc)
