"""Flat to 1000: the service with 1000 running containers on one network, each publishing a
port, against the same service with 10.

In one sandbox, through the CLI and the API of the real service, ROUNDS rounds, each:

- once the machine is quiet again (a second of its CPU time back within twice what it was
  before the first round, at most QUIET_MAX: the kernel's clean-up of the round before),
  `hatoba run -d` of containers #1–10 (each with one `-p`), then dnsperf with their 10 names;
- the rest started over the API with a few requests in flight, SETTLE_SECONDS left for the
  fill's aftermath, then `hatoba run -d` of #991–1000, dnsperf with 1000 names and with the
  10 names again;
- all of them removed in one batch, but in the last round.

So each end is timed ROUNDS times, the two ends alternating (on this shared machine a median
of ten swung by ±20% between back-to-back runs of the same code, and the machine's own load
drifts over minutes). Beside each run and each dnsperf, the service's own CPU time (its utime
+ stime): per `run`, per answered query; the wall times follow whatever else runs on a shared
2-core machine, the service's CPU time per unit of work hardly does. Once, at each end: the
machine's CPU time while everything stands still for a few seconds (what the kernel's own
background work takes from every run), the service's memory (VmRSS). At the end, with 1000
running: a restart of the service (SIGTERM, then `hatoba version`, which starts it again and
waits for its answer: reconcile, firewall, DNS of all 1000), then `hatoba system reset -f`.

DNS's target compares 1000 names with 10 names at the same 1000 containers, run after
each other (the names are what it varies; both runs share the machine's state at 1000); the
ratio against 10 names at 10 containers, minutes apart, is printed beside the latter.

In-process attach/detach at 1000 containers is bench.attach.

    python -m bench scale [--quick]     (--quick: 200 containers, two rounds, shorter runs)
"""

from __future__ import annotations

import json
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, cast

from bench.common import api, median_ms, ms, run_worker, save, table, timed

COUNT, QUICK_COUNT = 1000, 200
EDGE = 10  # containers timed through the CLI at each end
ROUNDS, QUICK_ROUNDS = 3, 2  # times each end is timed
STILL_SECONDS, QUICK_STILL_SECONDS = 5, 2
SETTLE_SECONDS = 3  # after a fill
QUIET_MAX = 30.0  # the longest wait for the machine to be quiet before a round
SECONDS, QUICK_SECONDS = 5, 2  # per dnsperf run
IN_FLIGHT = 4
FIRST_PORT = 20000
TARGET_GROWTH = 1.15
TARGET_DNS = 0.9
TARGET_RSS_MB = 150
TARGET_RESET_S = 15.0
TARGET_RESTART_S = 3.0


def worker(count: int, seconds: int, rounds: int, still: int) -> None:
    hatoba = str(Path(sys.executable).parent / "hatoba")
    run_root = Path(os.environ["HATOBA_RUN_ROOT"])
    sock = str(run_root / "hatoba.sock")
    result: dict[str, Any] = {"count": count, "rounds": rounds, "quiet_waits": []}
    result["run_first"], result["run_last"] = [], []
    result["run_first_cpu"] = result["run_last_cpu"] = 0.0
    subprocess.run([hatoba, "network", "create", "big"], check=True, capture_output=True)
    idle = _machine_busy(1.0)

    def runs(numbers: range, round_: int, into: str) -> None:
        """Timed one by one; the service's CPU time (counted in 10 ms ticks) per run."""
        before = _service_cpu(run_root)
        result[into] += [
            timed([hatoba, "run", "-d", "--name", f"c{i}", "--net", "big", "-p",
                   f"{_port(i, round_, count)}:80", "hostfs", "sleep", "infinity"])
            for i in numbers
        ]  # fmt: skip
        result[f"{into}_cpu"] += (_service_cpu(run_root) - before) / (len(numbers) * rounds)

    def dns(names: list[str], into: str) -> None:
        qps, cpu_per_answer = _dnsperf(run_root, names, seconds)
        result.setdefault(into, []).append(qps)
        result.setdefault(f"{into}_cpu", []).append(cpu_per_answer)

    few, many = [f"c{i}" for i in range(EDGE)], [f"c{i}" for i in range(count)]
    for round_ in range(rounds):
        last = round_ == rounds - 1
        result["quiet_waits"].append(_until_quiet(idle))
        runs(range(EDGE), round_, "run_first")
        dns(few, "dns_few")
        if round_ == 0:
            result["still_few"] = _machine_busy(still)
            result["rss_few_mb"] = _rss_mb(run_root)
        _fill(sock, range(EDGE, count - EDGE), round_, count)
        time.sleep(SETTLE_SECONDS)  # the fill's own aftermath, not the runs
        runs(range(count - EDGE, count), round_, "run_last")
        dns(many, "dns_many")
        dns(few, "dns_few_at_many")
        if last:
            result["still_many"] = _machine_busy(still)
            result["rss_many_mb"] = _rss_mb(run_root)
        else:
            _empty(sock, many)
    result["restart"] = _restart(hatoba, run_root)
    result["running_after_restart"] = len(
        subprocess.run([hatoba, "ps", "-q"], check=True, capture_output=True).stdout.split()
    )
    result["reset"] = timed([hatoba, "system", "reset", "-f"])
    json.dump(result, sys.stdout)


def _until_quiet(idle: float) -> float:
    """Wait until a second of the machine's CPU time is back near `idle` (the kernel's clean-up
    of the containers removed before: namespaces, cgroups), at most QUIET_MAX; the seconds
    waited."""
    start = time.monotonic()
    while time.monotonic() - start < QUIET_MAX and _machine_busy(1.0) > 2 * idle + 0.02:
        pass
    return time.monotonic() - start


def _port(i: int, round_: int, count: int) -> int:
    """A host port no earlier round used."""
    return FIRST_PORT + i + round_ * count


def _fill(sock: str, numbers: range, round_: int, count: int) -> None:
    """Create and start these containers over the API, IN_FLIGHT at a time."""
    todo = list(numbers)
    lock = threading.Lock()
    errors: list[str] = []

    def work() -> None:
        while True:
            with lock:
                if not todo or errors:
                    return
                i = todo.pop()
            body = {
                "Image": "hostfs",
                "Cmd": ["sleep", "infinity"],
                "ExposedPorts": {"80/tcp": {}},
                "HostConfig": {
                    "NetworkMode": "big",
                    "PortBindings": {"80/tcp": [{"HostPort": str(_port(i, round_, count))}]},
                },
            }
            status, _, made = api(sock, "POST", f"/v1.41/containers/create?name=c{i}", body)
            if status == 201:
                status, _, made = api(sock, "POST", f"/v1.41/containers/{made['Id']}/start")
            if status >= 300:
                errors.append(f"c{i}: {status} {made}")

    threads = [threading.Thread(target=work) for _ in range(IN_FLIGHT)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(errors[0])


def _empty(sock: str, names: list[str]) -> None:
    """Remove these containers, in one batch."""
    body = {"Ids": names, "Force": True}
    status, _, answer = api(sock, "POST", "/hatoba/containers/remove", body)
    outcomes = cast(list[dict[str, Any]], answer)  # this route answers a list
    failed = [item for item in outcomes if "Error" in item] if status == 200 else [answer]
    if failed:
        raise RuntimeError(f"remove: {status} {failed[0]}")


def _dnsperf(run_root: Path, names: list[str], seconds: int) -> tuple[float, float]:
    """Queries per second of dnsperf in container c0's namespace, asking these names, and the
    service's CPU seconds per answered query."""
    path = run_root.parent / f"names-{len(names)}.txt"
    path.write_text("".join(f"{name} A\n" for name in names))
    cid = subprocess.run(
        [str(Path(sys.executable).parent / "hatoba"), "inspect", "-f", "{{.Id}}", "c0"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    before = _service_cpu(run_root)
    out = subprocess.run(
        ["nsenter", f"--net={run_root / 'netns' / cid}", "dnsperf", "-s", "127.0.0.11",
         "-d", str(path), "-l", str(seconds)],
        check=True, capture_output=True, text=True, timeout=seconds + 60,
    ).stdout  # fmt: skip
    cpu = _service_cpu(run_root) - before
    found = re.search(r"Queries per second:\s+([\d.]+)", out)
    answered = re.search(r"Queries completed:\s+(\d+)", out)
    if found is None or answered is None:
        raise RuntimeError(f"dnsperf said:\n{out}")
    return float(found.group(1)), cpu / max(int(answered.group(1)), 1)


def _service_cpu(run_root: Path) -> float:
    """CPU seconds the service has used so far (all its threads)."""
    pid = int((run_root / "hatoba.pid").read_text().split()[0])
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _machine_busy(seconds: float) -> float:
    """The machine's CPU seconds per second, all CPUs, over `seconds` of nothing asked."""

    def busy() -> float:
        with open("/proc/stat", encoding="ascii") as f:
            ticks = [int(x) for x in f.readline().split()[1:]]
        idle = ticks[3] + ticks[4]  # idle, iowait
        return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")

    before = busy()
    time.sleep(seconds)
    return (busy() - before) / seconds


def _rss_mb(run_root: Path) -> float:
    pid = int((run_root / "hatoba.pid").read_text().split()[0])
    status = Path(f"/proc/{pid}/status").read_text()
    found = re.search(r"VmRSS:\s+(\d+) kB", status)
    assert found is not None
    return int(found.group(1)) / 1024


def _restart(hatoba: str, run_root: Path) -> float:
    """SIGTERM to the service (the keeper ends with it), then the seconds until a CLI command
    that starts it again has its answer."""
    pids = [int((run_root / name).read_text().split()[0]) for name in ("keeper.pid", "hatoba.pid")]
    os.kill(pids[0], signal.SIGTERM)
    deadline = time.monotonic() + 60
    while any(Path(f"/proc/{pid}").exists() for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.01)
    return timed([hatoba, "version"])


def measure(quick: bool = False) -> dict[str, Any]:
    from hatoba.testing import Sandbox

    count, seconds = (QUICK_COUNT, QUICK_SECONDS) if quick else (COUNT, SECONDS)
    with Sandbox(prefix="hatoba-bench-") as sb:
        sb.hatoba("version")
        rounds, still = (QUICK_ROUNDS, QUICK_STILL_SECONDS) if quick else (ROUNDS, STILL_SECONDS)
        args = (str(count), str(seconds), str(rounds), str(still))
        result: dict[str, Any] = run_worker(sb, "bench.scale", *args, timeout=3600)
    return result


def rows(r: dict[str, Any]) -> list[tuple[str, str, str]]:
    count = r["count"]
    growth = median_ms(r["run_last"]) / median_ms(r["run_first"])
    cpu_first, cpu_last = r["run_first_cpu"] * 1000, r["run_last_cpu"] * 1000
    dns = statistics.median(r["dns_many"]) / statistics.median(r["dns_few"])
    dns_same = statistics.median(r["dns_many"]) / statistics.median(r["dns_few_at_many"])
    answer = {k: statistics.median(r[f"{k}_cpu"]) * 1e6 for k in ("dns_few", "dns_few_at_many")}
    answer_many = statistics.median(r["dns_many_cpu"]) * 1e6
    rounds = f"{r['rounds']} rounds, alternating"
    waits = ", ".join(f"{w:.0f}" for w in r["quiet_waits"])
    return [
        (f"run -d -p, containers #1–10 ({rounds})", ms(r["run_first"]), ""),
        (f"run -d -p, containers #{count - 9}–{count} ({rounds})", ms(r["run_last"]),
         f"growth {growth:.2f}× (≤ {TARGET_GROWTH}×)"),
        ("… waited for the machine to be quiet before each round's #1–10", f"{waits} s", ""),
        (f"… the service's CPU time per run (mean), #1–10 / #{count - 9}–{count}",
         f"{cpu_first:.1f} / {cpu_last:.1f} ms", f"growth {cpu_last / cpu_first:.2f}×"),
        (f"… the machine's CPU time with nothing asked, at 10 / at {count} containers",
         f"{r['still_few'] * 1000:.0f} / {r['still_many'] * 1000:.0f} ms per s", ""),
        ("embedded DNS, 10 names at 10 containers (dnsperf q/s, one a round)",
         _qps(r["dns_few"]), f"{count} names at {count}: {dns:.2f}×"),
        (f"embedded DNS, {count} names at {count} containers", _qps(r["dns_many"]),
         f"{dns_same:.2f}× (≥ {TARGET_DNS}×)"),
        (f"embedded DNS, 10 names at {count} containers (after each {count}-name run)",
         _qps(r["dns_few_at_many"]), ""),
        ("… the service's CPU time per answer: 10 names at 10 / at "
         f"{count} containers, {count} names",
         f"{answer['dns_few']:.1f} / {answer['dns_few_at_many']:.1f} / {answer_many:.1f} µs",
         f"{answer_many / answer['dns_few']:.2f}×"),
        ("service RSS at 10 containers", f"{r['rss_few_mb']:.0f} MB", ""),
        (f"service RSS at {count} containers", f"{r['rss_many_mb']:.0f} MB",
         f"≤ {TARGET_RSS_MB} MB"),
        (f"service restart with {count} running (to its first answer)",
         f"{r['restart']:.2f} s ({r['running_after_restart']} running after)",
         f"≤ {TARGET_RESTART_S:.0f} s"),
        (f"system reset -f of {count} containers", f"{r['reset']:.2f} s",
         f"≤ {TARGET_RESET_S:.0f} s"),
    ]  # fmt: skip


def _qps(runs: list[float]) -> str:
    low, high = min(runs), max(runs)
    return f"{statistics.median(runs):,.0f} ({low:,.0f} – {high:,.0f}, n={len(runs)})"


def main(quick: bool = False) -> None:
    result = measure(quick)
    save("scale", result)
    print(table(f"Flat to {result['count']}: one network, one published port each", rows(result),
                ("measure", "median (min – max, n) or value", "target")))  # fmt: skip


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        worker(*map(int, sys.argv[2:6]))
    else:
        main("--quick" in sys.argv)
