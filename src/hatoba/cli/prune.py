"""`hatoba container prune|image prune|volume prune|system prune|system df`: what is unused,
removed after a confirmation, and what it all takes on disk, as docker 20.10 prints it."""

from __future__ import annotations

import sys

from hatoba.cli.parsing import Parser, confirm, filters
from hatoba.cli.render import human_size, table

TYPE_CHECKING = False  # `typing` costs ~4 ms of start-up; mypy treats this name as True
if TYPE_CHECKING:
    from typing import Any

    from hatoba.cli.context import Context

_CONTAINERS = "all stopped containers"
_NETWORKS = "all networks not used by at least one container"
_VOLUMES = "all volumes not used by at least one container"
_DANGLING = "all dangling images"
_UNUSED_IMAGES = "all images without at least one container associated to them"


def _size(size: float) -> str:
    return human_size(size, 4)


def _parser(ctx: Context, description: str) -> Parser:
    p = Parser(ctx.prog, "[OPTIONS]", description)
    p.repeated(
        "--filter", help="Provide filter values (e.g. 'until=<timestamp>')", metavar="filter"
    )
    p.flag("-f", "--force", help="Do not prompt for confirmation")
    return p


def _listed(title: str, names: list[str]) -> str:
    return f"Deleted {title}:\n" + "".join(f"{n}\n" for n in names) + "\n" if names else ""


def _images_listed(records: list[dict[str, str]]) -> str:
    if not records:
        return ""
    lines = [
        f"untagged: {r['Untagged']}" if "Untagged" in r else f"deleted: {r.get('Deleted', '')}"
        for r in records
    ]
    return "Deleted Images:\n" + "".join(f"{line}\n" for line in lines) + "\n"


def _run(ctx: Context, path: str, query: dict[str, Any]) -> Any:
    return ctx.client.json("POST", path, query) or {}


def _containers(ctx: Context, wanted: str | None) -> tuple[str, int]:
    report = _run(ctx, "/containers/prune", {"filters": wanted})
    return _listed("Containers", report.get("ContainersDeleted") or []), report.get(
        "SpaceReclaimed"
    ) or 0


def _volumes(ctx: Context, wanted: str | None) -> tuple[str, int]:
    report = _run(ctx, "/volumes/prune", {"filters": wanted})
    return _listed("Volumes", report.get("VolumesDeleted") or []), report.get("SpaceReclaimed") or 0


def _images(ctx: Context, values: list[str], every: bool, prog: str) -> tuple[str, int]:
    wanted = filters([*values, *(["dangling=false"] if every else [])], prog)
    report = _run(ctx, "/images/prune", {"filters": wanted})
    return _images_listed(report.get("ImagesDeleted") or []), report.get("SpaceReclaimed") or 0


def _networks(ctx: Context, wanted: str | None) -> tuple[str, int]:
    report = _run(ctx, "/networks/prune", {"filters": wanted})
    return _listed("Networks", report.get("NetworksDeleted") or []), 0


def _report(*parts: tuple[str, int]) -> None:
    text = "".join(p[0] for p in parts)
    sys.stdout.write(f"{text}Total reclaimed space: {_size(sum(p[1] for p in parts))}\n")


def _confirmed(ns: Any, what: str) -> bool:
    return bool(ns.force) or confirm(f"WARNING! {what}\nAre you sure you want to continue?")


def containers(ctx: Context, args: list[str]) -> int:
    p = _parser(ctx, "Remove all stopped containers")
    ns = p.parse(args)
    p.expect(ns.args, 0, 0)
    if not _confirmed(ns, f"This will remove {_CONTAINERS}."):
        return 0
    _report(_containers(ctx, filters(ns.filter, ctx.prog)))
    return 0


def volumes(ctx: Context, args: list[str]) -> int:
    p = _parser(ctx, "Remove all unused local volumes")
    ns = p.parse(args)
    p.expect(ns.args, 0, 0)
    if not _confirmed(ns, "This will remove all local volumes not used by at least one container."):
        return 0
    _report(_volumes(ctx, filters(ns.filter, ctx.prog)))
    return 0


def images(ctx: Context, args: list[str]) -> int:
    p = _parser(ctx, "Remove unused images")
    p.flag("-a", "--all", help="Remove all unused images, not just dangling ones")
    ns = p.parse(args)
    p.expect(ns.args, 0, 0)
    if not _confirmed(ns, f"This will remove {_UNUSED_IMAGES if ns.all else _DANGLING}."):
        return 0
    _report(_images(ctx, ns.filter, ns.all, ctx.prog))
    return 0


def system(ctx: Context, args: list[str]) -> int:
    p = _parser(ctx, "Remove unused data")
    p.flag("-a", "--all", help="Remove all unused images not just dangling ones")
    p.flag("--volumes", help="Prune volumes")
    ns = p.parse(args)
    p.expect(ns.args, 0, 0)
    what = [_CONTAINERS, _NETWORKS, *([_VOLUMES] if ns.volumes else ())]
    what.append(_UNUSED_IMAGES if ns.all else _DANGLING)
    if not _confirmed(ns, "This will remove:\n" + "".join(f"  - {w}\n" for w in what)):
        return 0
    wanted = filters(ns.filter, ctx.prog)
    parts = [_containers(ctx, wanted), _networks(ctx, wanted)]
    if ns.volumes:
        # volumes take only the label filters
        labels = [f for f in ns.filter if f.startswith("label")]
        parts.append(_volumes(ctx, filters(labels, ctx.prog)))
    parts.append(_images(ctx, ns.filter, ns.all, ctx.prog))
    _report(*parts)
    return 0


def _share(reclaimable: float, total: float) -> str:
    if total > 0:
        return f"{_size(reclaimable)} ({int(reclaimable * 100 // total)}%)"
    return _size(reclaimable)


def disk_usage(ctx: Context, args: list[str]) -> int:
    p = Parser(ctx.prog, "[OPTIONS]", "Show hatoba disk usage")
    p.flag("-v", "--verbose", help="Show detailed information on space usage")
    ns = p.parse(args)
    p.expect(ns.args, 0, 0)
    usage = ctx.client.json("GET", "/system/df")
    images = usage.get("Images") or []
    containers = usage.get("Containers") or []
    volumes = usage.get("Volumes") or []
    layers = float(usage.get("LayersSize") or 0)
    used = sum(i.get("Size", 0) - i.get("SharedSize", 0) for i in images if i.get("Containers"))
    active = [c for c in containers if c.get("State") in ("running", "paused", "restarting")]
    rw = sum(c.get("SizeRw", 0) for c in containers)
    idle_rw = rw - sum(c.get("SizeRw", 0) for c in active)
    sizes = [(v.get("UsageData") or {}).get("Size", 0) for v in volumes]
    idle = sum(
        (v.get("UsageData") or {}).get("Size", 0)
        for v in volumes
        if not (v.get("UsageData") or {}).get("RefCount")
    )
    used_images = sum(1 for i in images if i.get("Containers"))
    used_volumes = sum(1 for v in volumes if (v.get("UsageData") or {}).get("RefCount"))
    rows = [
        ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"],
        [
            "Images",
            str(len(images)),
            str(used_images),
            _size(layers),
            _share(layers - used, layers),
        ],
        ["Containers", str(len(containers)), str(len(active)), _size(rw), _share(idle_rw, rw)],
        [
            "Local Volumes",
            str(len(volumes)),
            str(used_volumes),
            _size(sum(sizes)),
            _share(idle, sum(sizes)),
        ],
        ["Build Cache", "0", "0", "0B", "0B"],
    ]
    sys.stdout.write(table(rows))
    if ns.verbose:
        sys.stdout.write(_verbose(containers, volumes))
    return 0


def _verbose(containers: list[dict[str, Any]], volumes: list[dict[str, Any]]) -> str:
    from hatoba.cli.render import short_id

    rows = [["CONTAINER ID", "IMAGE", "SIZE", "NAMES"]]
    for c in containers:
        name = (c.get("Names") or ["/"])[0].lstrip("/")
        rows.append([short_id(c["Id"]), c.get("Image", ""), _size(c.get("SizeRw", 0)), name])
    vols = [["VOLUME NAME", "LINKS", "SIZE"]]
    for v in volumes:
        usage = v.get("UsageData") or {}
        vols.append([v["Name"], str(usage.get("RefCount", 0)), _size(usage.get("Size", 0))])
    return (
        f"\nContainers space usage:\n\n{table(rows)}\nLocal Volumes space usage:\n\n{table(vols)}"
    )
