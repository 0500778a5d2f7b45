"""In-process network attach/detach: `Engine.connect` / `Engine.disconnect` of running containers.

The worker runs inside a sandbox host namespace (the engine must own a namespace of its own);
it starts COUNT containers on one network, then connects each to a second network and
disconnects it again, timing both calls as the caller sees them. Containers #1–10 and the last
ten are then attached and detached again REPEATS times, the two groups alternating (the
kernel's deletions of a group's veths let finish before the next group), so that their growth
compares like with like.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

from bench.common import median_ms, ms, open_worker_engine, run_worker, save, table

COUNT, QUICK_COUNT = 1000, 100
REPEATS = 5
EDGE = 10
TARGET_MS = 5.0
TARGET_GROWTH = 1.2


def worker(root: str, run_root: str, resolv: str, count: int) -> None:
    from hatoba.engine.containers import CreateRequest
    from hatoba.model.container import ContainerConfig
    from hatoba.model.network import NetworkSpec

    local = open_worker_engine(root, run_root, resolv)
    engine = local.engine
    engine.bootstrap()
    engine.create_network(NetworkSpec(name="home"))
    engine.create_network(NetworkSpec(name="other"))
    ids = []
    for i in range(count):
        cfg = ContainerConfig(image="hostfs", cmd=("sleep", "infinity"), network_mode="home")
        c = engine.create_container(CreateRequest(cfg, name=f"c{i}"))
        ids.append(engine.start(c.id).id)
    out: dict[str, list[float]] = {k: [] for k in ("attach", "detach")}
    out |= {f"{k}_{end}": [] for k in ("attach", "detach") for end in ("first", "last")}

    def timed(call: Callable[[str, str], object], cid: str) -> float:
        t0 = time.perf_counter()
        call("other", cid)
        return time.perf_counter() - t0

    out["attach"] = [timed(engine.connect, cid) for cid in ids]
    out["detach"] = [timed(engine.disconnect, cid) for cid in ids]
    edges = {"first": ids[:EDGE], "last": ids[-EDGE:]}
    for r in range(REPEATS):
        for end in ("first", "last") if r % 2 == 0 else ("last", "first"):
            out[f"attach_{end}"] += [timed(engine.connect, cid) for cid in edges[end]]
            veths = [_veth(engine, cid) for cid in edges[end]]
            out[f"detach_{end}"] += [timed(engine.disconnect, cid) for cid in edges[end]]
            # the reaper's deletions hold the kernel's RTNL lock ~25 ms each: done before the
            # other group's attaches, so that each group pays for its own
            engine.core.kernel.settle(veths)
    engine.reset()
    local.close()
    json.dump(out, sys.stdout)


def _veth(engine: Any, cid: str) -> str:
    """The host end of the container's veth on network `other`."""
    other = engine.state.network("other").id
    container = engine.state.containers[cid]
    return str(next(e.host_ifname for e in container.endpoints if e.network_id == other))


def rows(data: dict[str, list[float]], count: int) -> list[tuple[str, str, str]]:
    result = []
    for kind, call in (("attach", "connect"), ("detach", "disconnect")):
        first, last = data[f"{kind}_first"], data[f"{kind}_last"]
        growth = median_ms(last) / median_ms(first)
        result += [
            (f"{kind} ({call}), each of {count} once", ms(data[kind]), f"≤ {TARGET_MS:.0f} ms"),
            (f"{kind}, containers #1–{EDGE} × {REPEATS}", ms(first), ""),
            (f"{kind}, containers #{count - EDGE + 1}–{count} × {REPEATS}", ms(last),
             f"growth {growth:.2f}× (≤ {TARGET_GROWTH}×)"),
        ]  # fmt: skip
    return result


def main(quick: bool = False) -> None:
    from hatoba.testing import Sandbox

    count = QUICK_COUNT if quick else COUNT
    with Sandbox(prefix="hatoba-bench-") as sb:
        paths = (str(sb.root), str(sb.run_root), str(sb.resolv_conf))
        data = run_worker(sb, "bench.attach", *paths, str(count), timeout=1800)
    save("attach", data)
    print(
        table(
            f"In-process network attach/detach at {count} running containers",
            rows(data, count),
            ("measure", "median (min – max, n)", "target"),
        )
    )
    print(
        "note: the kernel deletes a veth in ~25 ms while holding the RTNL lock; detach hands that\n"
        "to a reaper thread, so an attach right after detaches may wait for the kernel."
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
    else:
        main("--quick" in sys.argv)
