"""Observation's cost: capturing beside a fast flow, and how long `hatoba explain` takes.

Capture (iperf3 TCP from the sandbox's host to a container, at full speed): the flow's
throughput while `hatoba capture --container srv` runs with a filter that matches nothing,
and while it writes every packet to a pcap file, against the same flow with no capture, the
three alternating so that all see the same machine load. What the kernel dropped because the
capture could not keep up is reported beside it: a capture never slows the flow to keep up.

explain (through the CLI, as a user runs it): a path hatoba's isolation drops, and a delivered
one, each after one warm-up.

    python -m bench.observe [--quick]
"""

from __future__ import annotations

import json
import re
import signal
import statistics
import subprocess
import sys
import time
from typing import Any

from bench.common import gbits, ms, save, table

ROUNDS, QUICK_ROUNDS = 5, 1
SECONDS, QUICK_SECONDS = 4, 2  # per iperf3 run, the first one omitted (slow start)
PORT = 5201
EXPLAINS, QUICK_EXPLAINS = 10, 3
TARGET_FILTERED, TARGET_WRITING = 0.95, 0.80
TARGET_DROPPED_S, TARGET_DELIVERED_S = 2.0, 0.5
_COUNTS = re.compile(r"(\d+) packets captured, (\d+) dropped by kernel")


def capture_costs(rounds: int, seconds: int) -> dict[str, Any]:
    from hatoba.testing import Sandbox

    with Sandbox(prefix="hatoba-bench-") as sb:
        sb.hatoba("run", "-d", "--name", "srv", "hostfs", "iperf3", "-s", "-p", str(PORT))
        info = json.loads(sb.hatoba("inspect", "srv").stdout)[0]
        srv = info["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]

        def flow() -> float:
            argv = ["iperf3", "-c", srv, "-p", str(PORT), "-t", str(seconds), "-O", "1", "-J"]
            for _ in range(50):  # the server may not listen yet
                result = sb.sh(argv, check=False, timeout=60)
                if result.returncode == 0:
                    return (
                        float(json.loads(result.stdout)["end"]["sum_received"]["bits_per_second"])
                        / 1e9
                    )
                time.sleep(0.1)
            raise AssertionError(f"iperf3 failed: {result.stdout[-500:]}")

        def captured(*args: str) -> tuple[float, int, int]:
            proc = sb.popen(
                [*sb.hatoba_argv, "capture", "--container", "srv", *args],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            assert proc.stderr is not None
            proc.stderr.readline()  # listening on …
            speed = flow()
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=60)
            found = _COUNTS.search(err)
            assert found, err
            return speed, int(found[1]), int(found[2])

        pcap = sb.dir / "all.pcap"
        out: dict[str, Any] = {
            "none": [],
            "filtered": [],
            "writing": [],
            "written": [],
            "dropped": [],
        }
        for r in range(rounds):
            kinds = ["none", "filtered", "writing"]
            for kind in kinds if r % 2 == 0 else reversed(kinds):
                if kind == "none":
                    out["none"].append(flow())
                elif kind == "filtered":
                    out["filtered"].append(captured("port", "1")[0])  # nothing on port 1
                else:
                    speed, written, dropped = captured("-w", str(pcap))
                    out["writing"].append(speed)
                    out["written"].append(written)
                    out["dropped"].append(dropped)
                    pcap.unlink(missing_ok=True)
        return out


def explain_costs(explains: int) -> dict[str, list[float]]:
    from hatoba.testing import Sandbox

    with Sandbox(prefix="hatoba-bench-") as sb:
        sb.hatoba("network", "create", "sample")
        sb.hatoba("network", "create", "other")
        sb.hatoba("run", "-d", "--name", "near", "--net", "sample", "hostfs", "sleep", "1d")
        sb.hatoba("run", "-d", "--name", "next", "--net", "sample", "hostfs", "sleep", "1d")
        sb.hatoba("run", "-d", "--name", "far", "--net", "other", "hostfs", "sleep", "1d")
        far = json.loads(sb.hatoba("inspect", "far").stdout)[0]
        far_ip = far["NetworkSettings"]["Networks"]["other"]["IPAddress"]
        cases = {
            "dropped": ["--from", "near", "--to", far_ip],
            "delivered": ["--from", "near", "--to", "next"],
        }
        out: dict[str, list[float]] = {kind: [] for kind in cases}
        for args in cases.values():
            sb.hatoba("explain", *args)  # warm-up: tracefs, libpcap, first namespace threads
        for _ in range(explains):
            for kind, args in cases.items():
                t0 = time.perf_counter()
                text = sb.hatoba("explain", *args).stdout
                out[kind].append(time.perf_counter() - t0)
                expected = "Dropped by hatoba" if kind == "dropped" else "Delivered"
                assert text.startswith(expected), text
        return out


def main(quick: bool = False) -> None:
    rounds, seconds, count = (
        (QUICK_ROUNDS, QUICK_SECONDS, QUICK_EXPLAINS) if quick else (ROUNDS, SECONDS, EXPLAINS)
    )
    flows = capture_costs(rounds, seconds)
    explains = explain_costs(count)
    save("observe", {"capture_gbit_s": flows, "explain_s": explains})
    base = statistics.median(flows["none"])
    rows = [("no capture", gbits(flows["none"]), "1.00×", "", "")]
    for kind, target, what in (
        ("filtered", TARGET_FILTERED, "a filter that matches nothing"),
        ("writing", TARGET_WRITING, "writing every packet to a pcap"),
    ):
        ratio = statistics.median(flows[kind]) / base
        verdict = "ok" if ratio >= target else "BELOW"
        rows.append(
            (f"capture, {what}", gbits(flows[kind]), f"{ratio:.2f}×", f"≥ {target}×", verdict)
        )
    print(
        table(
            f"iperf3 through a captured veth, Gbit/s ({rounds} runs × {seconds - 1} s, median)",
            rows,
            ("flow", "throughput", "vs none", "target", ""),
        )
    )
    written, dropped = sum(flows["written"]), sum(flows["dropped"])
    share = dropped / max(written + dropped, 1)
    print(
        f"(writing every packet: {written} packets written, {dropped} dropped by the kernel "
        f"({share:.0%}) because the capture fell behind a {base:.1f} Gbit/s flow)"
    )
    rows = []
    for kind, target in (("dropped", TARGET_DROPPED_S), ("delivered", TARGET_DELIVERED_S)):
        median = statistics.median(explains[kind])
        verdict = "ok" if median <= target else "ABOVE"
        rows.append(
            (f"hatoba explain, {kind} path", ms(explains[kind]), f"≤ {target:g} s", verdict)
        )
    print(
        table(
            "hatoba explain through the CLI",
            rows,
            ("measure", "median (min – max, n)", "target", ""),
        )
    )


if __name__ == "__main__":
    main("--quick" in sys.argv)
