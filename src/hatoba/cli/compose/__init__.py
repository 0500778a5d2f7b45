"""`hatoba compose`: compose files run over the Engine API, as docker compose runs them.

    hatoba compose [-f FILE…] [-p NAME] [--project-directory DIR] [--env-file FILE…]
                   [--profile P…] [--progress auto|tty|plain|quiet] COMMAND

The files become a typed project in the pure package `hatoba.compose` (loaded once, then
cached: session.py); each command here reads what the engine has, asks the pure planner what
to do and does it with the CLI's own client. Only these modules may import hatoba.compose,
PyYAML and jsonschema (import-linter), so that the other commands start as fast as before.
"""

from __future__ import annotations

import sys

from hatoba.cli.compose.session import Session
from hatoba.cli.errors import CliError
from hatoba.cli.parsing import Parser
from hatoba.compose.errors import ComposeError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hatoba.cli.context import Context

# command → ("module:function" in hatoba.cli.compose, help)
COMMANDS = {
    "up": ("up:up", "Create and start containers"),
    "down": ("lifecycle:down", "Stop and remove containers, networks"),
    "ps": ("show:ps", "List containers"),
    "logs": ("show:logs", "View output from containers"),
    "exec": ("oneoff:exec_", "Execute a command in a running container"),
    "run": ("oneoff:run", "Run a one-off command on a service"),
    "start": ("lifecycle:start", "Start services"),
    "stop": ("lifecycle:stop", "Stop services"),
    "restart": ("lifecycle:restart", "Restart service containers"),
    "kill": ("lifecycle:kill", "Force stop service containers"),
    "rm": ("lifecycle:rm", "Removes stopped service containers"),
    "config": ("show:config", "Parse, resolve and render compose file in canonical format"),
    "port": ("show:port", "Print the public port for a port binding"),
}


def compose(ctx: Context, args: list[str]) -> int:
    p = Parser(
        ctx.prog,
        "[OPTIONS] COMMAND",
        f"Define and run multi-container applications\n\nCommands:\n{_listing()}",
    )
    p.repeated("-f", "--file", help="Compose configuration files", metavar="stringArray")
    p.option("-p", "--project-name", help="Project name", default="")
    p.option(
        "--project-directory",
        help="Specify an alternate working directory (default: the path of the first file)",
        default="",
    )
    p.repeated("--env-file", help="Specify an alternate environment file", metavar="stringArray")
    p.repeated("--profile", help="Specify a profile to enable", metavar="stringArray")
    p.option(
        "--progress", help="Set type of progress output (auto, tty, plain, quiet)", default="auto"
    )
    ns = p.parse_until_positional(args)
    if not ns.args:
        sys.stdout.write(p.format_help())
        return 0
    verb, rest = ns.args[0], ns.args[1:]
    if verb not in COMMANDS:
        raise CliError(
            f"hatoba: 'compose {verb}' is not a hatoba command.\nSee '{ctx.prog} --help'"
        )
    if ns.progress not in ("auto", "tty", "plain", "quiet"):
        raise CliError(f"unsupported --progress value {ns.progress!r}")
    session = Session(ctx, ns, f"{ctx.prog} {verb}")
    module, function = COMMANDS[verb][0].split(":")
    name = f"hatoba.cli.compose.{module}"
    __import__(name)
    try:
        code: int = getattr(sys.modules[name], function)(session, rest)
    except ComposeError as exc:
        raise CliError(exc.message) from None
    return code


def _listing() -> str:
    width = max(len(n) for n in COMMANDS) + 3
    return "".join(f"  {n.ljust(width)}{text}\n" for n, (_, text) in sorted(COMMANDS.items()))
