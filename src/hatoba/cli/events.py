"""`hatoba events`: the service's event stream (GET /events), printed as docker prints it.

    2026-12-06T10:00:00.123456789Z container start 3f2a… (image=hostfs, name=web)

`--since`/`--until` take what docker's take (unix seconds, a duration back from now such as
`10m`, RFC 3339); without `--until` the command follows the stream until interrupted.
"""

from __future__ import annotations

import sys
import time

from hatoba.cli.parsing import Parser, filters
from hatoba.cli.render import to_json

TYPE_CHECKING = False  # `typing` costs ~4 ms of start-up; mypy treats this name as True
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from hatoba.cli.context import Context

# the Go field each JSON key is read into (events.Message): what templates name
_GO_FIELDS = {
    "status": "Status",
    "id": "ID",
    "from": "From",
    "scope": "Scope",
    "time": "Time",
    "timeNano": "TimeNano",
}


def events(ctx: Context, args: list[str]) -> int:
    p = Parser(ctx.prog, "[OPTIONS]", "Get real time events from the server")
    p.repeated(
        "-f", "--filter", help="Filter output based on conditions provided", metavar="filter"
    )
    p.option("--format", help="Format the output using the given Go template", default="")
    p.option("--since", help="Show all events created since timestamp", default="")
    p.option("--until", help="Stream events until this timestamp", default="")
    ns = p.parse(args)
    p.expect(ns.args, 0, 0)
    render = _renderer(ns.format)
    query = {
        "since": ns.since or None,
        "until": ns.until or None,
        "filters": filters(ns.filter, ctx.prog),
    }
    for event in ctx.client.request("GET", "/events", query).json_lines():
        sys.stdout.write(render(event) + "\n")
        sys.stdout.flush()
    return 0


def _renderer(fmt: str) -> Callable[[dict[str, Any]], str]:
    """docker's: its own line, `json` (the event as sent), or a Go template."""
    if not fmt:
        return pretty
    if fmt == "json":
        return to_json
    from hatoba.cli.template import Template

    template = Template(fmt)
    return lambda event: template.render(go_view(event))


def pretty(event: dict[str, Any]) -> str:
    """docker's prettyPrintEvent: time, type, action, actor, then its attributes by name."""
    nanos = event.get("timeNano") or int(event.get("time", 0)) * 1_000_000_000
    actor = event.get("Actor") or {}
    line = f"{go_time_nano(nanos)} {event.get('Type', '')} {event.get('Action', '')} "
    line += str(actor.get("ID", ""))
    attributes = actor.get("Attributes") or {}
    if attributes:
        line += " (" + ", ".join(f"{k}={attributes[k]}" for k in sorted(attributes)) + ")"
    return line


def go_time_nano(nanos: int) -> str:
    """Go's RFC3339NanoFixed in local time: 2026-12-06T10:00:00.123456789+01:00 (or Z)."""
    seconds, fraction = divmod(nanos, 1_000_000_000)
    local = time.localtime(seconds)
    offset = local.tm_gmtoff or 0
    zone = "Z"
    if offset:
        sign = "+" if offset > 0 else "-"
        hours, minutes = divmod(abs(offset) // 60, 60)
        zone = f"{sign}{hours:02d}:{minutes:02d}"
    return time.strftime("%Y-%m-%dT%H:%M:%S", local) + f".{fraction:09d}{zone}"


def go_view(event: dict[str, Any]) -> dict[str, Any]:
    """The event as a Go template sees it: events.Message's field names, the ones a network
    event leaves out empty as Go's zero values are."""
    return {
        "Status": "",
        "ID": "",
        "From": "",
        **{_GO_FIELDS.get(k, k): v for k, v in event.items()},
    }
