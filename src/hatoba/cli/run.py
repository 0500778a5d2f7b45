"""`hatoba run` and `hatoba create`.

run follows docker's calls: create; then, when attached, hijack POST …/attach, send POST
…/wait?condition=next-exit (or removed, with --rm) before POST …/start, relay the streams, and
exit with the status the wait reports. `run -d` creates and starts in one request (hatoba's
POST /hatoba/containers/run; create, then start against an engine without it) and prints the id.

Unlike docker, a run whose start fails removes the container it created (docker leaves it in
`Created`): a failed `run` changes nothing, even when the service crashes in between (the
create is marked as part of a run, and the service's reconcile removes marked containers).
"""

from __future__ import annotations

import os
import sys

from hatoba.cli.errors import CliError, Reported
from hatoba.cli.parsing import Parser
from hatoba.cli.runconfig import add_flags, create_body
from hatoba.errors import HatobaError, NotFound, from_status
from hatoba.model.runmark import RUN_PENDING

TYPE_CHECKING = False  # `typing` costs ~4 ms of start-up; mypy treats this name as True
if TYPE_CHECKING:
    from typing import Any

    from hatoba.cli.context import Context
    from hatoba.cli.parsing import Values


def _parse(ctx: Context, args: list[str], description: str, *, run: bool) -> Values:
    # -h is --hostname here, as in docker
    p = Parser(ctx.prog, "[OPTIONS] IMAGE [COMMAND] [ARG...]", description, short_help=False)
    if run:
        p.flag("-d", "--detach", help="Run container in background and print container ID")
    add_flags(p)
    ns = p.parse_until_positional(args)
    p.expect(ns.args, 1)
    return ns


def create(ctx: Context, args: list[str]) -> int:
    ns = _parse(ctx, args, "Create a new container", run=False)
    body = create_body(ns, ctx.prog, detach=False, stdin_once=False)
    try:
        cid = _created_id(_create(ctx, ns.name, body))
    except NotFound as exc:
        _missing_image(exc, body)
        raise
    sys.stdout.write(cid + "\n")
    return 0


def run(ctx: Context, args: list[str]) -> int:
    ns = _parse(ctx, args, "Run a command in a new container", run=True)
    if not ns.detach and ns.tty and ns.interactive and not os.isatty(0):
        raise CliError("the input device is not a TTY")
    body = create_body(ns, ctx.prog, detach=ns.detach, stdin_once=not ns.detach)
    try:
        if ns.detach:
            created, started = _create_and_start(ctx, ns.name, body)
        else:
            created, started = _create(ctx, ns.name, body, run=True), False
    except HatobaError as exc:
        if isinstance(exc, NotFound):
            _missing_image(exc, body)
        raise _run_error(exc, ctx.prog, with_help=True) from None
    cid = _created_id(created)
    if not ns.detach:
        return _run_attached(ctx, cid, ns)
    if not started:
        _start(ctx, cid)
    elif error := created.get("Error"):
        # the service removed the container that did not start
        failed = from_status(int(error["Status"]), str(error["Message"]))
        raise _run_error(failed, ctx.prog, with_help=False)
    sys.stdout.write(cid + "\n")
    return 0


def _create(ctx: Context, name: str, body: dict[str, Any], run: bool = False) -> dict[str, Any]:
    # a run's container is marked until its start succeeds, so that the service removes it
    # if it crashes in between (this CLI would have reported the run as failed)
    query = {"name": name or None, RUN_PENDING: 1 if run else None}
    created: dict[str, Any] = ctx.client.json("POST", "/containers/create", query, body)
    return created


def _create_and_start(ctx: Context, name: str, body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """POST /hatoba/containers/run: created and started in one request, or removed again with
    the start's Error in the answer; only created (False) by an engine without that route."""
    try:
        ran = ctx.client.json("POST", "/hatoba/containers/run", {"name": name or None}, body)
    except NotFound as exc:
        if not exc.message.startswith("page not found"):
            raise
        return _create(ctx, name, body, run=True), False
    return ran, True


def _created_id(created: dict[str, Any]) -> str:
    """The container's id, once the create's warnings are shown."""
    for warning in created.get("Warnings") or []:
        sys.stderr.write(f"WARNING: {warning}\n")
    return str(created["Id"])


def _missing_image(exc: NotFound, body: dict[str, Any]) -> None:
    if exc.message.startswith("No such image"):
        sys.stderr.write(f"Unable to find image '{with_tag(body['Image'])}' locally\n")


def with_tag(image: str) -> str:
    """The reference with docker's default tag: `alpine` → `alpine:latest`."""
    if "@" in image or ":" in image.rpartition("/")[2]:
        return image
    return image + ":latest"


def _run_attached(ctx: Context, cid: str, ns: Values) -> int:
    # not needed by `run -d`, the command whose start-up matters most
    from hatoba.cli.attach import start_attached

    client = ctx.client
    path = f"/containers/{cid}"
    try:
        conn = client.hijack(
            "POST",
            f"{path}/attach",
            {"stream": 1, "stdin": ns.interactive, "stdout": 1, "stderr": 1},
        )
    except HatobaError as exc:
        _discard(ctx, cid)
        raise _run_error(exc, ctx.prog, with_help=False) from None
    return start_attached(
        client,
        conn,
        path,
        tty=ns.tty,
        stdin=ns.interactive,
        removed=ns.rm,
        start=lambda: _start(ctx, cid),
    )


def _start(ctx: Context, cid: str) -> None:
    try:
        ctx.client.call("POST", f"/containers/{cid}/start")
    except HatobaError as exc:
        _discard(ctx, cid)
        raise _run_error(exc, ctx.prog, with_help=False) from None


def _discard(ctx: Context, cid: str) -> None:
    try:
        ctx.client.call("DELETE", f"/containers/{cid}", {"force": 1, "v": 1})
    except HatobaError:
        pass  # gone already (--rm)


def _run_error(exc: HatobaError, prog: str, *, with_help: bool) -> Reported:
    return Reported(
        f"Error response from daemon: {exc.message}",
        prog,
        with_help=with_help,
        code=run_status(exc.message),
    )


def run_status(message: str) -> int:
    """docker's runStartContainerErr: 127 command not found, 126 not executable, else 125.
    Unlike docker, case-insensitive: crun says `…: No such file or directory`."""
    text = message.lower()
    if "executable file not found" in text or "no such file or directory" in text:
        return 127
    if "permission denied" in text:
        return 126
    return 125
