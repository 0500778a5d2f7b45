"""`hatoba`: docker-like verbs, flags and outputs, as requests to the hatoba service.

    hatoba [--root DIR] [--run-root DIR] [-H unix:///PATH] [--debug] COMMAND ...

--root and --run-root default to $HATOBA_ROOT / $HATOBA_RUN_ROOT, else /var/lib/hatoba and
/run/hatoba. The service listens on <run-root>/hatoba.sock (or -H); when nothing answers
there, the command starts it in the background with the same roots (autostart.py).

Exit statuses are those of docker 20.10's CLI:
  0    success
  1    a failure: the service refused (`Error response from daemon: …`), an object does not
       exist (`Error: No such container: x`), a wrong number of arguments, no service answers
  125  a flag the command does not know or cannot use (`unknown flag: --x`, `invalid argument
       "x" for "--dns" flag: …`); `run` and `create` rejecting their arguments (`hatoba:
       invalid reference format.`); `run` failing on the hatoba side (`hatoba: Error response
       from daemon: ….`)
  126  `run`: the container's command cannot be executed
  127  `run`: the container's command was not found
  N    `run`, `start -a` and `exec` exit with the status of the command they ran
  130  interrupted; 141 stdout was closed early (`hatoba ps | head -1`)
"""

from __future__ import annotations

import os
import sys

from hatoba import __version__
from hatoba.cli.context import Context
from hatoba.cli.errors import CliError, UsageError
from hatoba.errors import HatobaError

TYPE_CHECKING = False  # `typing` costs ~4 ms of start-up; mypy treats this name as True
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    Handler = Callable[[Context, list[str]], int]
    # "module:function" in hatoba.cli, and the one-line help (None hides an alias)
    Commands = dict[str, tuple[str, str | None]]

_CONTAINER: Commands = {
    "run": ("run:run", "Run a command in a new container"),
    "create": ("run:create", "Create a new container"),
    "start": ("container:start", "Start one or more stopped containers"),
    "stop": ("container:stop", "Stop one or more running containers"),
    "restart": ("container:restart", "Restart one or more containers"),
    "kill": ("container:kill", "Kill one or more running containers"),
    "pause": ("container:pause", "Pause all processes within one or more containers"),
    "unpause": ("container:unpause", "Unpause all processes within one or more containers"),
    "update": ("container:update", "Update configuration of one or more containers"),
    "rename": ("container:rename", "Rename a container"),
    "rm": ("container:rm", "Remove one or more containers"),
    "wait": ("container:wait", "Block until containers stop, then print their exit codes"),
    "logs": ("container:logs", "Fetch the logs of a container"),
    "port": ("container:port", "List port mappings or a specific mapping for the container"),
    "stats": ("stats:stats", "Display a live stream of container(s) resource usage statistics"),
    "top": ("top:top", "Display the running processes of a container"),
    "exec": ("exec:run", "Run a command in a running container"),
    "cp": ("files:cp", "Copy files/folders between a container and the local filesystem"),
    "diff": ("files:diff", "Inspect changes to files or directories on a container's filesystem"),
    "export": ("files:export", "Export a container's filesystem as a tar archive"),
    "commit": ("files:commit", "Create a new image from a container's changes"),
}

_IMAGE: Commands = {
    "import": ("image:import_", "Import the contents from a tarball to create an image"),
    "load": ("image:load", "Load an image from a tar archive or STDIN"),
    "save": ("image:save", "Save one or more images to a tar archive (streamed to STDOUT)"),
    "tag": ("image:tag", "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE"),
}

_TOP: Commands = {
    **_CONTAINER,
    "ps": ("ps:ps", "List containers"),
    "inspect": ("inspect:inspect", "Return low-level information on hatoba objects"),
    "images": ("image:images", "List images"),
    "rmi": ("image:rmi", "Remove one or more images"),
    **_IMAGE,
    "capture": ("capture:capture", "Capture packets on a container, network or interface"),
    "trace": ("trace:trace", "Follow one flow through every hop (addresses, NAT, rules)"),
    "explain": ("trace:explain", "Say why a flow is delivered or dropped"),
    "events": ("events:events", "Get real time events from the server"),
    "info": ("system:info", "Display system-wide information"),
    "version": ("system:version", "Show the hatoba version information"),
    "compose": ("compose:compose", "Define and run multi-container applications (compose files)"),
    "service": (
        "system:service",
        "Run the hatoba service in the foreground (install: as a systemd unit)",
    ),
}

_GROUPS: dict[str, tuple[str, Commands]] = {
    "container": (
        "Manage containers",
        {
            **_CONTAINER,
            "ls": ("ps:ps", "List containers"),
            "ps": ("ps:ps", None),
            "list": ("ps:ps", None),
            "remove": ("container:rm", None),
            "inspect": ("inspect:containers", "Display detailed information on containers"),
            "prune": ("prune:containers", "Remove all stopped containers"),
        },
    ),
    "image": (
        "Manage images",
        {
            "ls": ("image:images", "List images"),
            "list": ("image:images", None),
            "rm": ("image:rmi", "Remove one or more images"),
            "remove": ("image:rmi", None),
            "inspect": ("inspect:images", "Display detailed information on one or more images"),
            "prune": ("prune:images", "Remove unused images"),
            **_IMAGE,
        },
    ),
    "network": (
        "Manage networks",
        {
            "connect": ("network:connect", "Connect a container to a network"),
            "create": ("network:create", "Create a network"),
            "disconnect": ("network:disconnect", "Disconnect a container from a network"),
            "inspect": ("network:inspect", "Display detailed information on one or more networks"),
            "ls": ("network:ls", "List networks"),
            "list": ("network:ls", None),
            "prune": ("network:prune", "Remove all unused networks"),
            "rm": ("network:rm", "Remove one or more networks"),
            "remove": ("network:rm", None),
            "topology": (
                "topology:topology",
                "Show the uplink, bridges, veth pairs, containers and published ports",
            ),
        },
    ),
    "volume": (
        "Manage volumes",
        {
            "create": ("volume:create", "Create a volume"),
            "inspect": ("volume:inspect", "Display detailed information on one or more volumes"),
            "ls": ("volume:ls", "List volumes"),
            "list": ("volume:ls", None),
            "prune": ("prune:volumes", "Remove all unused local volumes"),
            "rm": ("volume:rm", "Remove one or more volumes"),
            "remove": ("volume:rm", None),
        },
    ),
    "system": (
        "Manage hatoba",
        {
            "capture": ("capture:capture", "Capture packets on a container, network or interface"),
            "trace": ("trace:trace", "Follow one flow through every hop (addresses, NAT, rules)"),
            "explain": ("trace:explain", "Say why a flow is delivered or dropped"),
            "events": ("events:events", "Get real time events from the server"),
            "info": ("system:info", "Display system-wide information"),
            "df": ("prune:disk_usage", "Show hatoba disk usage"),
            "prune": ("prune:system", "Remove unused data"),
            "reset": (
                "system:reset",
                "Remove all hatoba state: containers, networks, images, volumes",
            ),
            "firewall-reload": ("system:firewall_reload", "Rewrite hatoba's nftables table"),
        },
    ),
}

_GLOBAL_HELP = """
Usage:  hatoba [OPTIONS] COMMAND

A Docker-compatible container networking engine

Options:
      --root string       State directory (default "/var/lib/hatoba", env HATOBA_ROOT)
      --run-root string   Sockets and runtime state (default "/run/hatoba", env HATOBA_RUN_ROOT)
  -H, --host string       Service socket to connect to (unix:///path)
  -D, --debug             Show each request with its status and the service's time, and
                          tracebacks of unexpected errors
  -v, --version           Print version information and quit
"""


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    debug = False
    try:
        ctx, rest = _global_options(args)
        debug = ctx.debug
        return _dispatch(ctx, rest)
    except CliError as exc:
        return _fail(exc.message, exc.code)
    except HatobaError as exc:
        return _fail(f"Error response from daemon: {exc.message}", 1)
    except SystemExit as exc:  # after --help
        return exc.code if isinstance(exc.code, int) else 0
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # nobody reads our output any more; keep Python from complaining at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except ConnectionError as exc:
        return _fail(f"error during connect: {exc}", 1)
    except Exception as exc:
        if debug:
            raise
        return _fail(f"hatoba: unexpected error: {exc!r} (run with --debug for details)", 1)


def _fail(message: str, code: int) -> int:
    sys.stdout.flush()
    if message:
        sys.stderr.write(message.rstrip("\n") + "\n")
    return code


def _global_options(args: list[str]) -> tuple[Context, list[str]]:
    env = os.environ
    values = {
        "--root": env.get("HATOBA_ROOT") or "/var/lib/hatoba",
        "--run-root": env.get("HATOBA_RUN_ROOT") or "/run/hatoba",
    }
    host = None
    debug = False
    i = 0
    while i < len(args) and args[i].startswith("-") and args[i] != "-":
        name, has_value, value = args[i].partition("=")
        i += 1
        if name in ("-D", "--debug"):
            debug = True
        elif name in ("-h", "--help"):
            sys.stdout.write(_usage())
            raise SystemExit(0)
        elif name in ("-v", "--version"):
            sys.stdout.write(f"hatoba version {__version__}\n")
            raise SystemExit(0)
        elif name in ("--root", "--run-root", "-H", "--host"):
            if not has_value:
                if i == len(args):
                    raise UsageError(f"flag needs an argument: {name}", "hatoba")
                value = args[i]
                i += 1
            if name in ("-H", "--host"):
                if not value.startswith("unix://"):
                    raise CliError(f"hatoba: only unix:// hosts are supported, not {value}")
                host = value
            else:
                values[name] = value
        else:
            raise UsageError(f"unknown flag: {name}", "hatoba")
    return Context(values["--root"], values["--run-root"], host, debug), args[i:]


def _dispatch(ctx: Context, args: list[str]) -> int:
    if not args:
        sys.stdout.write(_usage())
        return 0
    verb, rest = args[0], args[1:]
    if verb in _GROUPS:
        title, commands = _GROUPS[verb]
        if not rest or rest[0] in ("-h", "--help"):
            sys.stdout.write(_group_usage(verb, title, commands))
            return 0
        if rest[0] not in commands:
            raise CliError(
                f"hatoba: '{verb} {rest[0]}' is not a hatoba command.\nSee 'hatoba {verb} --help'"
            )
        target = commands[rest[0]][0]
        ctx.prog = f"hatoba {verb} {rest[0]}"
        rest = rest[1:]
    elif verb in _TOP:
        target = _TOP[verb][0]
        ctx.prog = f"hatoba {verb}"
    else:
        raise CliError(f"hatoba: '{verb}' is not a hatoba command.\nSee 'hatoba --help'")
    module, function = target.split(":")
    name = f"hatoba.cli.{module}"
    __import__(name)  # importlib would load `warnings` too: start-up time
    handler: Handler = getattr(sys.modules[name], function)
    return handler(ctx, rest)


def _listing(commands: Mapping[str, tuple[str, str | None]]) -> str:
    shown = [(name, text) for name, (_, text) in commands.items() if text]
    width = max(len(name) for name, _ in shown) + 3
    return "".join(f"  {name.ljust(width)}{text}\n" for name, text in sorted(shown))


def _usage() -> str:
    groups = {name: (".", title) for name, (title, _) in _GROUPS.items()}
    return (
        f"{_GLOBAL_HELP}\nManagement Commands:\n{_listing(groups)}\n"
        f"Commands:\n{_listing(_TOP)}\n"
        "Run 'hatoba COMMAND --help' for more information on a command.\n"
    )


def _group_usage(verb: str, title: str, commands: Commands) -> str:
    return (
        f"\nUsage:  hatoba {verb} COMMAND\n\n{title}\n\nCommands:\n{_listing(commands)}\n"
        f"Run 'hatoba {verb} COMMAND --help' for more information on a command.\n"
    )
