"""`hatoba compose` against Debian's docker-compose 1.29 driving hatoba's own socket.

In one sandbox, alternating so both see the same machine load:

- `up -d --scale web=100` and `down` of one service on the project network, by hatoba's own
  compose and by docker-compose 1.29 (DOCKER_HOST=unix://<run-root>/hatoba.sock), same file;
- `up -d` of a 2-service file to both running, and its `down`, with the project load cached
  (the usual case: the file did not change since the last command) and without (cache emptied).

If docker-compose is missing or fails, its row says why and the ratio is left out.

    python -m bench compose [--quick]     prints the table
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.common import median_ms, ms, run_worker, save, table

ROUNDS, QUICK_ROUNDS = 5, 1
SMALL_ROUNDS, QUICK_SMALL_ROUNDS = 10, 3
REPLICAS = 100
TARGET_S = 1.5
TARGET_RATIO = 0.5
TARGET_SMALL_MS = 150.0

# exits at once on SIGTERM, so that `down` measures compose and the engine, not a timeout
SERVICE = (
    "    image: alpine:latest\n"
    "    command: [sh, -c, 'trap \"exit 0\" TERM; sleep 1000000 & wait']\n"
)
HUNDRED = f"services:\n  web:\n{SERVICE}"
SMALL = f"services:\n  web:\n{SERVICE}  db:\n{SERVICE}"


def worker(sandbox_dir: Path, rounds: int, small_rounds: int) -> None:
    from hatoba.images.busybox import build_busybox_images

    hatoba = str(Path(sys.executable).parent / "hatoba")
    alpine = build_busybox_images()[0]
    tarball = sandbox_dir / "alpine.tar"
    tarball.write_bytes(alpine.rootfs)
    _run([hatoba, "import", *[a for c in alpine.changes for a in ("-c", c)], str(tarball),
          alpine.reference])  # fmt: skip
    cache = sandbox_dir / "compose-cache"
    env = {**os.environ, "HATOBA_COMPOSE_CACHE": str(cache)}
    results: dict[str, object] = {}

    hundred = _project(sandbox_dir, "hundred", HUNDRED)
    ours = [hatoba, "compose", "-f", str(hundred), "--progress", "quiet"]
    theirs = ["docker-compose", "-f", str(hundred), "--ansi", "never"]
    docker_env = {**env, "DOCKER_HOST": f"unix://{os.environ['HATOBA_RUN_ROOT']}/hatoba.sock"}
    _run([*ours, "config", "-q"], env)  # the load, cached from here on
    samples: dict[str, list[float]] = {k: [] for k in ("up", "down", "dc_up", "dc_down")}
    dc_error = "" if shutil.which("docker-compose") else "docker-compose is not installed"
    for _ in range(rounds):
        samples["up"].append(_timed([*ours, "up", "-d", "--scale", f"web={REPLICAS}"], env))
        results["running"] = _running(hatoba)
        samples["down"].append(_timed([*ours, "down"], env))
        if dc_error:
            continue
        try:
            samples["dc_up"].append(
                _timed([*theirs, "up", "-d", "--scale", f"web={REPLICAS}"], docker_env)
            )
            results["dc_running"] = _running(hatoba)
            samples["dc_down"].append(_timed([*theirs, "down"], docker_env))
        except subprocess.CalledProcessError as exc:
            dc_error = (exc.stderr or "").strip().splitlines()[-1:] or [str(exc)]
            dc_error = f"failed: {dc_error[0][:150]}"
            _run([*ours, "down"], env)
    results["dc_error"] = dc_error

    small = _project(sandbox_dir, "small", SMALL)
    two = [hatoba, "compose", "-f", str(small), "--progress", "quiet"]
    _run([*two, "config", "-q"], env)
    for key in ("small_up", "small_down", "small_cold_up"):
        samples[key] = []
    for _ in range(small_rounds):
        samples["small_up"].append(_timed([*two, "up", "-d"], env))
        samples["small_down"].append(_timed([*two, "down"], env))
    for _ in range(small_rounds // 2):
        shutil.rmtree(cache, ignore_errors=True)
        samples["small_cold_up"].append(_timed([*two, "up", "-d"], env))
        _run([*two, "down"], env)
    results["samples"] = samples
    json.dump(results, sys.stdout)


def _project(folder: Path, name: str, text: str) -> Path:
    path = folder / name / "compose.yaml"
    path.parent.mkdir()
    path.write_text(text)
    return path


def _run(argv: list[str], env: dict[str, str] | None = None) -> None:
    subprocess.run(argv, env=env, check=True, capture_output=True, text=True)


def _timed(argv: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, env=env, check=True, capture_output=True, text=True)
    return time.perf_counter() - t0


def _running(hatoba: str) -> int:
    out = subprocess.run([hatoba, "ps", "-q"], check=True, capture_output=True, text=True)
    return len(out.stdout.split())


def measure(quick: bool = False) -> dict[str, object]:
    from hatoba.testing import Sandbox

    rounds = (QUICK_ROUNDS, QUICK_SMALL_ROUNDS) if quick else (ROUNDS, SMALL_ROUNDS)
    with Sandbox(prefix="hatoba-bench-") as sb:
        result: dict[str, object] = run_worker(
            sb, "bench.compose", str(sb.dir), *(str(n) for n in rounds), timeout=1800
        )
    return result


def rows(results: dict[str, object]) -> list[tuple[str, str, str]]:
    samples = results["samples"]
    assert isinstance(samples, dict)

    def s(key: str) -> str:
        values = samples.get(key) or []
        if not values:
            return "n/a"
        low, high = min(values), max(values)
        return f"{statistics.median(values):.2f} s ({low:.2f} – {high:.2f}, n={len(values)})"

    dc_error = str(results.get("dc_error") or "")
    ratio_up = ratio_down = "n/a"
    if not dc_error and samples.get("dc_up"):
        ratio_up = f"{median_ms(samples['up']) / median_ms(samples['dc_up']):.2f}×"
        ratio_down = f"{median_ms(samples['down']) / median_ms(samples['dc_down']):.2f}×"
    n = f"{REPLICAS} replicas"
    return [
        (f"hatoba compose up -d ({n}, {results.get('running')} running)", s("up"),
         f"≤ {TARGET_S} s"),
        (f"hatoba compose down ({n})", s("down"), f"≤ {TARGET_S} s"),
        (f"docker-compose 1.29 up -d ({n}, {results.get('dc_running', '-')} running)",
         dc_error or s("dc_up"), ""),
        ("docker-compose 1.29 down", dc_error or s("dc_down"), ""),
        ("hatoba / docker-compose: up, down", f"{ratio_up}, {ratio_down}", f"≤ {TARGET_RATIO}×"),
        ("2 services: up -d to both running (load cached)", ms(samples["small_up"]),
         f"≤ {TARGET_SMALL_MS:.0f} ms"),
        ("2 services: down", ms(samples["small_down"]), ""),
        ("2 services: up -d, first load of the file (no cache)", ms(samples["small_cold_up"]),
         ""),
    ]  # fmt: skip


def main(quick: bool = False) -> None:
    results = measure(quick)
    save("compose", results)
    print(table("compose: hatoba's own and docker-compose 1.29 on hatoba's socket", rows(results),
                ("measure", "median (min – max, n)", "target")))  # fmt: skip


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        worker(Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
    else:
        main("--quick" in sys.argv)
