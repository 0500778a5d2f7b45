"""`hatoba volume create|ls|inspect|rm|prune`."""

from __future__ import annotations

import sys

from hatoba.cli import inspect as inspecting
from hatoba.cli.errors import CliError
from hatoba.cli.parsing import Parser, filters, key_values
from hatoba.cli.render import go_value, human_size, listing
from hatoba.errors import HatobaError, NotFound

TYPE_CHECKING = False  # `typing` costs ~4 ms of start-up; mypy treats this name as True
if TYPE_CHECKING:
    from typing import Any

    from hatoba.cli.context import Context

_HEADERS = {
    "Name": "VOLUME NAME",
    "Driver": "DRIVER",
    "Scope": "SCOPE",
    "Mountpoint": "MOUNTPOINT",
    "Labels": "LABELS",
    "Links": "LINKS",
    "Size": "SIZE",
}
_COLUMNS = ["Driver", "Name"]


def create(ctx: Context, args: list[str]) -> int:
    p = Parser(ctx.prog, "[OPTIONS] [VOLUME]", "Create a volume")
    p.option("-d", "--driver", help='Specify volume driver name (default "local")', default="local")
    p.repeated("--label", help="Set metadata for a volume")
    p.repeated("-o", "--opt", help="Set driver specific options", metavar="map")
    p.option("--name", help="Specify volume name", default="")
    ns = p.parse(args)
    p.expect(ns.args, 0, 1)
    if ns.args and ns.name and ns.args[0] != ns.name:
        raise CliError(
            "Conflicting options: either specify --name or provide positional arg, not both"
        )
    body = {
        "Driver": ns.driver,
        "DriverOpts": key_values(ns.opt),
        "Labels": key_values(ns.label),
        "Name": ns.args[0] if ns.args else ns.name,
    }
    created = ctx.client.json("POST", "/volumes/create", body=body)
    sys.stdout.write(created["Name"] + "\n")
    return 0


def row(volume: dict[str, Any]) -> dict[str, str]:
    """The fields docker's volume formatter offers to templates."""
    labels = volume.get("Labels") or {}
    usage = volume.get("UsageData") or {}
    return {
        "Name": volume.get("Name", ""),
        "Driver": volume.get("Driver", ""),
        "Scope": volume.get("Scope", ""),
        "Mountpoint": volume.get("Mountpoint", ""),
        "Labels": ",".join(f"{k}={labels[k]}" for k in sorted(labels)),
        "Links": go_value(usage["RefCount"]) if "RefCount" in usage else "N/A",
        "Size": human_size(float(usage["Size"])) if "Size" in usage else "N/A",
    }


def ls(ctx: Context, args: list[str]) -> int:
    p = Parser(ctx.prog, "[OPTIONS]", "List volumes")
    p.repeated(
        "-f", "--filter", help="Provide filter values (e.g. 'dangling=true')", metavar="filter"
    )
    p.option("--format", help="Pretty-print volumes using a Go template", default="")
    p.flag("-q", "--quiet", help="Only display volume names")
    ns = p.parse(args)
    p.expect(ns.args, 0, 0)
    found = ctx.client.json("GET", "/volumes", {"filters": filters(ns.filter, ctx.prog)})
    volumes = sorted(found.get("Volumes") or [], key=lambda v: v.get("Name", ""))
    fmt = "{{.Name}}" if ns.quiet else ns.format
    sys.stdout.write(listing([row(v) for v in volumes], fmt, _COLUMNS, _HEADERS))
    return 0


def inspect(ctx: Context, args: list[str]) -> int:
    p = inspecting.parser(ctx, "VOLUME", "Display detailed information on one or more volumes")
    ns = p.parse(args)
    p.expect(ns.args, 1)
    return inspecting.show(ctx, ns.args, ns.format, "volume", inspecting.volume)


def rm(ctx: Context, args: list[str]) -> int:
    p = Parser(ctx.prog, "[OPTIONS] VOLUME [VOLUME...]", "Remove one or more volumes")
    p.flag("-f", "--force", help="Force the removal of one or more volumes")
    ns = p.parse(args)
    p.expect(ns.args, 1)
    errors = []
    for name in ns.args:
        try:
            ctx.client.call("DELETE", f"/volumes/{name}", {"force": ns.force or None})
        except NotFound:
            errors.append(f"Error: No such volume: {name}")
        except HatobaError as exc:
            errors.append(f"Error response from daemon: {exc.message}")
        else:
            sys.stdout.write(name + "\n")
    if errors:
        raise CliError("\n".join(errors))
    return 0
