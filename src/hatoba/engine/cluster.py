"""Following the cluster store: after each change its watch reports (and after each
reconnection), this host's overlay networks, tunnel peers, DNS names and own registrations are
made to match what the store says. Runs on the engine's worker, like every use case.

1. networks other hosts created are made here; ones the store no longer has are taken away
   (their containers here leave them first) — only once the store has been listed, so an
   unreachable store never looks like an empty one;
2. after each (re)connection or new lease, this host's live endpoints are registered again
   and records of its own that match no live endpoint are dropped: what a lost lease took
   comes back, what failed to go while the store was away goes;
3. every tunnel gets exactly the remote endpoints of its network (forwarding and neighbour
   entries), and the embedded DNS the remote names.
"""

from __future__ import annotations

import logging
from ipaddress import IPv4Address

from hatoba.drivers import registry as drivers
from hatoba.engine import networks, overlay, resolver
from hatoba.engine.core import Core
from hatoba.errors import HatobaError
from hatoba.model.cluster import ClusterEndpoint, ClusterHost, ClusterView
from hatoba.model.host import TunnelPeer
from hatoba.model.network import Network

log = logging.getLogger("hatoba.engine")


def sync(core: Core) -> None:
    view = core.cluster.view()
    if view.synced:
        _networks(core, view)
    if view.connected and view.epoch != core.overlay.registered_epoch:
        _register(core, view)
    program_peers(core)
    resolver.publish(core)


def _networks(core: Core, view: ClusterView) -> None:
    for network in view.networks.values():
        if network.id not in core.state.networks:
            try:
                networks.adopt_network(core, network)
            except HatobaError as exc:
                log.error("network %s of the cluster cannot be made here: %s", network.name, exc)
    for network in list(core.state.networks.values()):
        if drivers.of(network).cluster_scoped and network.id not in view.networks:
            networks.forget_network(core, network)


def _register(core: Core, view: ClusterView) -> None:
    me = core.cluster.host_id
    wanted: dict[tuple[str, IPv4Address], ClusterEndpoint] = {}
    for container in core.state.containers.values():
        for ep in container.endpoints:
            network = core.state.networks.get(ep.network_id)
            cfg = container.config_on(ep.network_id)
            if network is None or cfg is None or ep.ipv4 is None:
                continue
            if drivers.of(network).cluster_scoped:
                wanted[(ep.network_id, ep.ipv4)] = overlay.record_of(core, container, cfg, ep)
    try:
        for (_, address), record in wanted.items():
            # even a record the view shows as it is: it may belong to a lease that is
            # about to expire (this service's before a restart), and is put under this one
            if not core.cluster.claim(record):
                log.error(
                    "address %s of container %s is held by another host: not announced",
                    address,
                    record.container_id[:12],
                )
        for network_id, held in view.endpoints.items():
            for address, record in held.items():
                if record.host_id == me and (network_id, address) not in wanted:
                    core.cluster.release(network_id, address)
    except HatobaError as exc:
        log.warning("endpoints not registered in the cluster store yet: %s", exc)
        return
    core.overlay.registered_epoch = view.epoch


def program_peers(core: Core, *, check_kernel: bool = False) -> None:
    """Every tunnel gets the remote endpoints of its network. Tunnels whose peers are as last
    programmed are skipped, unless `check_kernel` (a repair: someone may have deleted
    entries), when each tunnel's entries are compared with the kernel's."""
    view = core.cluster.view()
    if not view.synced:
        return  # before the store's first listing, what the kernel holds is the best guess
    me = core.cluster.host_id
    for network in core.state.networks.values():
        for bridge in drivers.of(network).host_bridges(network):
            tunnel = bridge.tunnel
            if tunnel is None:
                continue
            wanted = frozenset(
                TunnelPeer(ep.mac, ep.address, ep.vtep)
                for ep in view.endpoints_on(network.id).values()
                if ep.host_id != me
            )
            if not check_kernel and core.overlay.peers.get(tunnel.name) == wanted:
                continue
            try:
                core.kernel.set_tunnel_peers(tunnel.name, wanted, bridge.segment)
            except HatobaError as exc:
                log.error("peers of %s not programmed: %s", tunnel.name, exc)
                continue
            core.overlay.peers[tunnel.name] = wanted


def peers_of(core: Core, network: Network) -> tuple[ClusterHost, ...]:
    """The hosts with endpoints on `network`, by address; a host whose record the view has
    lost (its lease ending) by its endpoints' tunnel address and its id."""
    view = core.cluster.view()
    found: dict[str, ClusterHost] = {}
    for ep in view.endpoints_on(network.id).values():
        if ep.host_id not in found:
            found[ep.host_id] = view.hosts.get(ep.host_id) or ClusterHost(ep.host_id, ep.vtep)
    return tuple(sorted(found.values(), key=lambda host: host.address))
