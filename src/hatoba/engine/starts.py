"""Starting containers: one, or many in one operation (`hatoba compose up` of 100 replicas).

Each container's start is all-or-nothing on its own undo stack: its namespace, host ports,
shim (which has crun create the container at once, while the rest is made), veths and
resolver sockets. Then the steps every container shares are taken once for all of them: one
firewall transaction and one update of the DNS names, each with its undo on the operation's
own stack. Only then does each process run (crun's exec fifo), and one commit records them.

So a batch overlaps the crun creates of all its containers with the kernel work of the others,
and pays for the firewall and the names once. A container that fails on its own (a host port
taken, crun refusing its command) is unwound alone and reported; the others go on (the shared
steps are moved on without it). A failure of a shared step, of a process release or of the
commit unwinds every container of the batch: none is left half made.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from hatoba.drivers import registry as drivers
from hatoba.engine import endpoints, firewall, links, processes, resolver, volumes
from hatoba.engine.core import Core
from hatoba.engine.undo import UndoStack
from hatoba.errors import Conflict, HatobaError, InvalidArgument, KernelError, NotFound
from hatoba.files.hosts import render_hosts
from hatoba.files.resolvconf import ContainerResolv
from hatoba.model import health
from hatoba.model.container import RUNNING, Container, Endpoint, joined_container
from hatoba.model.ids import now_rfc3339
from hatoba.model.launch import LaunchRequest, ProcessSpec, Started
from hatoba.model.network import Network

Outcome = Container | HatobaError


@dataclass
class _Start:
    """One container of a start, as far as it got."""

    container: Container
    expect_attach: int
    undo: UndoStack = field(default_factory=UndoStack)
    # with its endpoints, namespace and ports: what the shared steps see
    wired: Container | None = None
    next_ifindex: int = 0
    started: Started | None = None
    error: HatobaError | None = None


def start_many(
    core: Core, wanted: Sequence[tuple[Container, int]], *, by_user: bool
) -> list[Outcome]:
    """Start these containers (each with the number of attach clients its shim waits for);
    the running container, or why it did not start, for each in order."""
    # a batch's own crun creates keep the kernel's fast path open among themselves: the
    # runtime's window would only add its writes to theirs, while they fork
    window = core.runtime.creating() if len(wanted) == 1 else contextlib.nullcontext()
    with window:
        return _start_many(core, wanted, by_user=by_user)


def _start_many(
    core: Core, wanted: Sequence[tuple[Container, int]], *, by_user: bool
) -> list[Outcome]:
    outcomes: dict[str, Outcome] = {}
    own = [(c, n) for c, n in wanted if joined_container(c.config.network_mode) is None]
    starts: list[_Start] = []
    try:
        for container, attach in own:
            start = _Start(container, attach)
            try:
                _make(core, start)
            except HatobaError as exc:
                start.undo.unwind()
                outcomes[container.id] = exc
                continue
            starts.append(start)
        if starts:
            for running in _run(core, starts, by_user=by_user):
                outcomes[running.id] = running
            for start in starts:
                if start.error is not None:
                    outcomes[start.container.id] = start.error
    except BaseException:
        for start in reversed(starts):
            start.undo.unwind()
        raise
    for container, attach in wanted:
        target = joined_container(container.config.network_mode)
        if target is not None:
            try:
                outcomes[container.id] = _start_joined(core, container, target, attach, by_user)
            except HatobaError as exc:
                outcomes[container.id] = exc
    return [outcomes[c.id] for c, _ in wanted]


def _make(core: Core, start: _Start) -> None:
    """The container's own steps, each with its undo on the container's stack."""
    container, undo = start.container, start.undo
    networks = [core.state.network(cfg.network_id) for cfg in container.networks]
    host_mode = in_host_namespace(networks)
    netns = None if host_mode else core.paths.netns(container.id)
    if netns is not None:
        # made on a thread of its own while the rest is planned: it is needed at the spawn
        made = core.kernel.begin_netns(netns)
        undo.push("namespace", lambda: _unmake_netns(core, made, netns))
    image = processes.image_of(core, container)
    # a user the container does not know, or a linked container that is not running, is
    # refused before anything is made
    linked = links.at_start(core, container)
    process = processes.main_process(core, container, image, linked.env)
    wanted_ports = firewall.wanted_ports(container.config, networks)
    eps: list[Endpoint] = []
    slot = 0
    for wanted, network in zip(container.networks, networks, strict=True):
        # the default route goes through the first network that gives an interface
        has_route = any(e.default_route for e in eps)
        ep = endpoints.plan(core, undo, container, network, wanted, slot, not has_route)
        slot += 1 if ep.ifname else 0
        eps.append(ep)
    if netns is not None:
        made()
    published = firewall.reserve(core, undo, container, wanted_ports, eps, networks)
    resolv = resolver.resolv_for(core, container, networks)
    # the runtime makes the container (crun create) while its network is wired below;
    # the process only runs at `runtime.start`, once all of it is in place
    core.runtime.spawn(
        _launch(
            core,
            container,
            process,
            image.layers if image else (),
            hostname=None if host_mode else container.hostname,
            netns=netns,
            files=_files(container, networks, eps, resolv, linked),
            expect_attach=start.expect_attach,
        )
    )
    undo.push("process", lambda: core.runtime.abort(container.id))
    if netns is not None:
        for ep, network in zip(eps, networks, strict=True):
            endpoints.wire(core, undo, container, network, ep, netns)
    start.wired = dataclasses.replace(
        container, endpoints=tuple(eps), netns=netns or "", published=published
    )
    start.next_ifindex = slot
    resolver.serve(core, undo, start.wired, networks, resolv, fresh=True)


def _unmake_netns(core: Core, made: Callable[[], None], netns: str) -> None:
    with contextlib.suppress(KernelError):  # not made: nothing to remove but what is left
        made()
    core.kernel.remove_netns(netns)


def _run(core: Core, starts: list[_Start], *, by_user: bool) -> list[Container]:
    """The shared steps, then the processes run and one commit records them."""
    batch = UndoStack()
    live = list(starts)
    try:
        # the first query or connection may come as soon as a process runs: ready before
        firewall.follow(core, batch, [s.wired for s in live if s.wired])
        resolver.publish(core, *(s.wired for s in live if s.wired))
        batch.push("dns names", lambda: resolver.publish(core))
        # each container exists once crun's create is done (they ran while all this was made)
        for start in live:
            try:
                start.started = core.runtime.created(start.container.id)
            except HatobaError as exc:
                start.error = exc
        failed = [s for s in live if s.started is None]
        if failed:
            live = [s for s in live if s.started is not None]
            # the shared steps again, without them
            firewall.follow(core, batch, [s.wired for s in live if s.wired])
            resolver.publish(core, *(s.wired for s in live if s.wired))
            for start in failed:
                start.undo.unwind()
        running = []
        for start in live:
            assert start.wired is not None
            running.append(
                _running(
                    dataclasses.replace(start.wired, next_ifindex=start.next_ifindex),
                    core.runtime.start(start.container.id),
                    by_user=by_user,
                )
            )
        if running:
            core.commit(containers=running)
    except BaseException:
        batch.unwind()
        raise
    batch.commit()
    for start in live:
        start.undo.commit()
    return running


def in_host_namespace(networks: Sequence[Network]) -> bool:
    return any(drivers.of(n).shares_host_namespace for n in networks)


def _files(
    container: Container,
    networks: Sequence[Network],
    eps: Sequence[Endpoint],
    resolv: ContainerResolv,
    linked: links.Linked,
) -> dict[str, str]:
    cfg = container.config
    if cfg.network_disabled:
        # Docker writes neither file then: the empty ones of its init layer are what is seen
        return {
            "/etc/hostname": container.hostname + "\n",
            "/etc/hosts": "",
            "/etc/resolv.conf": "",
        }
    if in_host_namespace(networks):
        try:
            hosts = open("/etc/hosts", encoding="utf-8").read()  # noqa: SIM115 - read at once
        except OSError:
            hosts = ""
        return {"/etc/resolv.conf": resolv.conf.render(), "/etc/hosts": hosts}
    addresses = [a for e in eps for a in e.addresses]
    return {
        "/etc/hostname": container.hostname + "\n",
        "/etc/hosts": render_hosts(
            container.hostname, addresses, cfg.extra_hosts, cfg.domainname, linked.hosts
        ),
        "/etc/resolv.conf": resolv.conf.render(),
    }


def _start_joined(
    core: Core, container: Container, ref: str, expect_attach: int, by_user: bool
) -> Container:
    """`--net container:`: the process starts in the namespace the other container's process
    runs in, with that container's hostname and its hosts, hostname and resolv.conf files;
    it makes no link, address, rule or DNS entry of its own (Docker's
    daemon/container_operations.go initializeNetworking)."""
    target = core.state.find_container(ref)
    if target is None:
        raise NotFound(f"No such container: {ref}")
    if target.id == container.id:
        raise InvalidArgument("cannot join own network")
    if not target.state.running:
        raise Conflict(f"cannot join network of a non running container: {ref}")
    joined = dataclasses.replace(
        container,
        config=dataclasses.replace(
            container.config, hostname=target.hostname, domainname=target.config.domainname
        ),
        netns_owner=target.id if target.netns else target.netns_owner,
    )
    # the files live with the container that made the namespace (or the host's, `--net host`)
    files_of = target.netns_owner if joined_container(target.config.network_mode) else target.id
    image = processes.image_of(core, joined)
    process = processes.main_process(core, joined, image)
    with UndoStack() as undo:
        core.runtime.spawn(
            _launch(
                core,
                joined,
                process,
                image.layers if image else (),
                hostname=joined.hostname,
                netns=core.paths.process_netns(target.state.pid),
                files={},
                files_of=files_of,
                expect_attach=expect_attach,
            )
        )
        undo.push("process", lambda: core.runtime.abort(container.id))
        running = _running(joined, core.runtime.start(container.id), by_user=by_user)
        core.commit(containers=[running])
        undo.commit()
    return running


def _launch(
    core: Core,
    container: Container,
    process: ProcessSpec,
    layers: tuple[str, ...],
    *,
    hostname: str | None,
    netns: str | None,
    files: dict[str, str],
    expect_attach: int,
    files_of: str = "",
) -> LaunchRequest:
    return LaunchRequest(
        container_id=container.id,
        process=process,
        hostname=hostname,
        netns=netns,
        layers=layers,
        files=files,
        open_stdin=container.config.open_stdin,
        expect_attach=expect_attach,
        init=bool(container.config.init),
        files_of=files_of,
        domainname=container.config.domainname,
        mounts=volumes.launch_mounts(core, container, populate=bool(layers)),
        security=container.config.security,
        resources=container.config.resources,
    )


def _running(container: Container, started: Started, *, by_user: bool) -> Container:
    """Running now; a start by the user begins the restart policy afresh, and a check starts
    over (`starting`); new volumes have had their first use."""
    cfg = container.config
    return dataclasses.replace(
        volumes.first_use_done(container),
        run_pending=False,
        state=dataclasses.replace(
            container.state,
            status=RUNNING,
            pid=started.pid,
            shim_pid=started.shim_pid,
            shim_start=started.shim_start_time,
            exit_code=0,
            error="",
            started_at=now_rfc3339(),
            restart_count=0 if by_user else container.state.restart_count,
            manually_stopped=False if by_user else container.state.manually_stopped,
            health=(
                health.restarted(container.state.health)
                if cfg.healthcheck is not None and cfg.healthcheck.probe
                else container.state.health
            ),
        ),
    )
