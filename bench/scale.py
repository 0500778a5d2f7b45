"""Flat to 1000: the service with 1000 running containers on one network, each publishing a
port, against the same service with 10.

In one sandbox, through the CLI and the API of the real service:

- `hatoba run -d` of containers #1–10 and #991–1000 (each with one `-p`), the rest started
  over the API with a few requests in flight. Each end is timed ROUNDS times over, the ten
  removed after each round but the last (and a few seconds left for the kernel's clean-up):
  on this shared machine a median of ten swung by ±20% between back-to-back runs of the same
  code;
- the machine's CPU time while everything stands still for a few seconds, at 10 and at 1000
  containers: what the kernel's own background work takes from every run;
- the embedded DNS with 10 names (dnsperf, 3 runs at 10 containers), and at 1000 containers
  with 1000 names and with 10 (3 runs each, alternating);
- beside each run and each dnsperf, the service's own CPU time (its utime + stime): per `run`,
  per answered query. On a shared 2-core machine the wall times follow whatever else runs;
  the service's CPU time per unit of work hardly does, so it shows what grows with the
  containers and what is load;
- the service's memory (VmRSS) at 10 and at 1000 containers;
- a restart of the service with 1000 running containers: SIGTERM, then `hatoba version`,
  which starts it again and waits for its answer (reconcile, firewall, DNS of all 1000);
- `hatoba system reset -f` of the 1000.

In-process attach/detach at 1000 containers is bench.attach.

    python -m bench scale [--quick]     (--quick: 200 containers, shorter dnsperf runs)
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
from typing import Any

from bench.common import api, median_ms, ms, run_worker, save, table, timed

COUNT, QUICK_COUNT = 1000, 200
EDGE = 10  # containers timed through the CLI at each end
ROUNDS = 3  # times each end is timed
STILL_SECONDS = 5
SETTLE_SECONDS = 3  # after a round's removal
SECONDS, QUICK_SECONDS = 5, 2  # per dnsperf run
DNS_RUNS = 3  # at 10 containers, and again at 1000
IN_FLIGHT = 4
FIRST_PORT = 20000
TARGET_GROWTH = 1.15
TARGET_DNS = 0.9
TARGET_RSS_MB = 150
TARGET_RESET_S = 15.0
TARGET_RESTART_S = 3.0


def worker(count: int, seconds: int) -> None:
    hatoba = str(Path(sys.executable).parent / "hatoba")
    run_root = Path(os.environ["HATOBA_RUN_ROOT"])
    sock = str(run_root / "hatoba.sock")
    result: dict[str, Any] = {"count": count}
    subprocess.run([hatoba, "network", "create", "big"], check=True, capture_output=True)

    def runs(numbers: range, into: str) -> None:
        """Timed one by one, ROUNDS times over (a round's containers removed but the last's);
        the service's CPU time (counted in 10 ms ticks) per run over all."""
        result[into], cpu = [], 0.0
        for left in reversed(range(ROUNDS)):
            names = [f"c{i}-{left}" if left else f"c{i}" for i in numbers]
            before = _service_cpu(run_root)
            result[into] += [
                timed([hatoba, "run", "-d", "--name", name, "--net", "big", "-p",
                       f"{_port(i + left * count)}:80", "hostfs", "sleep", "infinity"])
                for i, name in zip(numbers, names, strict=True)
            ]  # fmt: skip
            cpu += _service_cpu(run_root) - before
            if left:
                subprocess.run([hatoba, "rm", "-f", *names], check=True, capture_output=True)
                time.sleep(SETTLE_SECONDS)  # the kernel's namespace clean-up, not the next round
        result[f"{into}_cpu"] = cpu / (len(numbers) * ROUNDS)

    def dns(names: list[str], into: str) -> None:
        qps, cpu_per_answer = _dnsperf(run_root, names, seconds)
        result.setdefault(into, []).append(qps)
        result.setdefault(f"{into}_cpu", []).append(cpu_per_answer)

    runs(range(EDGE), "run_first")
    result["still_few"] = _machine_busy(STILL_SECONDS)
    few = [f"c{i}" for i in range(EDGE)]
    for _ in range(DNS_RUNS):
        dns(few, "dns_few")
    result["rss_few_mb"] = _rss_mb(run_root)
    _fill(sock, range(EDGE, count - EDGE))
    runs(range(count - EDGE, count), "run_last")
    result["still_many"] = _machine_busy(STILL_SECONDS)
    many = [f"c{i}" for i in range(count)]
    for _ in range(DNS_RUNS):
        dns(many, "dns_many")
        dns(few, "dns_few_at_many")
    result["rss_many_mb"] = _rss_mb(run_root)
    result["restart"] = _restart(hatoba, run_root)
    result["running_after_restart"] = len(
        subprocess.run([hatoba, "ps", "-q"], check=True, capture_output=True).stdout.split()
    )
    result["reset"] = timed([hatoba, "system", "reset", "-f"])
    json.dump(result, sys.stdout)


def _port(i: int) -> int:
    return FIRST_PORT + i


def _fill(sock: str, numbers: range) -> None:
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
                    "PortBindings": {"80/tcp": [{"HostPort": str(_port(i))}]},
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
        args = (str(count), str(seconds))
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
    rounds = f"{ROUNDS} rounds"
    return [
        (f"run -d -p, containers #1–10 ({rounds})", ms(r["run_first"]), ""),
        (f"run -d -p, containers #{count - 9}–{count} ({rounds})", ms(r["run_last"]),
         f"growth {growth:.2f}× (≤ {TARGET_GROWTH}×)"),
        (f"… the service's CPU time per run (mean), #1–10 / #{count - 9}–{count}",
         f"{cpu_first:.1f} / {cpu_last:.1f} ms", f"growth {cpu_last / cpu_first:.2f}×"),
        (f"… the machine's CPU time with nothing asked, at 10 / at {count} containers",
         f"{r['still_few'] * 1000:.0f} / {r['still_many'] * 1000:.0f} ms per s", ""),
        ("embedded DNS, 10 names at 10 containers (dnsperf q/s)", _qps(r["dns_few"]), ""),
        (f"embedded DNS, {count} names at {count} containers", _qps(r["dns_many"]),
         f"{dns:.2f}× (≥ {TARGET_DNS}×)"),
        (f"embedded DNS, 10 names at {count} containers (alternating with {count} names)",
         _qps(r["dns_few_at_many"]), f"{count} names: {dns_same:.2f}×"),
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
        worker(int(sys.argv[2]), int(sys.argv[3]))
    else:
        main("--quick" in sys.argv)
