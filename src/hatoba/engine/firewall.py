"""The firewall as the use cases see it: the tables follow every change, one transaction each.

Each operation derives the state its change leaves (before committing it), moves the tables
there in one transaction and registers the way back on its undo stack, so a failure later in
the operation leaves the tables as they were. Host ports are held from start to exit, as in
Docker: a stopped container publishes nothing and holds nothing.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence

from hatoba.drivers import registry as drivers
from hatoba.engine.core import Core
from hatoba.engine.undo import UndoStack
from hatoba.errors import HatobaError, InvalidArgument
from hatoba.firewall.derive import container_items, derive, derive_changed
from hatoba.firewall.model import FwNetwork, FwPort
from hatoba.model.container import Container, ContainerConfig, Endpoint
from hatoba.model.network import IPAddress, Network
from hatoba.model.ports import PortMapping
from hatoba.model.portspec import with_publish_all

log = logging.getLogger("hatoba.engine")


def publishes_on(networks: Iterable[Network]) -> Network | None:
    """The network a container on `networks` (in order) publishes its ports on, if any."""
    return next((n for n in networks if drivers.takes_published_ports(n)), None)


def wanted_ports(config: ContainerConfig, networks: Sequence[Network]) -> tuple[PortMapping, ...]:
    """The mappings a container on `networks` asks to publish; refused when none of the
    networks takes them and one of their drivers says why (an internal bridge, macvlan), or
    when a host address's family is one the container will have no address of there."""
    wanted = with_publish_all(config.ports, config.exposed_ports, config.publish_all)
    target = publishes_on(networks)
    if wanted and target is None:
        for network in networks:
            refusal = drivers.of(network).publish_refusal(network)
            if refusal is not None:
                raise refusal
    if target is not None:
        for mapping in wanted:
            _check_family(mapping, target)
    return wanted


def _check_family(mapping: PortMapping, network: Network) -> None:
    """A host address of a family the container has no address of on `network` could only be
    served by a userland proxy; hatoba has one for [::1] alone, which reaches IPv4 too."""
    ip = mapping.host_ip
    if ip is None or network.pools(ip.version) or (ip.version == 6 and ip.is_loopback):
        return
    raise InvalidArgument(
        f"cannot publish {mapping.key} on {ip}: the container has no IPv{ip.version} address "
        f"on network {network.name}, and hatoba has no userland proxy to carry it to the other "
        "family"
    )


def proxy_target(endpoint: Endpoint) -> IPAddress | None:
    """Where connections to a port published on [::1] go: the container's IPv6 address, or
    its IPv4 address on a network without IPv6 (as Docker's userland proxy does)."""
    return endpoint.ipv6 or endpoint.ipv4


def reserve(
    core: Core,
    undo: UndoStack,
    container: Container,
    mappings: Sequence[PortMapping],
    endpoints: Sequence[Endpoint],
    networks: Sequence[Network],
) -> tuple[PortMapping, ...]:
    """Hold the host ports of `mappings`; returns them with the ports chosen."""
    reserver = core.port_reserver
    target = publishes_on(networks)
    if not mappings or target is None:
        return ()
    binding = drivers.of(target).default_host_ip(target)
    if binding is not None:
        # `com.docker.network.bridge.host_binding_ipv4`: where `-p` without an address binds
        mappings = [m if m.host_ip else dataclasses.replace(m, host_ip=binding) for m in mappings]
    endpoint = next(e for e in endpoints if e.network_id == target.id)
    held = reserver.reserve(
        container.id,
        mappings,
        endpoint=container.name,
        endpoint_id=endpoint.endpoint_id,
        proxy_to=proxy_target(endpoint),
    )
    undo.push("ports", lambda: reserver.release(container.id))
    return held


def follow(
    core: Core,
    undo: UndoStack | None,
    containers: Iterable[Container] = (),
    networks: Mapping[str, Network] | None = None,
    meanwhile: Callable[[], None] = lambda: None,
) -> None:
    """Move the tables to the state these changes make (containers as they will be, all
    networks when given); with `undo`, a failure later in the operation moves them back.
    `meanwhile`: kernel work the transaction does not depend on, done while it runs (see
    Firewall.apply)."""
    fw, old = core.firewall, core.fw_state
    if old is None:  # not synced yet (bootstrap syncs all), or being reset
        meanwhile()
        return
    records = core.state.containers
    changed: dict[str, Container | None] = {c.id: c for c in containers}
    new = None
    if networks is None:
        # only these are looked at: the others are in the tables as in their records
        unsure = {cid: records.get(cid) for cid in core.fw_unsure if cid not in changed}
        new = derive_changed(core.state.networks, {**unsure, **changed}, old)
    if new is None:
        new = derive(
            core.state.networks if networks is None else networks,
            [c for c in {**records, **changed}.values() if c is not None],
            old,
            firewall_of=drivers.firewall_network,
        )
    fw.apply(old, new, meanwhile)
    core.fw_state = new
    unsure_before, core.fw_unsure = core.fw_unsure, set(changed)
    if undo is None:
        return

    def back() -> None:
        fw.apply(new, old)
        core.fw_state = old
        core.fw_unsure |= unsure_before | changed.keys()

    undo.push("firewall", back)


def leave(core: Core, containers: Sequence[Container]) -> None:
    """The containers stop: their endpoints and ports go (one transaction), their host ports
    are given back and their UDP flows forgotten. Best effort: an exit is recorded whatever
    the kernel says."""
    gone = [port for c in containers for port in ports_of(core, c)]
    try:
        follow(core, None, [_stopped(c) for c in containers])
    except HatobaError as exc:
        names = ", ".join(c.name for c in containers)
        log.warning("firewall: removing %s failed: %s", names, exc)
    for container in containers:
        core.port_reserver.release(container.id)
    forget_flows(core, gone)


def _stopped(container: Container) -> Container:
    return dataclasses.replace(container, endpoints=(), published=())


def ports_of(core: Core, container: Container) -> tuple[FwPort, ...]:
    return container_items(container, _fw_networks(core.state.networks.values()))[1]


def forget_flows(core: Core, ports: Sequence[FwPort]) -> None:
    """UDP flows keep their conntrack entry, and so their old destination, while the client
    keeps sending: drop the entries of mappings that went."""
    if not any(p.protocol == "udp" for p in ports):
        return
    try:
        core.firewall.clear_udp_conntrack(ports)
    except HatobaError as exc:
        log.warning("firewall: clearing UDP flows failed: %s", exc)


def host_warnings(core: Core, networks: Iterable[Network]) -> list[str]:
    """What the host's own firewalls do to traffic on `networks` (nothing for networks the
    tables do not know, as host and none): the operation goes ahead, as in Docker, and its
    client is told."""
    if not any(drivers.firewall_network(n) is not None for n in networks):
        return []
    return core.firewall.warnings()


def bridge_ready(core: Core, network: Network) -> None:
    for bridge in drivers.of(network).host_bridges(network):
        core.firewall.bridge_ready(bridge.name, network.internal, routed=bool(bridge.segment))


def restore(core: Core, running: Iterable[str]) -> None:
    """At start-up: hold the host ports of running containers again and make the tables
    match the records exactly (whatever a crash left there)."""
    for network in core.state.networks.values():
        bridge_ready(core, network)
    for cid in running:
        container = core.state.containers[cid]
        if not container.published:
            continue
        joined = (core.state.networks.get(cfg.network_id) for cfg in container.networks)
        target = publishes_on(n for n in joined if n is not None)
        endpoint = container.endpoint_on(target.id) if target is not None else None
        try:
            core.port_reserver.reserve(
                cid,
                container.published,
                proxy_to=proxy_target(endpoint) if endpoint is not None else None,
            )
        except HatobaError as exc:
            log.warning("ports of container %s not held again: %s", container.name, exc)
    reload(core)


def reload(core: Core) -> None:
    """Rebuild the tables from the records, in one transaction."""
    state = derive(
        core.state.networks,
        core.state.containers.values(),
        core.fw_state,
        firewall_of=drivers.firewall_network,
    )
    core.firewall.sync(state)
    core.fw_state = state
    core.fw_unsure = set()


def _fw_networks(networks: Iterable[Network]) -> dict[str, FwNetwork]:
    return {n.id: fw for n in networks if (fw := drivers.firewall_network(n)) is not None}
