"""hatoba's firewall: published paths against direct ones, and the cost of one more port.

Throughput (iperf3, through the CLI and the service in a sandbox with an outside world): the
server runs in a container published with `-p 5201:5201`; each path through the published
port is measured against the direct path to the container's address in the same run,
alternating the two. hatoba's isolation closes the direct path from outside (and its watcher
takes out any rule added to open it), so that path has no baseline; the container on another
network is also connected to the server's, its direct path.

One more published port (through the engine in-process, `Engine.start` of a container with one
`-p`, with exactly 1, 100 and 1000 ports already published by other running containers): the
whole start, and its firewall step (reserving the host port, deriving the new state, the
delta and its single nftables transaction).

    python -m bench.firewall [--quick]
"""

from __future__ import annotations

import json
import os
import select
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import gbits, median_ms, ms, open_worker_engine, run_worker, save, table

ROUNDS, QUICK_ROUNDS = 5, 1
SECONDS, QUICK_SECONDS = 3, 2  # per iperf3 run, the first one omitted (slow start)
PORT = 5201
STAGES = (1, 100, 1000)
SAMPLES = 8  # per visit of a stage
CYCLES, QUICK_CYCLES = 3, 1  # of visits 1, 100, 1000, 1000, 100, 1
FILLERS = 10  # running containers that hold the ports already published
TARGET_RATIO = 0.95
TARGET_FLAT = 1.2


# --- throughput -------------------------------------------------------------------------------


def throughput(rounds: int, seconds: int) -> dict[str, dict[str, list[float]]]:
    """Gbit/s per path: {"path": {"published": [...], "direct": [...]}}."""
    from hatoba.testing import Sandbox
    from hatoba.testing.sandbox import HOST_UPLINK

    with Sandbox(with_outside=True, prefix="hatoba-bench-") as sb:
        assert sb.outside is not None
        sb.hatoba("network", "create", "other")
        sb.hatoba("run", "-d", "--name", "srv", "-p", f"{PORT}:{PORT}", "hostfs", "iperf3", "-s")
        sb.hatoba("run", "-d", "--name", "peer", "hostfs", "sleep", "infinity")
        sb.hatoba("run", "-d", "--name", "far", "--net", "other", "hostfs", "sleep", "infinity")
        info = json.loads(sb.hatoba("inspect", "srv").stdout)[0]
        srv = info["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]
        sb.hatoba("network", "connect", "bridge", "far")
        sb.sh(["ip", "route", "add", "172.16.0.0/12", "via", HOST_UPLINK], ns=sb.outside)

        def client(where: str | Path | None) -> Callable[[str], float]:
            def run(address: str) -> float:
                argv = ["iperf3", "-c", address, "-p", str(PORT), "-t", str(seconds), "-O", "1"]
                argv += ["-J", "--connect-timeout", "5000"]
                if isinstance(where, str):
                    out = sb.hatoba("exec", where, *argv, timeout=60).stdout
                else:
                    out = sb.sh(argv, ns=where, timeout=60).stdout
                result = json.loads(out)
                return float(result["end"]["sum_received"]["bits_per_second"]) / 1e9

            return run

        # the client, the published address, the direct one
        paths = {
            "container → container, same network": (client("peer"), HOST_UPLINK, srv),
            "outside client → published port": (client(sb.outside), HOST_UPLINK, None),
            "host → 127.0.0.1:port": (client(None), "127.0.0.1", srv),
            "container on another network → host:port": (client("far"), HOST_UPLINK, srv),
        }
        wait_listening(lambda: paths["host → 127.0.0.1:port"][0]("127.0.0.1"))
        results: dict[str, dict[str, list[float]]] = {
            p: {"published": [], "direct": []} for p in paths
        }
        for r in range(rounds):
            for name, (run, published, direct) in paths.items():
                order = [("published", published), ("direct", direct)]
                for kind, address in order if r % 2 == 0 else reversed(order):
                    if address is not None:
                        results[name][kind].append(run(address))
        return results


def wait_listening(attempt: Callable[[], object]) -> None:
    for _ in range(50):
        try:
            attempt()
            return
        except (AssertionError, ValueError, KeyError):
            time.sleep(0.1)
    raise AssertionError("iperf3 server did not answer")


# --- one more published port (worker inside the sandbox host namespace) ---------------------


def port_worker(root: str, run_root: str, resolv: str, cycles: int) -> None:
    import hatoba.engine.firewall as steps
    from hatoba.engine.containers import CreateRequest
    from hatoba.model.container import ContainerConfig
    from hatoba.model.ports import PortMapping

    spent: dict[str, float] = {}

    def timed(fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[fn.__name__] = spent.get(fn.__name__, 0.0) + time.perf_counter() - t0

        return wrapper

    steps.follow = timed(steps.follow)  # type: ignore[method-assign]
    steps.reserve = timed(steps.reserve)  # type: ignore[method-assign]

    local = open_worker_engine(root, run_root, resolv)
    engine = local.engine
    engine.bootstrap()

    def create(name: str, ports: list[int]) -> str:
        mappings = tuple(PortMapping(p, "tcp", None, p) for p in ports)
        cfg = ContainerConfig(image="hostfs", cmd=("sleep", "infinity"), ports=mappings)
        return engine.create_container(CreateRequest(cfg, name=name)).id

    out = {str(stage): {"start": [], "reserve": [], "follow": []} for stage in STAGES}
    fillers: list[tuple[str, int, int]] = []
    # up and down again, a few times, so that drift in the machine's load does not pass for
    # growth; the same number of other containers at every stage, only their ports change
    for visit, stage in enumerate((*STAGES, *reversed(STAGES)) * cycles):
        while fillers:
            stop(engine, *fillers.pop())
        for n in range(FILLERS):
            ports = list(range(20000 + n, 20000 + stage, FILLERS))
            c = engine.start(create(f"filler{visit}-{n}", ports))
            fillers.append((c.id, c.state.pid, c.state.shim_pid))
        samples = out[str(stage)]
        for i in range(SAMPLES):
            cid = create(f"probe{visit}-{i}", [40000])
            spent.clear()
            t0 = time.perf_counter()
            container = engine.start(cid)
            samples["start"].append(time.perf_counter() - t0)
            samples["reserve"].append(spent["reserve"])
            samples["follow"].append(spent["follow"])
            assert len(engine.firewall_state().ports) == stage + 1
            stop(engine, container.id, container.state.pid, container.state.shim_pid)
    for samples in out.values():
        pairs = zip(samples["reserve"], samples["follow"], strict=True)
        samples["firewall"] = [a + b for a, b in pairs]
    engine.reset()
    local.close()
    json.dump(out, sys.stdout)


def stop(engine: Any, cid: str, pid: int, shim_pid: int) -> None:
    """Kill the container and record its exit as the service would, then remove it."""
    fd = os.pidfd_open(shim_pid)
    try:
        engine.core.runtime.signal(pid, 9)
        waiter = select.poll()  # the worker holds more than select()'s 1024 descriptors
        waiter.register(fd, select.POLLIN)
        waiter.poll(10_000)
    finally:
        os.close(fd)
    engine.exited(cid)
    engine.remove(cid)


def port_costs(cycles: int) -> dict[str, dict[str, list[float]]]:
    from hatoba.testing import Sandbox

    with Sandbox(prefix="hatoba-bench-") as sb:
        paths = (str(sb.root), str(sb.run_root), str(sb.resolv_conf))
        return run_worker(sb, "bench.firewall", *paths, str(cycles), timeout=900)  # type: ignore[no-any-return]


# --- tables -----------------------------------------------------------------------------------


def main(quick: bool = False) -> None:
    rounds, seconds, cycles = (
        (QUICK_ROUNDS, QUICK_SECONDS, QUICK_CYCLES) if quick else (ROUNDS, SECONDS, CYCLES)
    )
    flows = throughput(rounds, seconds)
    costs = port_costs(cycles)
    save("firewall", {"throughput_gbit_s": flows, "port_costs_s": costs})
    rows = []
    for name, kinds in flows.items():
        if not kinds["direct"]:
            rows.append((name, gbits(kinds["published"]), "closed (isolation)", "", ""))
            continue
        ratio = statistics.median(kinds["published"]) / statistics.median(kinds["direct"])
        verdict = "ok" if ratio >= TARGET_RATIO else "BELOW"
        rows.append(
            (name, gbits(kinds["published"]), gbits(kinds["direct"]), f"{ratio:.2f}×", verdict)
        )
    print(
        table(
            f"Throughput, Gbit/s (iperf3 TCP, {rounds} runs × {seconds - 1} s each, median)",
            rows,
            ("path", "published port", "direct to container", "ratio", f"≥ {TARGET_RATIO}×"),
        )
    )
    rows = []
    base = costs[str(STAGES[0])]
    for stage in STAGES:
        c = costs[str(stage)]
        growth = [f"{median_ms(c[k]) / median_ms(base[k]):.2f}×" for k in ("start", "firewall")]
        rows.append((str(stage), ms(c["start"]), ms(c["firewall"]), *growth))
    print(
        table(
            "One more published port: Engine.start of a container with one -p (in-process)",
            rows,
            (
                "ports already published",
                "start",
                "firewall step",
                "start vs 1",
                f"firewall vs 1 (≤ {TARGET_FLAT}×)",
            ),
        )
    )
    print(
        "\nfirewall step = reserving the host port + deriving the state + delta + one nftables\n"
        "transaction; the container on another network reaches the server directly through a\n"
        "second network it is connected to (hatoba's isolation closes the path between networks)."
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        port_worker(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
    else:
        main("--quick" in sys.argv)
