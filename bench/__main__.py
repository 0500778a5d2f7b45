"""`python -m bench [NAME...]`: run the benchmarks one after another and print their tables.

Names: run (engine core through the CLI, with podman beside it), attach (in-process network
attach/detach), cli (client start-up), dns (embedded DNS against aardvark-dns), firewall
(published-path throughput and port-add cost), compose (`hatoba compose` beside docker-compose
1.29), observe (capture overhead, explain latency), overlay (3 hosts on VXLAN and etcd: runs,
throughput, RTT, remote names). Without names, all of them.
"""

from __future__ import annotations

import importlib
import os
import sys

BENCHES = {
    "run": "bench.run",
    "attach": "bench.attach",
    "cli": "bench.cli_startup",
    "dns": "bench.dns",
    "firewall": "bench.firewall",
    "compose": "bench.compose",
    "observe": "bench.observe",
    "overlay": "bench.overlay",
}


def main(argv: list[str]) -> int:
    names = argv or list(BENCHES)
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(BENCHES)}")
        return 2
    # every CLI start would otherwise recompile hatoba's modules
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    for name in names:
        importlib.import_module(BENCHES[name]).main()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
