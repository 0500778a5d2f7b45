"""Embedded DNS: hatoba's 127.0.0.11 against aardvark-dns (podman), measured the same way.

As Docker's reference run (reference/docker.md §3): 10 containers on one user-defined network,
`dnsperf` for 20 s in one container's network namespace with a query file of the 10 names
(all A, all answered locally; dnsperf's defaults, 100 queries in flight), and the latency of
one lookup (2000 sequential UDP queries from a Python client in the same namespace).

hatoba runs as the real service (started by the CLI) in a sandbox. Podman runs in a sandbox
of its own with its storage under the sandbox folder; aardvark-dns answers on the network's
gateway address. Both are measured in one run, one after the other, so the ratio compares
like with like on this shared machine.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.common import save, table
from bench.podman import PODMAN_CONF, Podman

NAMES = ["s1", "s2", *(f"dns{i}" for i in range(1, 9))]
SECONDS = 20
LOOKUPS = 2000

# Run in the container's namespace: one query at a time, each timed from send to answer.
CLIENT = r"""
import json, socket, struct, sys, time
server, name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
qname = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect((server, 53))
s.settimeout(2)
took = []
for i in range(count):
    query = struct.pack("!6H", i, 0x0100, 1, 0, 0, 0) + qname + b"\0\1\0\1"
    started = time.perf_counter()
    s.send(query)
    while s.recv(512)[:2] != query[:2]:
        pass
    took.append(time.perf_counter() - started)
print(json.dumps(took))
"""


def dnsperf(sb: Any, ns: Path, server: str, names: Path) -> dict[str, float]:
    out = sb.sh(
        ["dnsperf", "-s", server, "-d", str(names), "-l", str(SECONDS)],
        ns=ns,
        timeout=SECONDS + 30,
    ).stdout

    def field(pattern: str) -> float:
        found = re.search(pattern, out)
        if found is None:
            raise RuntimeError(f"dnsperf output without {pattern!r}:\n{out}")
        return float(found.group(1))

    return {
        "qps": field(r"Queries per second:\s+([\d.]+)"),
        "avg_ms": field(r"Average Latency \(s\):\s+([\d.]+)") * 1000,
        "min_ms": field(r"Average Latency \(s\):\s+[\d.]+ \(min ([\d.]+)") * 1000,
        "max_ms": field(r"Average Latency \(s\):.*max ([\d.]+)\)") * 1000,
        "lost": field(r"Queries lost:\s+(\d+)"),
        "sent": field(r"Queries sent:\s+(\d+)"),
    }


def lookups(sb: Any, ns: Path, server: str, name: str) -> list[float]:
    out = sb.sh([sys.executable, "-c", CLIENT, server, name, str(LOOKUPS)], ns=ns).stdout
    return [float(t) for t in json.loads(out)]


def measure(sb: Any, ns: Path, server: str) -> dict[str, Any]:
    names = sb.dir / "names.txt"
    names.write_text("".join(f"{name} A\n" for name in NAMES))
    single = lookups(sb, ns, server, "s2")  # also warms the resolver up
    return {"dnsperf": dnsperf(sb, ns, server, names), "lookup": single}


# --- hatoba -----------------------------------------------------------------------------------


def bench_hatoba() -> dict[str, Any]:
    from hatoba.testing import Sandbox

    with Sandbox(prefix="hatoba-bench-") as sb:
        sb.hatoba("network", "create", "sample")
        ids = {
            name: sb.hatoba(
                "run", "-d", "--name", name, "--net", "sample", "hostfs", "sleep", "infinity"
            ).stdout.strip()
            for name in NAMES
        }
        return measure(sb, sb.run_root / "netns" / ids["s1"], "127.0.0.11")


# --- podman + aardvark-dns --------------------------------------------------------------------


@contextmanager
def podman_world() -> Iterator[tuple[Any, Podman]]:
    """A sandbox with podman driven in its host namespace and the busybox image as bb:latest."""
    from hatoba.images.busybox import build_busybox_images
    from hatoba.testing import Sandbox

    with Sandbox(prefix="hatoba-bench-podman-") as sb:
        podman = Podman(sb.dir / "podman", ns=sb.host)
        try:
            alpine = build_busybox_images()[0]
            tarball = sb.dir / "busybox.tar"
            tarball.write_bytes(alpine.rootfs)
            podman.run("import", "--change", alpine.changes[0], str(tarball), "bb:latest")
            yield sb, podman
        finally:
            podman.clean()


def bench_podman() -> dict[str, Any] | None:
    if shutil.which("podman") is None or not PODMAN_CONF.exists():
        return None
    with podman_world() as (sb, podman):
        podman.run("network", "create", "sample")
        for name in NAMES:
            podman.run("run", "-d", "--name", name, "--net", "sample", "bb", "sleep", "1d")
        settings = json.loads(podman.run("inspect", "s1"))[0]["NetworkSettings"]
        gateway = settings["Networks"]["sample"]["Gateway"]
        return measure(sb, Path(settings["SandboxKey"]), gateway)


# --- report -----------------------------------------------------------------------------------


def _stats(values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return f"{statistics.median(ms):.3f} ms ({min(ms):.3f} – {max(ms):.3f}, n={len(ms)})"


def _rows(label: str, result: dict[str, Any]) -> list[tuple[str, ...]]:
    perf = result["dnsperf"]
    return [
        (label, "dnsperf queries/s, 20 s", f"{perf['qps']:,.0f}"),
        (
            label,
            "dnsperf latency avg (min – max)",
            f"{perf['avg_ms']:.3f} ms ({perf['min_ms']:.3f} – {perf['max_ms']:.3f})",
        ),
        (label, "dnsperf queries lost", f"{perf['lost']:.0f} of {perf['sent']:.0f}"),
        (label, "one lookup, median (min – max)", _stats(result["lookup"])),
    ]


def main() -> None:
    if os.geteuid() != 0:
        raise SystemExit("bench/dns.py needs root (namespaces)")
    hatoba = bench_hatoba()
    podman = bench_podman()
    save("dns", {"hatoba": hatoba, "aardvark": podman})
    rows = _rows("hatoba 127.0.0.11", hatoba)
    if podman is not None:
        rows += _rows("aardvark-dns 1.4", podman)
        ratio = hatoba["dnsperf"]["qps"] / podman["dnsperf"]["qps"]
        lookup = statistics.median(hatoba["lookup"]) / statistics.median(podman["lookup"])
        rows += [
            ("hatoba / aardvark", "queries/s", f"{ratio:.2f}×"),
            ("hatoba / aardvark", "one lookup, median", f"{lookup:.2f}×"),
        ]
    print(table("Embedded DNS, 10 containers on one network", rows, ("server", "measure", "value")))
    print(
        "\ntargets: hatoba queries/s ≥ aardvark-dns's in the same run; dnsperf average "
        "latency ≤ 1.5 ms.\nDocker 20.10 on this kind of machine: 56–80 k q/s, avg 1.0–1.7 ms; "
        "one lookup 0.042–0.069 ms (reference/docker.md §3)."
    )
    if podman is None:
        print("podman is not installed: aardvark-dns was not measured")


if __name__ == "__main__":
    main()
