"""`hatoba network topology`: the host's container networking as a tree, a picture or JSON.

The service builds the topology from its records and the kernel's links (GET
/hatoba/topology); this command renders it. Pictures are Graphviz's: the graph is written
here as DOT (`hatoba.observe.topology_draw`) and laid out by the `dot` program. `--watch`
serves a page that follows the changes (`topology_watch`).
"""

from __future__ import annotations

import json
import sys

from hatoba.cli.errors import CliError, UsageError
from hatoba.cli.parsing import Parser
from hatoba.observe import topology_draw as draw
from hatoba.observe.topology import Topology

TYPE_CHECKING = False  # `typing` costs ~4 ms of start-up; mypy treats this name as True
if TYPE_CHECKING:
    from hatoba.cli.context import Context

FORMATS = ("text", "json", "svg", "html")


def topology(ctx: Context, args: list[str]) -> int:
    p = Parser(
        ctx.prog,
        "[OPTIONS]",
        "Show the host's uplink, bridges, veth pairs, containers (addresses, MACs, DNS names)\n"
        "and published ports",
    )
    p.option("--format", help="text, json, svg or html", default="text")
    p.flag("--watch", help="Serve a page that follows containers as they come and go")
    p.option(
        "--listen",
        help='Address of the --watch page (default "127.0.0.1:0": a free port)',
        default="127.0.0.1:0",
    )
    ns = p.parse(args)
    p.expect(ns.args, 0, 0)
    if ns.format not in FORMATS:
        raise UsageError(f'invalid argument "{ns.format}" for "--format" flag', ctx.prog)
    if ns.watch:
        from hatoba.cli.topology_watch import watch

        return watch(ctx, ns.listen)
    current = fetch(ctx)
    if ns.format == "json":
        sys.stdout.write(json.dumps(current.to_json(), indent=2) + "\n")
    elif ns.format == "text":
        sys.stdout.write(draw.text(current))
    elif ns.format == "svg":
        sys.stdout.write(svg(current))
    else:
        sys.stdout.write(draw.page(draw.fragment(current, svg(current)), stamp()))
    return 0


def fetch(ctx: Context) -> Topology:
    return Topology.from_json(ctx.client.json("GET", "/hatoba/topology"))


def svg(current: Topology) -> str:
    """The picture, laid out by Graphviz's `dot`."""
    import subprocess

    try:
        done = subprocess.run(
            ["dot", "-Tsvg"], input=draw.dot(current), capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        raise CliError(
            "hatoba: pictures need Graphviz's dot program (Debian: apt-get install graphviz)"
        ) from None
    if done.returncode != 0:
        raise CliError(f"hatoba: dot failed: {done.stderr.strip()}")
    return done.stdout


def stamp() -> str:
    import time

    return time.strftime("as of %Y-%m-%d %H:%M:%S %Z")
