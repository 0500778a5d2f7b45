"""What the `hatoba` command costs before and around its one request.

Median of N runs each, alternating, against a service already running in a sandbox "host"
namespace (a worker inside it spawns the commands, so no nsenter is timed):

- `python -c pass`: the bare interpreter, the floor;
- `hatoba version`: the console script (which imports `re`), argument parsing, the client and
  one GET /version round trip;
- `python -m hatoba version`: the same without the console script's wrapper;
- `hatoba --help`: start-up and parsing without a request.

Bytecode caches are used, as an installed hatoba would: PYTHONDONTWRITEBYTECODE is dropped
for the commands and one untimed run of each writes the caches first.

    python -m bench.cli_startup [--quick]      prints the table
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

from bench.common import median_ms, ms, run_worker, save, table

N, QUICK_N = 30, 10
TARGET_OVERHEAD_MS = 8.0


def measure(n: int = N) -> dict[str, list[float]]:
    """Run the worker in a fresh sandbox; seconds per command label."""
    from hatoba.testing import Sandbox

    with Sandbox(prefix="hatoba-bench-") as sb:
        sb.hatoba("version")  # starts the service
        samples: dict[str, list[float]] = run_worker(sb, "bench.cli_startup", str(n), timeout=600)
    return samples


def rows(samples: dict[str, list[float]]) -> list[tuple[str, str, str]]:
    overhead = median_ms(samples["hatoba version"]) - median_ms(samples["python -c pass"])
    return [
        *((label, ms(values), "") for label, values in samples.items()),
        (
            "hatoba version − python -c pass (medians)",
            f"{overhead:.2f} ms",
            f"≤ {TARGET_OVERHEAD_MS:.0f} ms",
        ),
    ]


def main(quick: bool = False) -> None:
    samples = measure(QUICK_N if quick else N)
    save("cli_startup", samples)
    print(
        table(
            "CLI start-up: one command, one request",
            rows(samples),
            ("measure", "median (min – max, n)", "target"),
        )
    )


def worker(n: int) -> None:
    python = sys.executable
    hatoba = str(Path(python).parent / "hatoba")
    commands = {
        "python -c pass": [python, "-c", "pass"],
        "hatoba version": [hatoba, "version"],
        "python -m hatoba version": [python, "-m", "hatoba", "version"],
        "hatoba --help (no request)": [hatoba, "--help"],
    }
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    for argv in commands.values():
        subprocess.run(argv, env=env, check=True, capture_output=True)
    samples: dict[str, list[float]] = {label: [] for label in commands}
    order = random.Random(0)
    for _ in range(n):
        for label in order.sample(list(commands), len(commands)):
            samples[label].append(_timed(commands[label], env))
    json.dump(samples, sys.stdout)


def _timed(argv: list[str], env: dict[str, str]) -> float:
    import time

    start = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        worker(int(sys.argv[2]))
    else:
        main("--quick" in sys.argv)
