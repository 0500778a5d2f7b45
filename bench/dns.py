"""Embedded DNS: hatoba's 127.0.0.11 against aardvark-dns (podman), measured the same way.

As Docker's reference run (reference/docker.md §3): 10 containers on one user-defined network,
`dnsperf` in one container's network namespace with a query file of the 10 names (all A, all
answered locally; dnsperf's defaults, 100 queries in flight), and the latency of one lookup
(sequential UDP queries from a Python client in the same namespace).

hatoba runs as the real service (started by the CLI) in a sandbox. Podman runs in a sandbox
of its own with its storage under the sandbox folder; aardvark-dns answers on the network's
gateway address. Both worlds are up at once and their runs alternate, so the ratio compares
like with like on this shared machine.

    python -m bench dns [--quick]
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import sys
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from bench.common import ms, save, table
from bench.podman import PODMAN_CONF, Podman

NAMES = ["s1", "s2", *(f"dns{i}" for i in range(1, 9))]
ROUNDS, QUICK_ROUNDS = 4, 2
SECONDS, QUICK_SECONDS = 8, 3  # per dnsperf run
LOOKUPS, QUICK_LOOKUPS = 1000, 300  # per round
TARGET_RATIO = 1.5

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


def dnsperf(sb: Any, ns: Path, server: str, seconds: int) -> dict[str, float]:
    names = sb.dir / "names.txt"
    names.write_text("".join(f"{name} A\n" for name in NAMES))
    out = sb.sh(
        ["dnsperf", "-s", server, "-d", str(names), "-l", str(seconds)],
        ns=ns,
        timeout=seconds + 30,
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


def lookups(sb: Any, ns: Path, server: str, name: str, count: int) -> list[float]:
    out = sb.sh([sys.executable, "-c", CLIENT, server, name, str(count)], ns=ns).stdout
    return [float(t) for t in json.loads(out)]


# a world to ask: its sandbox, the asking container's namespace, the server's address
World = tuple[Any, Path, str]


# --- hatoba -----------------------------------------------------------------------------------


@contextmanager
def hatoba_world() -> Iterator[World]:
    from hatoba.testing import Sandbox

    with Sandbox(prefix="hatoba-bench-") as sb:
        sb.hatoba("network", "create", "sample")
        ids = {
            name: sb.hatoba(
                "run", "-d", "--name", name, "--net", "sample", "hostfs", "sleep", "infinity"
            ).stdout.strip()
            for name in NAMES
        }
        yield sb, sb.run_root / "netns" / ids["s1"], "127.0.0.11"


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


@contextmanager
def aardvark_world() -> Iterator[World]:
    with podman_world() as (sb, podman):
        podman.run("network", "create", "sample")
        for name in NAMES:
            podman.run("run", "-d", "--name", name, "--net", "sample", "bb", "sleep", "1d")
        settings = json.loads(podman.run("inspect", "s1"))[0]["NetworkSettings"]
        gateway = settings["Networks"]["sample"]["Gateway"]
        yield sb, Path(settings["SandboxKey"]), gateway


def measure(quick: bool) -> dict[str, Any]:
    """Per server: dnsperf's results and the single lookups, the servers' runs alternating."""
    rounds, seconds, count = (
        (QUICK_ROUNDS, QUICK_SECONDS, QUICK_LOOKUPS) if quick else (ROUNDS, SECONDS, LOOKUPS)
    )
    podman = shutil.which("podman") is not None and PODMAN_CONF.exists()
    with hatoba_world() as hatoba, aardvark_world() if podman else nullcontext() as aardvark:
        worlds = {"hatoba": hatoba} | ({"aardvark": aardvark} if aardvark else {})
        results: dict[str, Any] = {name: {"dnsperf": [], "lookup": []} for name in worlds}
        for sb, ns, server in worlds.values():
            lookups(sb, ns, server, "s2", 50)  # warms the resolver up
        for r in range(rounds):
            for name in worlds if r % 2 == 0 else reversed(worlds):
                sb, ns, server = worlds[name]
                results[name]["dnsperf"].append(dnsperf(sb, ns, server, seconds))
                results[name]["lookup"] += lookups(sb, ns, server, "s2", count)
    return {"seconds": seconds, **results}


# --- report -----------------------------------------------------------------------------------


def _rows(label: str, result: dict[str, Any], seconds: int) -> list[tuple[str, ...]]:
    runs = result["dnsperf"]
    lost, sent = sum(r["lost"] for r in runs), sum(r["sent"] for r in runs)
    return [
        (label, f"dnsperf queries/s, {seconds} s runs", _qps([r["qps"] for r in runs])),
        (label, "dnsperf average latency", ms([r["avg_ms"] / 1000 for r in runs], digits=3)),
        (label, "dnsperf queries lost", f"{lost:.0f} of {sent:.0f}"),
        (label, "one lookup", ms(result["lookup"], digits=3)),
    ]


def _qps(values: list[float]) -> str:
    return (
        f"{statistics.median(values):,.0f} ({min(values):,.0f} – {max(values):,.0f}, "
        f"n={len(values)})"
    )


def main(quick: bool = False) -> None:
    if os.geteuid() != 0:
        raise SystemExit("bench/dns.py needs root (namespaces)")
    results = measure(quick)
    save("dns", results)
    seconds, hatoba, aardvark = results["seconds"], results["hatoba"], results.get("aardvark")
    rows = _rows("hatoba 127.0.0.11", hatoba, seconds)
    if aardvark is not None:
        rows += _rows("aardvark-dns 1.4", aardvark, seconds)

        def median(result: dict[str, Any]) -> float:
            return statistics.median(r["qps"] for r in result["dnsperf"])

        ratio = median(hatoba) / median(aardvark)
        lookup = statistics.median(hatoba["lookup"]) / statistics.median(aardvark["lookup"])
        rows += [
            ("hatoba / aardvark", "queries/s (medians)", f"{ratio:.2f}× (≥ {TARGET_RATIO}×)"),
            ("hatoba / aardvark", "one lookup (medians)", f"{lookup:.2f}×"),
        ]
    print(table("Embedded DNS, 10 containers on one network", rows, ("server", "measure", "value")))
    print(
        "\nDocker 20.10 on this kind of machine: 56–80 k q/s, avg 1.0–1.7 ms; one lookup "
        "0.042–0.069 ms (reference/docker.md §3)."
    )
    if aardvark is None:
        print("podman is not installed: aardvark-dns was not measured")


if __name__ == "__main__":
    main("--quick" in sys.argv)
