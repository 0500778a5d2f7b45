"""`run -d alpine:latest` end to end through the CLI, beside `podman run -d` of the same image.

Both run in one sandbox "host" namespace, from a worker already inside it (no nsenter per
call), alternating one hatoba and one podman run so that both see the same machine load. The
image is the busybox `alpine:latest` stand-in, imported with `hatoba import` and `podman import`
from the same tarball. Podman keeps its storage under the sandbox folder and uses the reference
containers.conf; it still creates its netns handles in /run/netns and a little state in
/run/containers and /var/lib/containers, which the worker removes again (only what it created).

    python -m bench.run_images            prints the table
    from bench.run_images import measure, rows   (for bench/run.py)
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench.common import median_ms, ms, save, table

N = 30
PODMAN_CONF = Path("/work/shared/reference/podman/containers.conf")
TARGET_MS = 50.0
TARGET_RATIO = 0.33
# machine-wide state podman 4.3 writes whatever --root/--runroot say (netavark's run folder and
# the blob info cache), each under a parent folder that others may share
_PODMAN_MACHINE_PATHS = (
    (Path("/run/containers/networks"), Path("/run/containers")),
    (Path("/var/lib/containers/cache"), Path("/var/lib/containers")),
)


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
        out = sb.sh(
            [sys.executable, "-m", "bench.run_images", "--worker", str(sb.dir), str(n)],
            timeout=900,
            env={**sb.env, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
        )
    return Samples(**json.loads(out.stdout))


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
        samples.podman_error = _reason(exc)
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


class Podman:
    def __init__(self, home: Path) -> None:
        self.argv = [
            "podman",
            "--root", str(home / "root"),
            "--runroot", str(home / "run"),
            "--tmpdir", str(home / "tmp"),
            "--network-config-dir", str(home / "networks"),
        ]  # fmt: skip
        self.env = {**os.environ, "CONTAINERS_CONF": str(PODMAN_CONF)}
        self._netns_before = set(os.listdir("/run/netns")) if Path("/run/netns").is_dir() else set()
        self._created = [p for pair in _PODMAN_MACHINE_PATHS for p in pair if not p.exists()]

    def run(self, *args: str) -> None:
        subprocess.run([*self.argv, *args], env=self.env, check=True, capture_output=True)

    def clean(self) -> None:
        subprocess.run(
            [*self.argv, "rm", "-f", "-a", "-t", "0"],
            env=self.env,
            capture_output=True,
            check=False,
        )
        # conmon runs `podman container cleanup` after its container died: let it finish
        # before removing the state it writes
        deadline = time.monotonic() + 10
        while _our_processes("conmon", "podman") and time.monotonic() < deadline:
            time.sleep(0.05)
        # a handle podman failed to remove would keep its namespace alive
        netns = Path("/run/netns")
        for name in set(os.listdir(netns)) - self._netns_before if netns.is_dir() else ():
            if name.startswith("netns-"):
                umount = ["umount", "-l", str(netns / name)]
                subprocess.run(umount, capture_output=True, check=False)
                (netns / name).unlink(missing_ok=True)
        for leaf, parent in _PODMAN_MACHINE_PATHS:
            if leaf in self._created:
                shutil.rmtree(leaf, ignore_errors=True)
            if parent in self._created:
                with contextlib.suppress(OSError):
                    parent.rmdir()  # only if nobody else has put something there meanwhile


def _our_processes(*names: str) -> list[int]:
    """Processes with one of these names in this (the sandbox's) network namespace."""
    mine = os.stat("/proc/self/ns/net").st_ino
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.stat(f"/proc/{pid}/ns/net").st_ino != mine:
                continue
            with open(f"/proc/{pid}/comm", encoding="utf-8") as f:
                if f.read().strip() in names:
                    found.append(int(pid))
        except OSError:
            continue
    return found


def timed(argv: list[str], env: dict[str, str] | None = None) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - t0


def quiet(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True)


def _reason(exc: Exception) -> str:
    if isinstance(exc, subprocess.CalledProcessError) and exc.stderr:
        return str(exc.stderr.decode(errors="replace").strip().splitlines()[-1])
    return str(exc)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(Path(sys.argv[2]), int(sys.argv[3]))
    else:
        main()
