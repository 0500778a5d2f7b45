"""`run -d alpine:latest` end to end through the CLI, beside `podman run -d` of the same image.

Both run in one sandbox "host" namespace, from a worker already inside it (no nsenter per
call), alternating one hatoba and one podman run so that both see the same machine load. The
image is the busybox `alpine:latest` stand-in, imported with `hatoba import` and `podman import`
from the same tarball. Podman keeps its storage under the sandbox folder and uses the reference
containers.conf (bench/podman.py).

    python -m bench.run_images            prints the table
    from bench.run_images import measure, rows   (for bench/run.py)
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench.common import median_ms, ms, quiet, run_worker, save, table, timed
from bench.podman import Podman, reason

N = 30
TARGET_MS = 50.0
TARGET_RATIO = 0.33


@dataclass
class Samples:
    hatoba: list[float] = field(default_factory=list)
    podman: list[float] = field(default_factory=list)
    podman_error: str = ""
    # context: the same run without an image, and the CLI's own floor (start-up + one request)
    hostfs: list[float] = field(default_factory=list)
    version: list[float] = field(default_factory=list)


def measure(n: int = N) -> Samples:
    """Run the worker in a fresh sandbox and return its timings (seconds)."""
    from hatoba.testing import Sandbox

    with Sandbox(prefix="hatoba-bench-") as sb:
        return Samples(**run_worker(sb, "bench.run_images", str(sb.dir), str(n), timeout=900))


def rows(samples: Samples) -> list[tuple[str, str, str]]:
    h, p = samples.hatoba, samples.podman
    result = [
        ("hatoba run -d alpine:latest sleep infinity (CLI)", ms(h), f"≤ {TARGET_MS:.0f} ms"),
        ("hatoba run -d hostfs sleep infinity (no image)", ms(samples.hostfs), ""),
        ("hatoba version (CLI start-up + one request)", ms(samples.version), ""),
    ]
    if p:
        ratio = median_ms(h) / median_ms(p)
        result += [
            ("podman run -d alpine:latest sleep infinity", ms(p), ""),
            ("hatoba / podman (medians)", f"{ratio:.2f}×", f"≤ {TARGET_RATIO}×"),
        ]
    else:
        result.append(("podman run -d alpine:latest", f"not measured: {samples.podman_error}", ""))
    return result


def main() -> None:
    samples = measure()
    save("run_images", asdict(samples))
    print(
        table(
            "run -d of an image, end to end through the CLI",
            rows(samples),
            ("measure", "median (min – max, n)", "target"),
        )
    )


# --- the worker, inside the sandbox's host namespace ------------------------------------------


def worker(sandbox_dir: Path, n: int) -> None:
    from hatoba.images.busybox import build_busybox_images

    alpine = build_busybox_images()[0]
    tarball = sandbox_dir / "alpine.tar"
    tarball.write_bytes(alpine.rootfs)
    changes = [a for change in alpine.changes for a in ("-c", change)]
    hatoba = [str(Path(sys.executable).parent / "hatoba")]
    quiet(*hatoba, "import", *changes, str(tarball), alpine.reference)
    podman = Podman(sandbox_dir / "podman")
    samples = Samples()
    try:
        podman.run("import", *changes, str(tarball), alpine.reference)
    except (OSError, subprocess.CalledProcessError) as exc:
        samples.podman_error = reason(exc)
    run = ["run", "-d", alpine.reference, "sleep", "infinity"]
    try:
        # one untimed run each: the service's and podman's first-use costs are not the point
        quiet(*hatoba, *run)
        if not samples.podman_error:
            podman.run(*run)
        commands = [
            (samples.hatoba, [*hatoba, *run], None),
            (samples.hostfs, [*hatoba, "run", "-d", "hostfs", "sleep", "infinity"], None),
            (samples.version, [*hatoba, "version"], None),
        ]
        if not samples.podman_error:
            commands.append((samples.podman, [*podman.argv, *run], podman.env))
        order = random.Random(0)
        for _ in range(n):
            # a fresh order each round: no command always follows podman's background work
            for out, argv, env in order.sample(commands, len(commands)):
                out.append(timed(argv, env))
    finally:
        podman.clean()
    json.dump(asdict(samples), sys.stdout)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(Path(sys.argv[2]), int(sys.argv[3]))
    else:
        main()
