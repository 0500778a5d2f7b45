"""`hatoba exec`: POST /containers/{id}/exec, POST /exec/{id}/start (hijacked unless -d), then
GET /exec/{id}/json for the exit status it ends with."""

from __future__ import annotations

import os

from hatoba.cli.attach import session
from hatoba.cli.errors import CliError
from hatoba.cli.parsing import Parser
from hatoba.cli.runconfig import environment

TYPE_CHECKING = False  # `typing` costs ~4 ms of start-up; mypy treats this name as True
if TYPE_CHECKING:
    from hatoba.cli.context import Context


def run(ctx: Context, args: list[str]) -> int:
    p = Parser(
        ctx.prog, "[OPTIONS] CONTAINER COMMAND [ARG...]", "Run a command in a running container"
    )
    p.flag("-d", "--detach", help="Detached mode: run command in the background")
    p.flag("-i", "--interactive", help="Keep STDIN open even if not attached")
    p.flag("-t", "--tty", help="Allocate a pseudo-TTY")
    p.repeated("-e", "--env", help="Set environment variables")
    p.repeated("--env-file", help="Read in a file of environment variables")
    p.option("-w", "--workdir", help="Working directory inside the container", default="")
    p.option("-u", "--user", help="Username or UID (format: <name|uid>[:<group|gid>])", default="")
    p.flag("--privileged", help="Give extended privileges to the command")
    ns = p.parse_until_positional(args)
    p.expect(ns.args, 2)
    container, command = ns.args[0], ns.args[1:]
    attach = not ns.detach
    if attach and ns.tty and ns.interactive and not os.isatty(0):
        raise CliError("the input device is not a TTY")
    body = {
        "User": ns.user,
        "Privileged": ns.privileged,
        "Tty": ns.tty,
        "AttachStdin": ns.interactive and attach,
        "AttachStderr": attach,
        "AttachStdout": attach,
        "Detach": ns.detach,
        "DetachKeys": "",
        "Env": environment(ns.env_file, ns.env, ctx.prog) or None,
        "WorkingDir": ns.workdir,
        "Cmd": command,
    }
    client = ctx.client
    exec_id = client.json("POST", f"/containers/{container}/exec", body=body)["Id"]
    start = {"Detach": ns.detach, "Tty": ns.tty}
    if ns.detach:
        client.call("POST", f"/exec/{exec_id}/start", body=start)
        return 0
    conn = client.hijack("POST", f"/exec/{exec_id}/start", body=start)
    session(client, conn, tty=ns.tty, stdin=ns.interactive, resize_path=f"/exec/{exec_id}/resize")
    result = client.json("GET", f"/exec/{exec_id}/json") or {}
    return int(result.get("ExitCode") or 0)
