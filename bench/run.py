"""The engine core's latencies through the CLI, beside podman in the same run.

- `hatoba run -d --net sample hostfs sleep infinity` (≥30), alternating with `podman run -d` of
  the busybox alpine image on a podman network, so that both see the same machine load;
- `hatoba run -d --net sample alpine:latest sleep infinity`: the same busybox image, imported;
- 100 containers in sequence on one network: containers 1–10 against 91–100;
- `network create` + `network rm` pairs.

Everything runs in a worker inside a sandbox host namespace (no nsenter per call).
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench.common import median_ms, ms, quiet, run_worker, save, table, timed
from bench.podman import Podman, reason

N = 30
SEQUENCE = 100
TARGET_MS = 50.0
TARGET_RATIO = 0.33


@dataclass
class Samples:
    run: list[float] = field(default_factory=list)
    image: list[float] = field(default_factory=list)
    podman: list[float] = field(default_factory=list)
    podman_error: str = ""
    sequence: list[float] = field(default_factory=list)
    network: list[float] = field(default_factory=list)


def worker(sandbox_dir: Path, n: int) -> None:
    from hatoba.images.busybox import build_busybox_images

    hatoba = [str(Path(sys.executable).parent / "hatoba")]
    samples = Samples()
    quiet(*hatoba, "network", "create", "sample")
    quiet(*hatoba, "network", "create", "hundred")
    run = ["run", "-d", "--net", "sample", "hostfs", "sleep", "infinity"]
    quiet(*hatoba, *run)  # first use of everything, not timed
    podman = Podman(sandbox_dir / "podman")
    try:
        alpine = build_busybox_images()[0]
        tarball = sandbox_dir / "alpine.tar"
        tarball.write_bytes(alpine.rootfs)
        quiet(*hatoba, "import", str(tarball), alpine.reference)
        image_run = ["run", "-d", "--net", "sample", alpine.reference, "sleep", "infinity"]
        quiet(*hatoba, *image_run)
        try:
            podman.run("import", str(tarball), alpine.reference)
            podman.run("network", "create", "psample")
            prun = ["run", "-d", "--network", "psample", alpine.reference, "sleep", "infinity"]
            podman.run(*prun)
        except Exception as exc:  # podman is only the yardstick: report, don't fail
            samples.podman_error = reason(exc)
        for _ in range(n):
            samples.run.append(timed([*hatoba, *run]))
            samples.image.append(timed([*hatoba, *image_run]))
            if not samples.podman_error:
                samples.podman.append(timed([*podman.argv, *prun], podman.env))
        for i in range(SEQUENCE):
            argv = [*hatoba, "run", "-d", "--name", f"seq{i}", "--net", "hundred", "hostfs"]
            samples.sequence.append(timed([*argv, "sleep", "infinity"]))
        for i in range(n):
            t0 = time.perf_counter()
            quiet(*hatoba, "network", "create", f"n{i}")
            quiet(*hatoba, "network", "rm", f"n{i}")
            samples.network.append(time.perf_counter() - t0)
    finally:
        podman.clean()
        quiet(*hatoba, "system", "reset", "-f")
    json.dump(asdict(samples), sys.stdout)


def measure(n: int = N) -> Samples:
    from hatoba.testing import Sandbox

    with Sandbox(prefix="hatoba-bench-") as sb:
        return Samples(**run_worker(sb, "bench.run", str(sb.dir), str(n), timeout=1800))


def rows(s: Samples) -> list[tuple[str, str, str]]:
    first, last = s.sequence[:10], s.sequence[-10:]
    growth = median_ms(last) / median_ms(first)
    result = [
        ("hatoba run -d --net sample hostfs sleep infinity", ms(s.run), f"≤ {TARGET_MS:.0f} ms"),
        (
            "hatoba run -d --net sample alpine:latest sleep infinity",
            ms(s.image),
            f"≤ {TARGET_MS:.0f} ms",
        ),
        (f"… containers 1–10 of {SEQUENCE} on one network", ms(first), ""),
        (f"… containers {SEQUENCE - 9}–{SEQUENCE}", ms(last), "≤ 1.1× of 1–10"),
        ("… growth 91–100 / 1–10", f"{growth:.2f}×", "≤ 1.1×"),
        ("hatoba network create + rm", ms(s.network), ""),
    ]
    if s.podman:
        ratio = median_ms(s.run) / median_ms(s.podman)
        image_ratio = median_ms(s.image) / median_ms(s.podman)
        result += [
            ("podman run -d --network psample alpine sleep infinity", ms(s.podman), ""),
            ("hatoba / podman (medians)", f"{ratio:.2f}×", f"≤ {TARGET_RATIO}×"),
            (
                "hatoba alpine:latest / podman (medians)",
                f"{image_ratio:.2f}×",
                f"≤ {TARGET_RATIO}×",
            ),
        ]
    else:
        result.append(("podman run -d", f"not measured: {s.podman_error}", ""))
    return result


def main() -> None:
    samples = measure()
    save("run", asdict(samples))
    print(
        table(
            "Engine core through the CLI",
            rows(samples),
            ("measure", "median (min – max, n)", "target"),
        )
    )
    print(f"(run -d mean {statistics.mean(samples.run) * 1000:.1f} ms)")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(Path(sys.argv[2]), int(sys.argv[3]))
    else:
        main()
