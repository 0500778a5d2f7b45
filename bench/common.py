"""Shared helpers: timed commands, statistics, tables, where results are kept."""

from __future__ import annotations

import json
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hatoba.local import LocalEngine
    from hatoba.testing import Sandbox

RESULTS = Path(__file__).parent / "results"


def run_worker(sb: Sandbox, module: str, *args: str, timeout: float) -> Any:
    """`python -m MODULE --worker ARGS...` in the sandbox's host namespace, and the JSON it
    prints: a worker inside the namespace runs its commands without an nsenter each."""
    env = {**sb.env, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    # the CLI's modules compiled once, as an installed hatoba's are, not at every command
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    out = sb.sh([sys.executable, "-m", module, "--worker", *args], timeout=timeout, env=env)
    return json.loads(out.stdout)


def open_worker_engine(root: str, run_root: str, resolv: str) -> LocalEngine:
    """A worker's in-process engine on the sandbox's paths, its containers' cgroups under the
    sandbox's cgroup parent (removed with the sandbox), not the machine's `hatoba`."""
    from hatoba.local import open_local

    return open_local(
        Path(root),
        Path(run_root),
        Path(resolv),
        cgroup_parent=os.environ["HATOBA_CGROUP_PARENT"],
    )


def timed(argv: list[str], env: dict[str, str] | None = None) -> float:
    """Seconds one command takes; its stdout is dropped, a failure raises."""
    t0 = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - t0


def api(
    sock: str, method: str, path: str, body: object = None
) -> tuple[int, float, dict[str, Any]]:
    """One request to the service on its socket: (status, the service's own time in seconds
    as its Server-Timing header says, the JSON answer or {})."""
    payload = json.dumps(body).encode() if body is not None else b""
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: hatoba\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
    )
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(sock)
        s.sendall(head.encode() + payload)
        chunks = []
        while data := s.recv(1 << 16):
            chunks.append(data)
    raw = b"".join(chunks)
    header, _, rest = raw.partition(b"\r\n\r\n")
    status = int(header.split(b" ", 2)[1])
    timing = re.search(rb"\r\nServer-Timing: app;dur=([0-9.]+)", header, re.IGNORECASE)
    took = float(timing.group(1)) / 1000 if timing else float("nan")
    return status, took, (json.loads(rest) if rest.strip() else {})


def quiet(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True)


def ms(values: Sequence[float], digits: int = 2) -> str:
    """median (min – max, n) in milliseconds"""
    if not values:
        return "n/a"
    med, low, high = (v * 1000 for v in (statistics.median(values), min(values), max(values)))
    return f"{med:.{digits}f} ms ({low:.{digits}f} – {high:.{digits}f}, n={len(values)})"


def ratio(ours: Sequence[float], theirs: Sequence[float]) -> str:
    """Of the medians, as `0.31×`."""
    if not ours or not theirs:
        return "n/a"
    return f"{statistics.median(ours) / statistics.median(theirs):.2f}×"


def gbits(values: Sequence[float]) -> str:
    """median (min – max), for throughputs in Gbit/s"""
    return f"{statistics.median(values):.2f} ({min(values):.2f} – {max(values):.2f})"


def median_ms(values: Sequence[float]) -> float:
    return statistics.median(values) * 1000 if values else float("nan")


def table(title: str, rows: Sequence[tuple[str, ...]], header: tuple[str, ...]) -> str:
    widths = [max(len(str(r[i])) for r in (header, *rows)) for i in range(len(header))]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = [
        "| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) + " |"
        for r in rows
    ]
    return "\n".join(
        [f"\n### {title}", f"({machine()}, {time.strftime('%Y-%m-%d')})", "", line, sep, *body]
    )


def machine() -> str:
    cpus = len(
        [x for x in Path("/proc/cpuinfo").read_text().splitlines() if x.startswith("processor")]
    )
    return (
        f"{platform.node()}: {cpus} vCPU, kernel {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def save(name: str, data: object) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(data, indent=2))
    return path
