"""Start-up and shutdown: predefined networks, reconciliation with the kernel, the containers
restart policies start at start-up, reset."""

from __future__ import annotations

import logging
import os

from hatoba.drivers import registry as drivers
from hatoba.engine import containers, repair, volumes
from hatoba.engine import networks as networks_
from hatoba.engine.core import Core
from hatoba.engine.ports import NO_CLUSTER
from hatoba.errors import HatobaError, KernelError
from hatoba.model import restart
from hatoba.model.container import EXITED, RUNNING
from hatoba.model.daemon import BadConfig
from hatoba.model.ids import ZERO_TIME
from hatoba.model.network import Network

log = logging.getLogger("hatoba.engine")


def ensure_predefined(core: Core) -> None:
    """The network each driver has by default (bridge on hatoba0, host, none), created on the
    first start as daemon.json configures it."""
    for driver in drivers.known():
        name = driver.predefined_network
        if name is not None and core.state.network_by_name(name) is None:
            spec = driver.predefined_spec(core.config)
            try:
                networks_.create_network(core, spec, predefined=True)
            except HatobaError as exc:
                raise _config_error(core, name, exc) from None


def apply_config(core: Core) -> list[str]:
    """daemon.json's settings of the predefined networks, at every start (dockerd makes its
    default bridge afresh each time): a predefined network whose settings changed is planned
    again under the same id, so its stopped containers keep it. One that containers run on
    keeps its settings until they stop; returns that as warnings."""
    warnings = []
    for driver in drivers.known():
        name = driver.predefined_network
        network = core.state.network_by_name(name) if name is not None else None
        if name is None or network is None:
            continue
        own = tuple(p.subnet for p in network.ipam)
        where = networks_.placement(core, network.id, network.created, predefined=True, own=own)
        try:
            planned = driver.plan_network(driver.predefined_spec(core.config), where)
        except HatobaError as exc:
            raise _config_error(core, name, exc) from None
        if _settings(planned) == _settings(network):
            continue
        if core.state.attached(network.id):
            warnings.append(
                f"{core.config.source or 'the configuration'}: the {name} network keeps its "
                "settings while containers run on it; stop them and restart the service"
            )
            continue
        log.info("network %s planned again as the configuration says", name)
        networks_.replace_network(core, network, planned)
    for warning in warnings:
        log.warning("%s", warning)
    return warnings


def _settings(network: Network) -> tuple[object, ...]:
    return (network.ipam, network.bridge, network.mtu, dict(network.options), network.internal)


def _config_error(core: Core, network: str, exc: HatobaError) -> HatobaError:
    """A predefined network the configuration cannot make: the file is to blame."""
    if not core.config.source:
        return exc
    return BadConfig(
        f"unable to configure hatoba with file {core.config.source}: "
        f"network {network}: {exc.message}"
    )


def reconcile(core: Core) -> list[str]:
    """Make the kernel and the records agree after a restart or a crash.

    Returns the ids of containers still running (the caller watches their shims).
    """
    running: list[str] = []
    for container in list(core.state.containers.values()):
        if container.run_pending and not container.state.running:
            # the first half of a `run` that never reported success (see Container.run_pending)
            log.warning("removing container %s: its run did not complete", container.name)
            containers.remove(core, container.id, with_volumes=True)
            continue
        if container.state.restarting:
            # its restart was pending when the service stopped: start-up decides afresh
            core.commit(containers=[container.with_state(status=EXITED)])
            continue
        if container.state.status != RUNNING:
            continue
        if core.runtime.is_alive(container.state.shim_pid, container.state.shim_start):
            running.append(container.id)
        else:
            # it exited while the service was down: the rule for start-up applies, not the
            # one for an exit seen live (due_at_start)
            containers.exited(core, container.id, may_restart=False)
    live_ids = set(running)
    # namespaces, crun state and run dirs that no running record owns
    # segments (overlay networks) keep their handles beside the containers'
    segments = {
        b.segment for n in core.state.networks.values() for b in networks_.bridges_of(n)
    } - {""}
    for handle in core.kernel.netns_handles(str(core.paths.netns_dir)):
        if os.path.basename(handle) not in live_ids | segments:
            core.kernel.remove_netns(handle)
    core.runtime.reap_leftovers(live_ids)
    volumes.reconcile(core)
    for link in core.kernel.owned_links():
        if link.kind in ("bridge", "vxlan") and link.owner not in core.state.networks:
            _delete(core, link.name)
    repair.repair_links(core, running)
    return running


def due_at_start(core: Core) -> list[str]:
    """The stopped containers restart policies start when the service starts (Docker's rule
    at daemon start: model/restart.py), oldest first."""
    due = [
        c
        for c in core.state.containers.values()
        if c.state.status == EXITED
        and restart.at_service_start(
            c.config.restart_policy,
            c.state.exit_code,
            c.state.manually_stopped,
            c.state.restart_count,
            started_before=c.state.started_at != ZERO_TIME,
        )
    ]
    return [c.id for c in sorted(due, key=lambda c: c.created)]


def _delete(core: Core, name: str) -> None:
    try:
        core.kernel.delete_link(name)
    except KernelError as exc:
        log.warning("could not delete leftover link %s: %s", name, exc)


def reset(core: Core) -> None:
    """Remove every container, volume, network, link, namespace and table hatoba made (best
    effort, all of it). Containers go together: killed, their networks taken down, the shims
    left to clean up after them (all at once), one commit."""
    errors: list[HatobaError] = []
    core.fw_state = None  # the tables go whole at the end, not element by element
    every = list(core.state.containers.values())
    running = [c for c in every if c.state.running]
    for container in running:
        core.runtime.signal(container.state.pid, 9)
    try:
        containers.teardown_many(core, [(c, False) for c in running])
    except HatobaError as exc:
        errors.append(exc)
    # each shim deletes crun's state of its container as it exits: let them, together
    core.runtime.wait_exited([(c.state.shim_pid, c.state.shim_start) for c in running])
    try:
        core.commit(removed_containers=[c.id for c in every])
        core.runtime.reap_leftovers(set())
        for container in every:
            core.runtime.remove(container.id)
    except HatobaError as exc:
        errors.append(exc)
    try:
        volumes.remove_all(core)
    except HatobaError as exc:
        errors.append(exc)
    networks = list(core.state.networks.values())
    try:
        core.commit(removed_networks=[n.id for n in networks])
    except HatobaError as exc:
        errors.append(exc)
    for network in networks:
        try:
            networks_.delete_bridges(core, network)
        except HatobaError as exc:
            errors.append(exc)
    for handle in core.kernel.netns_handles(str(core.paths.netns_dir)):
        core.kernel.remove_netns(handle)
    for link in core.kernel.owned_links():
        _delete(core, link.name)
    core.addresses.pending.clear()
    core.held_networks.clear()
    try:
        core.firewall.remove()
    except HatobaError as exc:
        errors.append(exc)
    # the service stops after a reset: until then no cluster network may be made here again
    # (a sync between this answer and the stop left a segment behind)
    core.cluster = NO_CLUSTER
    if errors:
        raise errors[0]
