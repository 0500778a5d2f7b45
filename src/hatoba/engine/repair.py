"""Making the kernel's links match the records: at start-up, and whenever someone else changed
them (a bridge or a veth deleted by hand, a crash in the middle of a connect or disconnect).

The records say what must exist; every link carrying hatoba's owner alias either matches a
record or is removed. In order:

1. namespace handles of running containers that someone unmounted are mounted again from the
   container's process;
2. every bridge of a record exists, up, with its gateway address (recreated when it vanished),
   and its VXLAN port (overlay networks) is there and a port of it (made again when it
   vanished or left the bridge: a bridge's ports outlive it, so a bridge made again gets a
   new one); an overlay network's segment has its namespace (else it is made again whole),
   its bridge (else made again in place) and the host's link into it (else made again);
3. every endpoint of a running container has its veth pair, enslaved to its bridge (in the
   host namespace or its segment's); a lost pair is made again with the same names, address
   and MAC;
4. owned links that match no record (the veth of a connect that never committed, the leftover
   of a disconnect or of a container that exited while the service was down) are deleted, and
   the addresses they held are free again;
4b. while some network's interfaces live in container namespaces alone (macvlan), the same
   inside each running container's namespace, where those links carry the owner alias: a lost
   one is made again (unless its parent is gone), one that matches no endpoint (a connect
   that never committed) is deleted;
5. what could not be repaired is dropped from the records (so firewall and DNS stop using it)
   and reported: in the container's `State.Error`, in `ps` and in the service log;
6. every tunnel's forwarding and neighbour entries are compared with the cluster's records
   and put right (a new tunnel has none; someone may have deleted some).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable

from hatoba.drivers import registry as drivers
from hatoba.drivers.base import HostBridge
from hatoba.engine import cluster, endpoints, firewall, networks
from hatoba.engine.core import Core
from hatoba.errors import HatobaError
from hatoba.model.container import Container, Endpoint
from hatoba.model.host import AttachRequest, OwnedLink
from hatoba.model.network import Network

log = logging.getLogger("hatoba.engine")


def repair_links(core: Core, running: Iterable[str]) -> list[Container]:
    """Steps 1-6 for the containers in `running`; returns the containers whose records changed
    (already committed)."""
    live = [core.state.containers[cid] for cid in running if cid in core.state.containers]
    damaged: dict[str, list[str]] = {}
    for container in live:
        _restore_handle(core, container, damaged)
    links = {link.name: link for link in core.kernel.owned_links()}
    recreated = _repair_bridges(core, links)
    # the hosts' links into segments are veths too
    wanted = {b.name for n in core.state.networks.values() for b in networks.bridges_of(n)}
    ports = _ports(core, links)
    lost: dict[str, list[Endpoint]] = {}
    for container in live:
        for ep in container.endpoints:
            if not ep.host_ifname:
                continue
            wanted.add(ep.host_ifname)
            port = ports.get(ep.host_ifname)
            problem = _repair_endpoint(core, container, ep, port[0] if port else None)
            if problem:
                damaged.setdefault(container.id, []).append(problem)
                lost.setdefault(container.id, []).append(ep)
    for link, segment in ports.values():
        if link.kind == "veth" and link.name not in wanted:
            _delete(core, link, segment)
    if any(drivers.of(n).interfaces_in_namespace for n in core.state.networks.values()):
        for container in live:
            for ep, problem in _repair_inside(core, container):
                damaged.setdefault(container.id, []).append(problem)
                lost.setdefault(container.id, []).append(ep)
    for network_id in list(core.addresses.pending):
        endpoints.release_gone(core, network_id)
    for bridge in recreated:
        firewall.bridge_ready(core, bridge)
    changed = _record_damage(core, damaged, lost)
    cluster.program_peers(core, check_kernel=True)
    return changed


def _restore_handle(core: Core, container: Container, damaged: dict[str, list[str]]) -> None:
    if not container.netns or core.kernel.netns_ok(container.netns):
        return
    try:
        core.kernel.rebind_netns(container.netns, container.state.pid)
    except HatobaError as exc:
        damaged.setdefault(container.id, []).append(f"namespace handle lost: {exc.message}")
        return
    log.warning("namespace handle of %s was unmounted: mounted again", container.name)


def _ports(core: Core, links: dict[str, OwnedLink]) -> dict[str, tuple[OwnedLink, str]]:
    """The owned links of the host namespace and of every segment, by name, with the
    segment each is in ("" the host's)."""
    found = {name: (link, "") for name, link in links.items()}
    for network in core.state.networks.values():
        for segment in {b.segment for b in networks.bridges_of(network) if b.segment}:
            try:
                found.update(
                    (link.name, (link, segment)) for link in core.kernel.owned_links(segment)
                )
            except HatobaError as exc:
                log.warning("could not look inside segment %s: %s", segment, exc)
    return found


def _repair_bridges(core: Core, links: dict[str, OwnedLink]) -> list[Network]:
    """Bridges of the records present and configured; returns the networks recreated."""
    recreated = []
    for network in core.state.networks.values():
        for bridge in drivers.of(network).host_bridges(network):
            try:
                if bridge.segment:
                    if _repair_segment(core, bridge, links, network):
                        recreated.append(network)
                    continue
                if bridge.name in links:
                    core.kernel.repair_bridge(bridge.name, bridge.gateways)
                    _repair_tunnel(core, bridge, links, network)
                    continue
                log.warning("bridge %s of %s was missing: recreated", bridge.name, network.name)
                if bridge.tunnel is not None:
                    core.kernel.delete_link(bridge.tunnel.name)
                networks.make_bridge(core, bridge, network.id)
                recreated.append(network)
            except HatobaError as exc:
                log.error("bridge %s of %s cannot be repaired: %s", bridge.name, network.name, exc)
    return recreated


def _repair_segment(
    core: Core, bridge: HostBridge, links: dict[str, OwnedLink], network: Network
) -> bool:
    """A segment's namespace, its bridge, the host's link into it and its tunnel, each made
    again when it is missing; returns whether the host's link is new (the firewall's settings
    go on it again). A segment that lost its namespace is made again whole (the containers'
    ports in it are made again as deleted ones are); one that lost its bridge gets a new one,
    with a new link from the host, and its ports go on it again."""
    segment = bridge.segment
    if not core.kernel.segment_ok(segment):
        log.warning("segment %s of %s was lost: made again", segment, network.name)
        networks.delete_bridge(core, bridge)
        networks.make_bridge(core, bridge, network.id)
        return True
    inside = {link.name: link for link in core.kernel.owned_links(segment)}
    if bridge.name not in inside:
        log.warning("bridge %s of %s was deleted: made again", bridge.name, network.name)
        core.kernel.delete_link(bridge.name)  # the host's link, its peer off any bridge
        core.kernel.create_segment(
            segment, bridge.name, bridge.mac, bridge.mtu, bridge.gateways, network.id
        )
        _repair_tunnel(core, bridge, inside, network)
        return True
    relinked = bridge.name not in links
    if relinked:
        log.warning("the host's link into %s of %s was deleted: made again", segment, network.name)
        core.kernel.link_segment(
            segment, bridge.name, bridge.mac, bridge.mtu, bridge.gateways, network.id
        )
    else:
        core.kernel.repair_bridge(bridge.name, bridge.gateways)
    _repair_tunnel(core, bridge, inside, network)
    return relinked


def _repair_tunnel(
    core: Core, bridge: HostBridge, links: dict[str, OwnedLink], network: Network
) -> None:
    """The bridge's VXLAN port, made again when it is missing or off the bridge (`links`:
    those of the namespace the bridge is in)."""
    tunnel = bridge.tunnel
    if tunnel is None:
        return
    link = links.get(tunnel.name)
    if link is not None and link.master == bridge.name:
        return
    state = "missing" if link is None else "off its bridge"
    log.warning("tunnel %s of %s was %s: made again", tunnel.name, network.name, state)
    if link is not None:
        core.kernel.delete_link(tunnel.name, bridge.segment)
    networks.make_tunnel(core, bridge, network.id)


def _repair_endpoint(core: Core, container: Container, ep: Endpoint, link: OwnedLink | None) -> str:
    """Returns what is wrong beyond repair ("" when the endpoint is whole again)."""
    network = core.state.networks.get(ep.network_id)
    if network is None:
        return f"{ep.ifname}: its network is gone"
    request = drivers.of(network).attach_request(network, ep, container.id)
    if request is None:
        return f"{ep.ifname}: {network.name} gives it no interface"
    try:
        if link is None:
            # the same names, address and MAC again
            endpoints.make_interface(core, container.netns, request)
            log.warning(
                "%s of %s on %s was deleted: made again", ep.ifname, container.name, network.name
            )
        elif isinstance(request, AttachRequest) and link.master != request.bridge:
            core.kernel.enslave(link.name, request.bridge, request.segment)
            log.warning("%s of %s attached to %s again", ep.ifname, container.name, request.bridge)
    except HatobaError as exc:
        return f"{ep.ifname} on {network.name} lost and not made again: {exc.message}"
    return ""


def _repair_inside(core: Core, container: Container) -> list[tuple[Endpoint, str]]:
    """Step 4b for one container: its endpoints with no host end, and leftovers of them;
    returns the endpoints beyond repair, with what is wrong."""
    if not container.netns:  # the host's namespace (`--net host`)
        return []
    try:
        present = {link.name: link for link in core.kernel.owned_links_inside(container.netns)}
    except HatobaError as exc:
        log.warning("could not look inside the namespace of %s: %s", container.name, exc)
        return []
    inside = [ep for ep in container.endpoints if endpoints.in_namespace_only(ep)]
    beyond = []
    for ep in inside:
        problem = _repair_endpoint(core, container, ep, present.get(ep.ifname))
        if problem:
            beyond.append((ep, problem))
    for name in present.keys() - {ep.ifname for ep in inside}:
        log.warning("deleting %s in %s: no endpoint of the records", name, container.name)
        core.kernel.delete_inside(container.netns, name)
    return beyond


def _delete(core: Core, link: OwnedLink, segment: str = "") -> None:
    try:
        core.kernel.delete_link(link.name, segment)
    except HatobaError as exc:
        log.warning("could not delete leftover link %s: %s", link.name, exc)


def _record_damage(
    core: Core, damaged: dict[str, list[str]], lost: dict[str, list[Endpoint]]
) -> list[Container]:
    changed = []
    for cid, problems in damaged.items():
        container = core.state.containers[cid]
        gone = {ep.endpoint_id for ep in lost.get(cid, [])}
        for ep in lost.get(cid, []):
            endpoints.release(core, ep)
        error = "; ".join(problems)
        log.error("container %s cannot be repaired: %s", container.name, error)
        changed.append(
            dataclasses.replace(
                container,
                endpoints=tuple(e for e in container.endpoints if e.endpoint_id not in gone),
                state=dataclasses.replace(container.state, error=error),
            )
        )
    if changed:
        firewall.follow(core, None, changed)
        core.commit(containers=changed)
    return changed
