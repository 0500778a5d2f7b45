"""`hatoba stats [--no-stream] [-a] [CONTAINER...]`: containers' CPU, memory, network, block
I/O and processes in docker's table, computed from the Engine API's stats documents as
docker's CLI computes them.

--no-stream asks every container at once (`stream=false`: one document each, its CPU
percentage over the service's sampling period) and prints one table. Streaming follows each
container on a thread of its own and redraws every half second; without names it lists the
running containers (all with -a) and follows the event stream to add the ones that start
and drop the ones that go, as docker's does.
"""

from __future__ import annotations

import json
import sys

from hatoba.cli.errors import CliError
from hatoba.cli.parsing import Parser
from hatoba.cli.render import bytes_size, human_size, listing, short_id
from hatoba.errors import HatobaError

TYPE_CHECKING = False  # `typing` costs ~4 ms of start-up; mypy treats this name as True
if TYPE_CHECKING:
    from typing import Any

    from hatoba.cli.client import Response
    from hatoba.cli.context import Context

_HEADERS = {
    "Container": "CONTAINER",
    "ID": "CONTAINER ID",
    "Name": "NAME",
    "CPUPerc": "CPU %",
    "MemUsage": "MEM USAGE / LIMIT",
    "MemPerc": "MEM %",
    "NetIO": "NET I/O",
    "BlockIO": "BLOCK I/O",
    "PIDs": "PIDS",
}
_COLUMNS = ["ID", "Name", "CPUPerc", "MemUsage", "MemPerc", "NetIO", "BlockIO", "PIDs"]
# docker's redraw period
_REDRAW = 0.5
_CLEAR = "\033[2J\033[H"


def stats(ctx: Context, args: list[str]) -> int:
    p = Parser(
        ctx.prog,
        "[OPTIONS] [CONTAINER...]",
        "Display a live stream of container(s) resource usage statistics",
    )
    p.flag("-a", "--all", help="Show all containers (default shows just running)")
    p.option("--format", help="Format the output using the given Go template", default="")
    p.flag("--no-stream", help="Disable streaming stats and only pull the first result")
    p.flag("--no-trunc", help="Do not truncate output")
    ns = p.parse(args)
    names = ns.args or _containers(ctx, show_all=ns.all)
    if ns.no_stream:
        rows, errors = _once(ctx, names, truncate=not ns.no_trunc)
        sys.stdout.write(listing(rows, ns.format, _COLUMNS, _HEADERS))
        if errors:
            raise CliError("\n".join(errors))
        return 0
    return _follow(ctx, names, ns, follow_events=not ns.args)


def _containers(ctx: Context, *, show_all: bool) -> list[str]:
    found = ctx.client.json("GET", "/containers/json", {"all": show_all or None})
    return [c["Id"] for c in found]


def _once(
    ctx: Context, names: list[str], *, truncate: bool
) -> tuple[list[dict[str, str]], list[str]]:
    """Every container's one document, asked for all at once (each takes a sampling period)."""
    calls = [(name, ctx.client.send("GET", f"/containers/{name}/stats", {"stream": 0}))
             for name in names]  # fmt: skip
    rows, errors = [], []
    for name, call in calls:
        try:
            rows.append(row(name, call.response().json(), truncate=truncate))
        except HatobaError as exc:
            errors.append(f"Error response from daemon: {exc.message}")
    return rows, errors


def row(container: str, doc: dict[str, Any], *, truncate: bool) -> dict[str, str]:
    """docker's StatsEntry of one stats document, as its formatter prints it."""
    memory = doc.get("memory_stats") or {}
    used = memory_used(memory)
    limit = float(memory.get("limit") or 0)
    rx = sum(n.get("rx_bytes", 0) for n in (doc.get("networks") or {}).values())
    tx = sum(n.get("tx_bytes", 0) for n in (doc.get("networks") or {}).values())
    read, written = block_io(doc.get("blkio_stats") or {})
    name = doc.get("name") or ""
    return {
        "Container": container,
        "ID": short_id(doc.get("id", "")) if truncate else doc.get("id", ""),
        "Name": name[1:] if len(name) > 1 else "--",
        "CPUPerc": f"{cpu_percent(doc):.2f}%",
        "MemUsage": f"{bytes_size(used)} / {bytes_size(limit)}",
        "MemPerc": f"{used / limit * 100 if limit else 0.0:.2f}%",
        "NetIO": f"{human_size(rx)} / {human_size(tx)}",
        "BlockIO": f"{human_size(read)} / {human_size(written)}",
        "PIDs": str((doc.get("pids_stats") or {}).get("current", 0)),
    }


def cpu_percent(doc: dict[str, Any]) -> float:
    """docker's calculateCPUPercentUnix."""
    now, before = doc.get("cpu_stats") or {}, doc.get("precpu_stats") or {}
    usage = (now.get("cpu_usage") or {}).get("total_usage", 0)
    cpu_delta = usage - (before.get("cpu_usage") or {}).get("total_usage", 0)
    system_delta = now.get("system_cpu_usage", 0) - before.get("system_cpu_usage", 0)
    cpus = now.get("online_cpus") or len((now.get("cpu_usage") or {}).get("percpu_usage") or ())
    if system_delta > 0 and cpu_delta > 0:
        return float(cpu_delta / system_delta * cpus * 100)
    return 0.0


def memory_used(memory: dict[str, Any]) -> float:
    """docker's calculateMemUsageUnixNoCache: the usage less the inactive file cache."""
    usage = memory.get("usage") or 0
    stats = memory.get("stats") or {}
    if "total_inactive_file" in stats and stats["total_inactive_file"] < usage:  # cgroup v1
        return float(usage - stats["total_inactive_file"])
    if stats.get("inactive_file", 0) < usage:  # cgroup v2
        return float(usage - stats.get("inactive_file", 0))
    return float(usage)


def block_io(blkio: dict[str, Any]) -> tuple[float, float]:
    read = written = 0.0
    for entry in blkio.get("io_service_bytes_recursive") or ():
        op = (entry.get("op") or " ")[0]
        if op in "rR":
            read += entry.get("value", 0)
        elif op in "wW":
            written += entry.get("value", 0)
    return read, written


# --- streaming ----------------------------------------------------------------------------------


def _follow(ctx: Context, names: list[str], ns: Any, *, follow_events: bool) -> int:
    import threading
    import time

    board = _Board(ctx, truncate=not ns.no_trunc)
    errors = []
    for name in names:
        try:
            board.add(name, _stream(ctx, name))
        except HatobaError as exc:
            errors.append(f"Error response from daemon: {exc.message}")
    if errors:
        raise CliError("\n".join(errors))
    if follow_events:
        threading.Thread(
            target=_watch_events, args=(ctx, board, ns.all), name="stats-events", daemon=True
        ).start()
    clear = sys.stdout.isatty()
    while True:
        table = listing(board.rows(), ns.format, _COLUMNS, _HEADERS)
        sys.stdout.write((_CLEAR if clear else "") + table)
        sys.stdout.flush()
        time.sleep(_REDRAW)


class _Board:
    """The latest row of each followed container, in the order they were added."""

    def __init__(self, ctx: Context, *, truncate: bool) -> None:
        import threading

        self._ctx = ctx
        self._truncate = truncate
        self._lock = threading.Lock()
        self._rows: dict[str, dict[str, str]] = {}

    def add(self, name: str, stream: Response | None = None) -> None:
        """Follow `name` on a thread of its own (through `stream` when already asked)."""
        import threading

        with self._lock:
            if name in self._rows:
                if stream is not None:
                    stream.close()
                return
            self._rows[name] = self._unknown(name)
        threading.Thread(target=self._read, args=(name, stream), name="stats", daemon=True).start()

    def remove(self, name: str) -> None:
        with self._lock:
            self._rows.pop(name, None)

    def rows(self) -> list[dict[str, str]]:
        with self._lock:
            return list(self._rows.values())

    def _read(self, name: str, stream: Response | None) -> None:
        try:
            for doc in (stream or _stream(self._ctx, name)).json_lines():
                with self._lock:
                    if name in self._rows:
                        self._rows[name] = row(name, doc, truncate=self._truncate)
        except (HatobaError, ConnectionError, OSError):
            pass
        self.remove(name)  # gone, or the service is

    def _unknown(self, name: str) -> dict[str, str]:
        """docker's row before the first document: dashes."""
        shown = short_id(name) if self._truncate else name
        return {
            **dict.fromkeys(_HEADERS, "--"),
            "Container": name,
            "ID": shown,
            "MemUsage": "-- / --",
        }


def _stream(ctx: Context, name: str) -> Response:
    return ctx.client.request("GET", f"/containers/{name}/stats", {"stream": 1})


def _watch_events(ctx: Context, board: _Board, show_all: bool) -> None:
    query = {"filters": json.dumps({"type": ["container"]})}
    try:
        for event in ctx.client.request("GET", "/events", query).json_lines():
            action, cid = event.get("Action", ""), (event.get("Actor") or {}).get("ID", "")
            if action == "start" or (action == "create" and show_all):
                board.add(cid)
            elif action == "destroy" or (action == "die" and not show_all):
                board.remove(cid)
    except (HatobaError, ConnectionError, OSError):
        return
