"""`python -m bench [--quick] [NAME...]`: run the benchmarks one after another and print their
tables.

Names: run (engine core through the CLI, with podman beside it), attach (in-process network
attach/detach), cli (client start-up), dns (embedded DNS against aardvark-dns), scale (flat to
1000 containers), firewall (published-path throughput and port-add cost), compose (`hatoba
compose` beside docker-compose 1.29), observe (capture overhead, explain latency), overlay (3
hosts on VXLAN and etcd: runs, throughput, RTT, remote names). Without names, all of them:
under 15 minutes on the 2-core machine; with --quick, each with small counts and short runs
(about 2 minutes in all), a check that everything runs and a rough reading, not numbers to
quote.
"""

from __future__ import annotations

import importlib
import os
import sys
import time

BENCHES = {
    "run": "bench.run",
    "attach": "bench.attach",
    "cli": "bench.cli_startup",
    "dns": "bench.dns",
    "scale": "bench.scale",
    "firewall": "bench.firewall",
    "compose": "bench.compose",
    "observe": "bench.observe",
    "overlay": "bench.overlay",
}


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    names = [a for a in argv if a != "--quick"] or list(BENCHES)
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(BENCHES)}")
        return 2
    # every CLI start would otherwise recompile hatoba's modules
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    t0 = time.monotonic()
    for name in names:
        importlib.import_module(BENCHES[name]).main(quick)
    print(f"\n({len(names)} benchmark(s) in {time.monotonic() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
