"""`hatoba ps`: docker's container table and the fields its --format templates see."""

from __future__ import annotations

import sys

from hatoba.cli.parsing import Parser, filters
from hatoba.cli.render import ago, ellipsis, go_quote, go_time, listing, short_id

TYPE_CHECKING = False  # `typing` costs ~4 ms of start-up; mypy treats this name as True
if TYPE_CHECKING:
    from typing import Any

    from hatoba.cli.context import Context

_HEADERS = {
    "ID": "CONTAINER ID",
    "Image": "IMAGE",
    "Command": "COMMAND",
    "CreatedAt": "CREATED AT",
    "RunningFor": "CREATED",
    "Ports": "PORTS",
    "State": "STATE",
    "Status": "STATUS",
    "Size": "SIZE",
    "Names": "NAMES",
    "Labels": "LABELS",
    "Mounts": "MOUNTS",
    "Networks": "NETWORKS",
}
_COLUMNS = ["ID", "Image", "Command", "RunningFor", "Status", "Ports", "Names"]
_COMMAND_WIDTH = 20


def ps(ctx: Context, args: list[str]) -> int:
    p = Parser(ctx.prog, "[OPTIONS]", "List containers")
    p.flag("-a", "--all", help="Show all containers (default shows just running)")
    p.repeated(
        "-f", "--filter", help="Filter output based on conditions provided", metavar="filter"
    )
    p.option("--format", help="Pretty-print containers using a Go template", default="")
    p.option(
        "-n",
        "--last",
        help="Show n last created containers (includes all states)",
        type=int,
        default=-1,
        metavar="int",
    )
    p.flag("-l", "--latest", help="Show the latest created container (includes all states)")
    p.flag("--no-trunc", help="Don't truncate output")
    p.flag("-q", "--quiet", help="Only display container IDs")
    p.flag("-s", "--size", help="Display total file sizes")
    ns = p.parse(args)
    p.expect(ns.args, 0, 0)
    limit = 1 if ns.latest else ns.last
    query = {
        "all": ns.all or limit > 0 or None,
        "limit": limit if limit > 0 else None,
        "filters": filters(ns.filter, ctx.prog),
    }
    containers = ctx.client.json("GET", "/containers/json", query)
    rows = [row(c, truncate=not ns.no_trunc) for c in containers]
    fmt = "{{.ID}}" if ns.quiet else ns.format
    sys.stdout.write(listing(rows, fmt, _COLUMNS, _HEADERS))
    return 0


def row(c: dict[str, Any], *, truncate: bool, now: float | None = None) -> dict[str, str]:
    """docker's ContainerContext fields for one entry of GET /containers/json."""
    command = c.get("Command") or ""
    labels = c.get("Labels") or {}
    networks = ((c.get("NetworkSettings") or {}).get("Networks")) or {}
    created = float(c.get("Created") or 0)
    return {
        "ID": short_id(c["Id"]) if truncate else c["Id"],
        "Image": _image(c, truncate),
        "Command": go_quote(ellipsis(command, _COMMAND_WIDTH) if truncate else command),
        "CreatedAt": go_time(created),
        "RunningFor": ago(created, now),
        "Ports": ports(c.get("Ports") or []),
        "State": c.get("State") or "",
        "Status": c.get("Status") or "",
        "Size": "0B",
        "Names": names(c.get("Names") or []),
        "Labels": ",".join(f"{k}={labels[k]}" for k in sorted(labels)),
        "Mounts": mounts(c.get("Mounts") or [], truncate),
        "Networks": ",".join(sorted(networks)),
    }


def mounts(entries: list[dict[str, Any]], truncate: bool) -> str:
    """docker's Mounts column: volume names, else sources, 15 characters unless --no-trunc."""
    shown = [m.get("Name") or m.get("Source") or "" for m in entries]
    return ",".join(ellipsis(name, 15) if truncate else name for name in shown)


def names(values: list[str]) -> str:
    """Names without the leading slash; legacy link names (`/a/b`) are left out."""
    return ",".join(n[1:] for n in values if n.startswith("/") and "/" not in n[1:])


def _image(c: dict[str, Any], truncate: bool) -> str:
    image = c.get("Image") or ""
    if not image:
        return "<no image>"
    if not truncate:
        return image
    image_id = c.get("ImageID") or ""
    if image_id and short_id(image_id) == short_id(image):
        return short_id(image)
    return image.partition("@")[0]


def ports(entries: list[dict[str, Any]]) -> str:
    """docker 20.10's DisplayablePorts: consecutive ports grouped, published ones as
    `0.0.0.0:8000->80/tcp`, sorted by private port, IP, public port and protocol."""
    groups: dict[str, list[int]] = {}
    order: list[str] = []
    done: list[str] = []
    mapped: list[str] = []
    for p in sorted(entries, key=_port_key):
        private = int(p.get("PrivatePort") or 0)
        kind = p.get("Type") or "tcp"
        ip = p.get("IP") or ""
        key = kind
        if ip:
            public = int(p.get("PublicPort") or 0)
            if public != private:
                mapped.append(f"{ip}:{public}->{private}/{kind}")
                continue
            key = f"{ip}/{kind}"
        group = groups.get(key)
        if group is None:
            groups[key] = [private, private]
            order.append(key)
        elif private == group[1] + 1:
            group[1] = private
        else:
            done.append(_group(key, *group))
            groups[key] = [private, private]
    done.extend(_group(key, *groups[key]) for key in order)
    return ", ".join(done + mapped)


def _port_key(p: dict[str, Any]) -> tuple[int, str, int, str]:
    return (
        int(p.get("PrivatePort") or 0),
        p.get("IP") or "",
        int(p.get("PublicPort") or 0),
        p.get("Type") or "",
    )


def _group(key: str, first: int, last: int) -> str:
    ip, _, kind = key.rpartition("/")
    text = str(first) if first == last else f"{first}-{last}"
    if ip:
        text = f"{ip}:{text}->{text}"
    return f"{text}/{kind}"
