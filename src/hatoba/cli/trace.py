"""`hatoba trace` and `hatoba explain`: one flow followed through every hop at once.

The service plans the route, captures at every hop, traces the nftables rules and sends the
probe (or waits for the flow); this command sends the request and renders the answer: a
timeline (trace), or a verdict with its evidence (explain). `--format json` for tools.
"""

from __future__ import annotations

import json
import sys

from hatoba.cli.errors import CliError, UsageError
from hatoba.cli.parsing import Parser
from hatoba.observe.timeline import Timeline, Verdict, render, render_verdict

TYPE_CHECKING = False  # `typing` costs ~4 ms of start-up; mypy treats this name as True
if TYPE_CHECKING:
    from typing import Any

    from hatoba.cli.context import Context


def _parser(ctx: Context, description: str) -> Parser:
    p = Parser(ctx.prog, "--from NAME|IP --to NAME|IP[:PORT] [OPTIONS]", description)
    p.option("--from", help="Where the flow starts: a container, an address, or host")
    p.option("--to", help="Where it goes: a container, an address or host, and a port")
    p.option("--proto", help="tcp, udp or icmp (default: tcp with a port, icmp without)")
    p.option("--format", help="text or json", default="text")
    return p


def _common(p: Parser, args: list[str]) -> Any:
    ns = p.parse(args)
    p.expect(ns.args, 0, 0)
    if not getattr(ns, "from") or not ns.to:
        raise UsageError("both --from and --to are required", p.prog)
    if ns.format not in ("text", "json"):
        raise UsageError(f'invalid argument "{ns.format}" for "--format" flag', p.prog)
    return ns


def trace(ctx: Context, args: list[str]) -> int:
    p = _parser(ctx, "Follow one flow through every hop: addresses, NAT, rules, conntrack")
    p.flag("--wait", help="Send no probe: wait for the next matching flow")
    p.option("--timeout", help="Seconds to wait for the flow (default 30)", type=int, metavar="int")
    ns = _common(p, args)
    query = {
        "from": getattr(ns, "from"),
        "to": ns.to,
        "proto": ns.proto,
        "wait": ns.wait or None,
        "timeout": ns.timeout,
    }
    result = _request(ctx, "/hatoba/trace", query)
    timeline = Timeline.from_json(result["timeline"])
    if ns.format == "json":
        sys.stdout.write(json.dumps(timeline.to_json(), indent=2) + "\n")
    else:
        sys.stdout.write(render(timeline))
    return 0


def explain(ctx: Context, args: list[str]) -> int:
    p = _parser(ctx, "Say why a flow is delivered or dropped, with the evidence")
    p.flag("--trace", help="Show the flow's timeline too")
    ns = _common(p, args)
    query = {"from": getattr(ns, "from"), "to": ns.to, "proto": ns.proto}
    verdict = Verdict.from_json(_request(ctx, "/hatoba/explain", query)["verdict"])
    if ns.format == "json":
        sys.stdout.write(json.dumps(verdict.to_json(), indent=2) + "\n")
    else:
        sys.stdout.write(render_verdict(verdict, with_timeline=ns.trace))
    return 0


def _request(ctx: Context, path: str, query: dict[str, object]) -> dict[str, Any]:
    """The JSON lines of a hijacked answer: progress to stderr, then the result."""
    conn = ctx.client.hijack("POST", path, query)
    pending = b""
    try:
        while data := conn.recv():
            pending += data
            *lines, pending = pending.split(b"\n")
            for line in lines:
                doc = json.loads(line)
                if "progress" in doc:
                    sys.stderr.write(doc["progress"] + "\n")
                    sys.stderr.flush()
                elif "error" in doc:
                    raise CliError(f"Error: {doc['error']}")
                else:
                    return dict(doc)
    finally:
        conn.close()
    raise CliError("Error: the hatoba service ended the answer early")
