"""`hatoba service install|uninstall`: a systemd unit that runs the service on a real host.

On a host with systemd, systemd is the service's keeper (what hatoba/keeper.py is for a
service a command started): the unit restarts it when it dies, and KillMode=process leaves the
containers' shims alone, so containers outlive a restart as they do under the keeper. Nothing
here calls systemctl: the command writes or removes the file and says what to run next.
"""

from __future__ import annotations

import os
import sys

from hatoba.cli.autostart import running_service, service_argv
from hatoba.cli.errors import CliError
from hatoba.cli.parsing import Parser

TYPE_CHECKING = False  # `typing` costs ~4 ms of start-up; mypy treats this name as True
if TYPE_CHECKING:
    from hatoba.cli.context import Context

UNIT_DIR = "/etc/systemd/system"
UNIT_NAME = "hatoba.service"
_MARK = "# Written by `hatoba service install`; `hatoba service uninstall` removes it.\n"

_UNIT = """\
[Unit]
Description=hatoba container networking engine
# the uplink's MTU and the host's routes are read at start; a host firewall loads before ours
After=network-online.target nftables.service firewalld.service
Wants=network-online.target

[Service]
# READY=1 comes once the API socket serves: `systemctl start` and units ordered after this
# one wait for a working socket
Type=notify
ExecStart={exec_start}
Restart=always
RestartSec=100ms
# another hatoba service holds this run root: starting again cannot help
RestartPreventExitStatus=3
# only the service itself is stopped: containers (their shims) live on across a restart and the
# next service takes them over
KillMode=process
# the service raises its soft limit to this; each container with embedded DNS costs it 4
LimitNOFILE=524288
# containers' processes stay in this unit's cgroup
TasksMax=infinity

[Install]
WantedBy=multi-user.target
"""


def render_unit(argv: list[str]) -> str:
    return _MARK + _UNIT.format(exec_start=" ".join(_quote(arg) for arg in argv))


def _quote(arg: str) -> str:
    """One word of a systemd command line: specifiers (%) and variables ($) taken literally."""
    arg = arg.replace("%", "%%").replace("$", "$$")
    if arg and not any(c.isspace() or c in "\"'\\;" for c in arg):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def install(ctx: Context, args: list[str]) -> int:
    p = Parser(ctx.prog, "[OPTIONS]", "Write a systemd unit that runs the hatoba service")
    p.option("--root", help="State directory of the service", default=ctx.root)
    p.option("--run-root", help="Sockets and runtime state of the service", default=ctx.run_root)
    p.option("--unit-dir", help="Where to write hatoba.service", default=UNIT_DIR)
    ns = p.parse(args)
    p.expect(ns.args, 0, 0)
    path = os.path.join(ns.unit_dir, UNIT_NAME)
    _refuse_foreign(path)
    text = render_unit(service_argv(ns.root, ns.run_root))
    try:
        os.makedirs(ns.unit_dir, exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as exc:
        raise CliError(f"hatoba: cannot write {path}: {exc.strerror}") from None
    out = f"Wrote {path}.\nStart it now and at every boot with:\n"
    out += "  systemctl daemon-reload && systemctl enable --now hatoba\n"
    pid = running_service(ns.run_root)
    if pid is not None:
        out += f"A service started by a command runs now: stop it first with: kill {pid}\n"
    sys.stdout.write(out)
    return 0


def uninstall(ctx: Context, args: list[str]) -> int:
    p = Parser(ctx.prog, "[OPTIONS]", "Remove the systemd unit of the hatoba service")
    p.option("--unit-dir", help="Where hatoba.service was written", default=UNIT_DIR)
    ns = p.parse(args)
    p.expect(ns.args, 0, 0)
    path = os.path.join(ns.unit_dir, UNIT_NAME)
    if not os.path.exists(path):
        sys.stdout.write(f"Nothing to remove: {path} does not exist.\n")
        return 0
    _refuse_foreign(path)
    # what `systemctl disable` removes: the links that start it at boot
    for wants in os.listdir(ns.unit_dir):
        link = os.path.join(ns.unit_dir, wants, UNIT_NAME)
        if wants.endswith(".wants") and os.path.islink(link):
            os.unlink(link)
    os.unlink(path)
    sys.stdout.write(
        f"Removed {path}.\nIf it runs, stop it and forget the unit with:\n"
        "  systemctl stop hatoba && systemctl daemon-reload\n"
    )
    return 0


def _refuse_foreign(path: str) -> None:
    """Only a unit we wrote is ours to overwrite or remove."""
    try:
        with open(path, encoding="utf-8") as f:
            first = f.readline()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise CliError(f"hatoba: cannot read {path}: {exc.strerror}") from None
    if first != _MARK:
        raise CliError(f"hatoba: {path} was not written by hatoba; leaving it alone")
