"""`hatoba top CONTAINER [ps OPTIONS]`: the container's processes as `ps` shows them on the
host (GET /containers/{id}/top: the service runs ps and keeps the processes of the container's
PID namespace), in docker's layout."""

from __future__ import annotations

import sys

from hatoba.cli.parsing import Parser
from hatoba.cli.render import tabwrite

TYPE_CHECKING = False  # `typing` costs ~4 ms of start-up; mypy treats this name as True
if TYPE_CHECKING:
    from hatoba.cli.context import Context

# docker top's tabwriter.NewWriter(out, 20, 1, 3, ' ', 0)
_MIN_WIDTH = 20


def top(ctx: Context, args: list[str]) -> int:
    p = Parser(ctx.prog, "CONTAINER [ps OPTIONS]", "Display the running processes of a container")
    ns = p.parse_until_positional(args)
    p.expect(ns.args, 1)
    name, *ps_args = ns.args
    query = {"ps_args": " ".join(ps_args)} if ps_args else None
    listing = ctx.client.json("GET", f"/containers/{name}/top", query)
    lines = ["\t".join(listing.get("Titles") or [])]
    lines += ["\t".join(process) for process in listing.get("Processes") or []]
    sys.stdout.write(tabwrite("".join(line + "\n" for line in lines), _MIN_WIDTH))
    return 0
