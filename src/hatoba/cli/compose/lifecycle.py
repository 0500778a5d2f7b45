"""`down`, `start`, `stop`, `restart`, `kill`, `rm`: the project's containers by their labels.

Containers are found by `com.docker.compose.project` (so `-p NAME` works without the file, as
with docker compose); stops go dependants first, starts dependencies first; the containers of
one service are handled in parallel. `down -v` and `rm -v` remove the containers' anonymous
volumes once the containers are gone (`down -v` the project's volumes too).
"""

from __future__ import annotations

import sys
from functools import partial

from hatoba.cli.compose.up import Failed, batch, error_of, together
from hatoba.cli.compose.volumes import remove_volumes
from hatoba.cli.errors import CliError
from hatoba.cli.parsing import Parser, confirm
from hatoba.compose.errors import ComposeError
from hatoba.compose.plan import anonymous_volumes, plan_down
from hatoba.errors import HatobaError, NotFound, NotModified

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from hatoba.cli.compose.progress import Progress
    from hatoba.cli.compose.session import Session
    from hatoba.compose.model import Project
    from hatoba.compose.plan import Observed


def _timeout(p: Parser) -> None:
    p.option(
        "-t", "--timeout", help="Specify a shutdown timeout in seconds", type=int, metavar="int"
    )


def _project_or_none(session: Session) -> tuple[str, Project | None]:
    """The project, or only its name when -p names one and there is no file."""
    try:
        project = session.project()
    except ComposeError:
        if not session.options.project_name:
            raise
        return session.options.project_name, None
    return project.name, project


def _groups(
    containers: list[Observed], project: Project | None, *, reverse: bool
) -> list[list[Observed]]:
    """Containers by service, in dependency order (or its reverse)."""
    order = {s.name: i for i, s in enumerate(project.services)} if project else {}
    by_rank: dict[int, list[Observed]] = {}
    for c in containers:
        by_rank.setdefault(order.get(c.service, len(order)), []).append(c)
    return [by_rank[r] for r in sorted(by_rank, reverse=reverse)]


def _run_groups(groups: list[list[Observed]], act: Callable[[Observed], None]) -> None:
    for group in groups:
        together([partial(act, c) for c in group])


def down(session: Session, args: list[str]) -> int:
    p = Parser(session.prog, "[OPTIONS] [SERVICES]", "Stop and remove containers, networks")
    p.flag("--remove-orphans", help="Remove containers for services not defined in the file")
    _timeout(p)
    p.flag("-v", "--volumes", help=_VOLUMES_HELP)
    ns = p.parse(args)
    p.expect(ns.args, 0, 0)
    name, project = _project_or_none(session)
    plan = plan_down(
        project,
        name,
        session.containers(name),
        session.networks(),
        remove_orphans=ns.remove_orphans,
        volumes=session.volumes() if ns.volumes else None,
    )
    progress = session.progress("Running")
    client = session.client

    def remove(c: Observed) -> None:
        label = f"Container {c.name}"
        if c.running:
            progress.event(label, "Stopping")
            _ignore_gone(lambda: client.call("POST", f"/containers/{c.id}/stop", {"t": ns.timeout}))
            progress.event(label, "Stopped")
        progress.event(label, "Removing")
        _ignore_gone(lambda: client.call("DELETE", f"/containers/{c.id}", {"force": 1}))
        progress.done(label, "Removed")

    batches = True  # the engine has hatoba's batch routes (until one is refused)

    def remove_together(group: list[Observed]) -> None:
        """A service's containers stopped in one request and removed in one (one request
        per container when the engine is not hatoba)."""
        nonlocal batches
        if not batches:
            together([partial(remove, c) for c in group])
            return
        running = [c for c in group if c.running]
        for c in running:
            progress.event(f"Container {c.name}", "Stopping")
        stop = {"Ids": [c.id for c in running], "Timeout": ns.timeout}
        stopped = batch(client, "stop", stop) if running else []
        if stopped is None:
            batches = False
            together([partial(remove, c) for c in group])
            return
        _raise_unless_gone(stopped)
        for c in group:
            if c.running:
                progress.event(f"Container {c.name}", "Stopped")
            progress.event(f"Container {c.name}", "Removing")
        removed = batch(client, "remove", {"Ids": [c.id for c in group], "Force": True})
        if removed is None:
            batches = False
            together([partial(remove, c) for c in group])
            return
        _raise_unless_gone(removed)
        for c in group:
            progress.done(f"Container {c.name}", "Removed")

    for group in _groups(list(plan.containers), project, reverse=True):
        remove_together(group)

    def remove_network(network_id: str, network_name: str) -> None:
        label = f"Network {network_name}"
        progress.event(label, "Removing")
        _ignore_gone(lambda: client.call("DELETE", f"/networks/{network_id}"))
        progress.done(label, "Removed")

    together([partial(remove_network, n.id, n.name) for n in plan.networks])
    remove_volumes(client, list(plan.volumes), progress)
    return 0


def _raise_unless_gone(answers: list[dict[str, Any]]) -> None:
    """The first error of a batch's answer, but that a container was gone or stopped."""
    for answer in answers:
        error = error_of(answer)
        if error is not None and not isinstance(error, NotFound | NotModified):
            raise error


_VOLUMES_HELP = (
    'Remove named volumes declared in the "volumes" section of the Compose file and anonymous '
    "volumes attached to containers"
)


def _ignore_gone(call: Callable[[], Any]) -> None:
    try:
        call()
    except (NotFound, NotModified):
        pass


def _selected(session: Session, names: list[str]) -> tuple[Project | None, list[Observed]]:
    name, project = _project_or_none(session)
    if project is not None:
        unknown = set(names) - set(project.service_names)
        if unknown:
            raise CliError(f"no such service: {', '.join(sorted(unknown))}")
    found = [
        c for c in session.containers(name) if not c.oneoff and (not names or c.service in names)
    ]
    return project, found


def _each(
    session: Session,
    args: list[str],
    usage: str,
    description: str,
    *,
    add: Callable[[Parser], None] | None = None,
    wanted: Callable[[Observed], bool],
    reverse: bool,
    act: Callable[[Session, Any, Observed, Progress], None],
) -> int:
    p = Parser(session.prog, usage, description)
    if add is not None:
        add(p)
    ns = p.parse(args)
    project, found = _selected(session, ns.args)
    progress = session.progress("Running")
    chosen = [c for c in found if wanted(c)]

    def one(c: Observed) -> None:
        try:
            act(session, ns, c, progress)
        except HatobaError as exc:
            progress.failed(f"Container {c.name}", "Error")
            raise Failed(c.service, exc.message) from None

    try:
        _run_groups(_groups(chosen, project, reverse=reverse), one)
    except Failed as exc:
        raise CliError(f"service {exc.service!r}: {exc.message}") from None
    return 0


def start(session: Session, args: list[str]) -> int:
    def act(session: Session, ns: Any, c: Observed, progress: Progress) -> None:
        progress.event(f"Container {c.name}", "Starting")
        _ignore_gone(lambda: session.client.call("POST", f"/containers/{c.id}/start"))
        progress.done(f"Container {c.name}", "Started")

    return _each(
        session, args, "[SERVICE...]", "Start services",
        wanted=lambda c: not c.running, reverse=False, act=act,
    )  # fmt: skip


def stop(session: Session, args: list[str]) -> int:
    def act(session: Session, ns: Any, c: Observed, progress: Progress) -> None:
        progress.event(f"Container {c.name}", "Stopping")
        _ignore_gone(
            lambda: session.client.call("POST", f"/containers/{c.id}/stop", {"t": ns.timeout})
        )
        progress.done(f"Container {c.name}", "Stopped")

    return _each(
        session, args, "[OPTIONS] [SERVICE...]", "Stop services",
        add=_timeout, wanted=lambda c: c.running, reverse=True, act=act,
    )  # fmt: skip


def restart(session: Session, args: list[str]) -> int:
    def act(session: Session, ns: Any, c: Observed, progress: Progress) -> None:
        progress.event(f"Container {c.name}", "Restarting")
        session.client.call("POST", f"/containers/{c.id}/restart", {"t": ns.timeout})
        progress.done(f"Container {c.name}", "Started")

    return _each(
        session, args, "[OPTIONS] [SERVICE...]", "Restart service containers",
        add=_timeout, wanted=lambda c: True, reverse=False, act=act,
    )  # fmt: skip


def kill(session: Session, args: list[str]) -> int:
    def add(p: Parser) -> None:
        p.option("-s", "--signal", help='SIGNAL to send to the container (default "SIGKILL")',
                 default="SIGKILL")  # fmt: skip

    def act(session: Session, ns: Any, c: Observed, progress: Progress) -> None:
        progress.event(f"Container {c.name}", "Killing")
        session.client.call("POST", f"/containers/{c.id}/kill", {"signal": ns.signal})
        progress.done(f"Container {c.name}", "Killed")

    return _each(
        session, args, "[OPTIONS] [SERVICE...]", "Force stop service containers",
        add=add, wanted=lambda c: c.running, reverse=True, act=act,
    )  # fmt: skip


def rm(session: Session, args: list[str]) -> int:
    p = Parser(session.prog, "[OPTIONS] [SERVICE...]", "Removes stopped service containers")
    p.flag("-f", "--force", help="Don't ask to confirm removal")
    p.flag("-s", "--stop", help="Stop the containers, if required, before removing")
    p.flag("-v", "--volumes", help="Remove any anonymous volumes attached to containers")
    ns = p.parse(args)
    project, found = _selected(session, ns.args)
    client = session.client
    if ns.stop:
        for c in found:
            if c.running:
                _ignore_gone(partial(client.call, "POST", f"/containers/{c.id}/stop"))
        _, found = _selected(session, ns.args)
    stopped = [c for c in found if not c.running]
    if not stopped:
        sys.stderr.write("No stopped containers\n")
        return 0
    if not ns.force and not confirm(
        f"Going to remove {', '.join(c.name for c in stopped)}\nAre you sure?"
    ):
        return 0
    progress = session.progress("Running")

    def remove(c: Observed) -> None:
        progress.event(f"Container {c.name}", "Removing")
        _ignore_gone(lambda: client.call("DELETE", f"/containers/{c.id}"))
        progress.done(f"Container {c.name}", "Removed")

    together([partial(remove, c) for c in stopped])
    if ns.volumes:
        named = {v.name for v in project.volumes} if project else set()
        remove_volumes(client, anonymous_volumes(stopped, named), progress)
    return 0
