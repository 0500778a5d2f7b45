"""`hatoba start|stop|restart|kill|pause|unpause|update|rm|wait|logs|port` (run, create, ps,
exec: their own modules)."""

from __future__ import annotations

import os
import sys

from hatoba.cli.attach import start_attached
from hatoba.cli.errors import CliError
from hatoba.cli.parsing import Parser
from hatoba.cli.stream import Output
from hatoba.errors import HatobaError, NotFound

TYPE_CHECKING = False  # `typing` costs ~4 ms of start-up; mypy treats this name as True
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from hatoba.cli.context import Context

_SEVERAL = "CONTAINER [CONTAINER...]"


def inspect_container(ctx: Context, name: str) -> Any:
    """GET /containers/{name}/json; a missing one is docker's `Error: No such container: x`."""
    try:
        return ctx.client.json("GET", f"/containers/{name}/json")
    except NotFound:
        raise CliError(f"Error: No such container: {name}") from None


def start(ctx: Context, args: list[str]) -> int:
    p = Parser(ctx.prog, f"[OPTIONS] {_SEVERAL}", "Start one or more stopped containers")
    p.flag("-a", "--attach", help="Attach STDOUT/STDERR and forward signals")
    p.flag("-i", "--interactive", help="Attach container's STDIN")
    ns = p.parse(args)
    p.expect(ns.args, 1)
    if ns.attach or ns.interactive:
        if len(ns.args) > 1:
            raise CliError("you cannot start and attach multiple containers at once")
        return _start_attached(ctx, ns.args[0], stdin=ns.interactive)
    failed = []
    for name in ns.args:
        try:
            ctx.client.call("POST", f"/containers/{name}/start")
        except HatobaError as exc:
            _report(f"Error response from daemon: {exc.message}")
            failed.append(name)
        else:
            sys.stdout.write(name + "\n")
    if failed:
        raise CliError(f"Error: failed to start containers: {', '.join(failed)}")
    return 0


def _start_attached(ctx: Context, name: str, *, stdin: bool) -> int:
    info = inspect_container(ctx, name)
    config = info.get("Config") or {}
    tty = bool(config.get("Tty"))
    stdin = stdin and bool(config.get("OpenStdin"))
    if tty and stdin and not os.isatty(0):
        raise CliError("the input device is not a TTY")
    path = f"/containers/{info['Id']}"
    client = ctx.client
    conn = client.hijack(
        "POST", f"{path}/attach", {"stream": 1, "stdin": stdin, "stdout": 1, "stderr": 1}
    )
    return start_attached(
        client,
        conn,
        path,
        tty=tty,
        stdin=stdin,
        removed=bool((info.get("HostConfig") or {}).get("AutoRemove")),
        start=lambda: client.call("POST", f"{path}/start"),
    )


def stop(ctx: Context, args: list[str]) -> int:
    p = Parser(ctx.prog, f"[OPTIONS] {_SEVERAL}", "Stop one or more running containers")
    p.option(
        "-t", "--time", help="Seconds to wait for stop before killing it", type=int, metavar="int"
    )
    ns = p.parse(args)
    p.expect(ns.args, 1)
    return _post_each(ctx, ns.args, "stop", {"t": ns.time})


def restart(ctx: Context, args: list[str]) -> int:
    p = Parser(ctx.prog, f"[OPTIONS] {_SEVERAL}", "Restart one or more containers")
    p.option(
        "-t",
        "--time",
        help="Seconds to wait for stop before killing the container",
        type=int,
        metavar="int",
    )
    ns = p.parse(args)
    p.expect(ns.args, 1)
    return _post_each(ctx, ns.args, "restart", {"t": ns.time})


def kill(ctx: Context, args: list[str]) -> int:
    p = Parser(ctx.prog, f"[OPTIONS] {_SEVERAL}", "Kill one or more running containers")
    p.option(
        "-s", "--signal", help='Signal to send to the container (default "KILL")', default="KILL"
    )
    ns = p.parse(args)
    p.expect(ns.args, 1)
    return _post_each(ctx, ns.args, "kill", {"signal": ns.signal})


def pause(ctx: Context, args: list[str]) -> int:
    p = Parser(ctx.prog, _SEVERAL, "Pause all processes within one or more containers")
    ns = p.parse(args)
    p.expect(ns.args, 1)
    return _post_each(ctx, ns.args, "pause", {})


def unpause(ctx: Context, args: list[str]) -> int:
    p = Parser(ctx.prog, _SEVERAL, "Unpause all processes within one or more containers")
    ns = p.parse(args)
    p.expect(ns.args, 1)
    return _post_each(ctx, ns.args, "unpause", {})


def update(ctx: Context, args: list[str]) -> int:
    """docker's update: the same body for every container; names as they worked, then the
    warnings, then the errors."""
    from hatoba.cli.runconfig import add_resource_flags, resources, restart_policy

    p = Parser(
        ctx.prog,
        "[OPTIONS] CONTAINER [CONTAINER...]",
        "Update configuration of one or more containers",
    )
    add_resource_flags(p, update=True)
    p.option("--restart", help="Restart policy to apply when a container exits", default="")
    ns = p.parse(args)
    p.expect(ns.args, 1)
    if all(not value for key, value in vars(ns).items() if key != "args"):
        raise CliError("you must provide one or more flags when using this command")
    body = resources(ns)
    if ns.pids_limit:
        body["PidsLimit"] = ns.pids_limit
    if ns.restart:
        body["RestartPolicy"] = restart_policy(ns.restart, ctx.prog)
    warnings: list[str] = []
    errors = []
    for name in ns.args:
        try:
            answer = ctx.client.json("POST", f"/containers/{name}/update", body=body)
        except HatobaError as exc:
            errors.append(f"Error response from daemon: {exc.message}")
            continue
        sys.stdout.write(name + "\n")
        warnings += answer.get("Warnings") or []
    if warnings:
        sys.stdout.write("\n".join(warnings) + "\n")
    if errors:
        raise CliError("\n".join(errors))
    return 0


def rename(ctx: Context, args: list[str]) -> int:
    p = Parser(ctx.prog, "CONTAINER NEW_NAME", "Rename a container")
    ns = p.parse(args)
    p.expect(ns.args, 2, 2)
    old, new = ns.args
    ctx.client.call("POST", f"/containers/{old}/rename", {"name": new})
    return 0


def rm(ctx: Context, args: list[str]) -> int:
    p = Parser(ctx.prog, f"[OPTIONS] {_SEVERAL}", "Remove one or more containers")
    p.flag("-f", "--force", help="Force the removal of a running container (uses SIGKILL)")
    p.flag("-l", "--link", help="Remove the specified link")
    p.flag("-v", "--volumes", help="Remove anonymous volumes associated with the container")
    ns = p.parse(args)
    p.expect(ns.args, 1)
    query = {"force": ns.force or None, "v": ns.volumes or None, "link": ns.link or None}

    def remove(name: str) -> None:
        try:
            ctx.client.call("DELETE", f"/containers/{name}", query)
        except NotFound:
            message = f"Error: No such container: {name}"
            if not ns.force:
                raise CliError(message) from None
            _report(message)  # docker 20.10: reported, not a failure
            raise _Skip() from None

    return _each(ns.args, remove)


def wait(ctx: Context, args: list[str]) -> int:
    p = Parser(
        ctx.prog, _SEVERAL, "Block until one or more containers stop, then print their exit codes"
    )
    ns = p.parse(args)
    p.expect(ns.args, 1)
    errors = []
    for name in ns.args:
        try:
            result = ctx.client.json("POST", f"/containers/{name}/wait")
        except HatobaError as exc:
            errors.append(f"Error response from daemon: {exc.message}")
        else:
            sys.stdout.write(f"{result.get('StatusCode', 0)}\n")
    if errors:
        raise CliError("\n".join(errors))
    return 0


def _post_each(ctx: Context, names: list[str], action: str, query: dict[str, Any]) -> int:
    """POST /containers/{name}/{action} for every name, the way `_each` does."""
    return _each(names, lambda name: ctx.client.call("POST", f"/containers/{name}/{action}", query))


class _Skip(Exception):
    """Neither printed as done nor counted as a failure."""


def _each(names: list[str], action: Callable[[str], None]) -> int:
    """docker's parallelOperation: act on every name, print those that worked in order, then
    fail with the errors of the others."""
    outcomes = _parallel(names, action)
    errors = []
    for name, error in zip(names, outcomes, strict=True):
        if error is None:
            sys.stdout.write(name + "\n")
        elif error:
            errors.append(error)
    if errors:
        raise CliError("\n".join(errors))
    return 0


def _parallel(names: list[str], action: Callable[[str], None]) -> list[str | None]:
    """For each name: None when done, "" when skipped, else the error text."""

    def attempt(name: str) -> str | None:
        try:
            action(name)
        except _Skip:
            return ""
        except CliError as exc:
            return exc.message
        except HatobaError as exc:
            return f"Error response from daemon: {exc.message}"
        return None

    if len(names) == 1:
        return [attempt(names[0])]
    import threading

    outcomes: list[str | None] = [None] * len(names)

    def work(i: int) -> None:
        outcomes[i] = attempt(names[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(names))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def _report(message: str) -> None:
    sys.stdout.flush()
    sys.stderr.write(message + "\n")


def logs(ctx: Context, args: list[str]) -> int:
    p = Parser(ctx.prog, "[OPTIONS] CONTAINER", "Fetch the logs of a container")
    p.flag("-f", "--follow", help="Follow log output")
    p.option(
        "-n",
        "--tail",
        help='Number of lines to show from the end of the logs (default "all")',
        default="all",
    )
    p.flag("-t", "--timestamps", help="Show timestamps")
    p.option("--since", help="Show logs since timestamp or relative (e.g. 42m)", default="")
    p.option("--until", help="Show logs before a timestamp or relative (e.g. 42m)", default="")
    p.flag("--details", help="Show extra details provided to logs")
    ns = p.parse(args)
    p.expect(ns.args, 1, 1)
    info = inspect_container(ctx, ns.args[0])
    query = {
        "stdout": 1,
        "stderr": 1,
        "since": ns.since or None,
        "until": ns.until or None,
        "timestamps": ns.timestamps,
        "follow": ns.follow,
        "tail": ns.tail,
        "details": ns.details,
    }
    response = ctx.client.request("GET", f"/containers/{info['Id']}/logs", query)
    output = Output(tty=bool((info.get("Config") or {}).get("Tty")))
    sys.stdout.flush()
    for chunk in response.chunks():
        output.write(chunk)
    return 0


def port(ctx: Context, args: list[str]) -> int:
    p = Parser(
        ctx.prog,
        "CONTAINER [PRIVATE_PORT[/PROTO]]",
        "List port mappings or a specific mapping for the container",
    )
    ns = p.parse(args)
    p.expect(ns.args, 1, 2)
    info = inspect_container(ctx, ns.args[0])
    ports = (info.get("NetworkSettings") or {}).get("Ports") or {}
    if len(ns.args) == 2:
        number, _, proto = ns.args[1].partition("/")
        key = f"{number}/{proto or 'tcp'}"
        if not ports.get(key):
            raise CliError(f"Error: No public port '{key}' published for {ns.args[0]}")
        sys.stdout.write("".join(f"{b['HostIp']}:{b['HostPort']}\n" for b in ports[key]))
        return 0
    for key in sorted(ports, key=_port_order):
        sys.stdout.write(
            "".join(f"{key} -> {b['HostIp']}:{b['HostPort']}\n" for b in ports[key] or [])
        )
    return 0


def _port_order(key: str) -> tuple[int, str]:
    number, _, proto = key.partition("/")
    return (int(number) if number.isdigit() else 0, proto)
