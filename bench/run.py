"""The engine core's latencies through the CLI, beside podman in the same run.

Alternating, so that both see the same machine load:

- `hatoba run -d --net sample hostfs sleep infinity` and the same with the busybox image
  imported as alpine:latest, against `podman run -d` of that image on a podman network;
- `hatoba network create` + `network rm` against podman's;
- the service's own time for each of those requests (its Server-Timing header, which
  `hatoba --debug` prints): network create and rm in a loop of hatoba's own (alternating
  with podman, whose firewall commits in the same namespace between them make each of
  hatoba's list the host's chains again, they are shown too);
- where a `run -d` goes: the interpreter, the CLI's start-up, the service's create and start
  (one request, hatoba's POST /hatoba/containers/run);
- 100 containers in sequence on one network: containers 1–10 against 91–100 (bench.scale
  goes to 1000).

Everything runs in a worker inside a sandbox host namespace (no nsenter per call); podman uses
the reference containers.conf and keeps its state in the sandbox's folder.
"""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench.common import median_ms, ms, quiet, ratio, run_worker, save, table, timed
from bench.podman import Podman, reason

N, QUICK_N = 30, 8
SEQUENCE, QUICK_SEQUENCE = 100, 30
TARGET_RATIO = 0.25
TARGET_NETWORK_RATIO = 0.8
TARGET_SERVICE_MS = 5.0


@dataclass
class Samples:
    run: list[float] = field(default_factory=list)
    image: list[float] = field(default_factory=list)
    podman: list[float] = field(default_factory=list)
    podman_error: str = ""
    sequence: list[float] = field(default_factory=list)
    network: list[float] = field(default_factory=list)
    podman_network: list[float] = field(default_factory=list)
    # the service's own time (Server-Timing), in a loop of hatoba's alone
    service_network_create: list[float] = field(default_factory=list)
    service_network_rm: list[float] = field(default_factory=list)
    # … and in the loop alternating with podman, whose firewall commits in the same
    # namespace make each create and rm list the host's chains again
    service_network_create_beside: list[float] = field(default_factory=list)
    service_network_rm_beside: list[float] = field(default_factory=list)
    # `run -d`'s one request: the create and the start
    service_run: list[float] = field(default_factory=list)
    python: list[float] = field(default_factory=list)
    version: list[float] = field(default_factory=list)


def worker(sandbox_dir: Path, n: int, sequence: int) -> None:
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
            podman.run("network", "create", "pwarm")
            podman.run("network", "rm", "pwarm")
        except Exception as exc:  # podman is only the yardstick: report, don't fail
            samples.podman_error = reason(exc)
        python = [sys.executable, "-c", "pass"]
        for _ in range(n):
            took, service = _debug([*hatoba, *run])
            samples.run.append(took)
            samples.service_run.append(service["POST hatoba run"])
            samples.image.append(timed([*hatoba, *image_run]))
            if not samples.podman_error:
                samples.podman.append(timed([*podman.argv, *prun], podman.env))
            samples.python.append(timed(python))
            samples.version.append(timed([*hatoba, "version"]))
        for i in range(n):
            created, service = _debug([*hatoba, "network", "create", f"n{i}"])
            samples.service_network_create_beside.append(service["POST networks create"])
            removed, service = _debug([*hatoba, "network", "rm", f"n{i}"])
            samples.service_network_rm_beside.append(service["DELETE networks"])
            samples.network.append(created + removed)
            if not samples.podman_error:
                t0 = time.perf_counter()
                podman.run("network", "create", f"pn{i}")
                podman.run("network", "rm", f"pn{i}")
                samples.podman_network.append(time.perf_counter() - t0)
        for i in range(n):
            _, service = _debug([*hatoba, "network", "create", f"a{i}"])
            samples.service_network_create.append(service["POST networks create"])
            _, service = _debug([*hatoba, "network", "rm", f"a{i}"])
            samples.service_network_rm.append(service["DELETE networks"])
        for i in range(sequence):
            argv = [*hatoba, "run", "-d", "--name", f"seq{i}", "--net", "hundred", "hostfs"]
            samples.sequence.append(timed([*argv, "sleep", "infinity"]))
    finally:
        podman.clean()
        quiet(*hatoba, "system", "reset", "-f")
    json.dump(asdict(samples), sys.stdout)


# a line of `hatoba --debug`: method, target, status, the service's milliseconds
_DEBUG_LINE = re.compile(r"^(\S+) /v[\d.]+/(\w+)(\S*) \d+ ([\d.]+) ms$", re.MULTILINE)


def _debug(argv: list[str]) -> tuple[float, dict[str, float]]:
    """`hatoba --debug …`: seconds it took, and the service's own seconds per request, by
    method, object kind and verb (`POST hatoba run`, `POST networks create`, `DELETE
    networks`)."""
    t0 = time.perf_counter()
    done = subprocess.run([argv[0], "--debug", *argv[1:]], check=True, capture_output=True)
    took = time.perf_counter() - t0
    service = {}
    for method, kind, rest, took_ms in _DEBUG_LINE.findall(done.stderr.decode()):
        verb = rest.partition("?")[0].rpartition("/")[2]
        key = (
            f"{method} {kind} {verb}" if verb in ("create", "start", "run") else f"{method} {kind}"
        )
        service[key] = float(took_ms) / 1000
    return took, service


def measure(quick: bool = False) -> Samples:
    from hatoba.testing import Sandbox

    n, sequence = (QUICK_N, QUICK_SEQUENCE) if quick else (N, SEQUENCE)
    with Sandbox(prefix="hatoba-bench-") as sb:
        args = (str(sb.dir), str(n), str(sequence))
        return Samples(**run_worker(sb, "bench.run", *args, timeout=1800))


def rows(s: Samples) -> list[tuple[str, str, str]]:
    first, last = s.sequence[:10], s.sequence[-10:]
    growth = median_ms(last) / median_ms(first)
    size = len(s.sequence)
    service = f"≤ {TARGET_SERVICE_MS:.0f} ms"
    result = [
        ("hatoba run -d --net sample hostfs sleep infinity", ms(s.run), ""),
        ("hatoba run -d --net sample alpine:latest sleep infinity", ms(s.image), ""),
        ("podman run -d --network psample alpine sleep infinity", ms(s.podman), ""),
        ("hatoba / podman, run -d (hostfs; alpine)",
         f"{ratio(s.run, s.podman)}; {ratio(s.image, s.podman)}", f"≤ {TARGET_RATIO}×"),
        ("hatoba network create + network rm", ms(s.network), ""),
        ("podman network create + network rm", ms(s.podman_network), ""),
        ("hatoba / podman, network create + rm", ratio(s.network, s.podman_network),
         f"≤ {TARGET_NETWORK_RATIO}×"),
        ("service's own time: network create", ms(s.service_network_create), service),
        ("service's own time: network rm", ms(s.service_network_rm), service),
        ("… alternating with podman (its firewall commits between)",
         f"{ms(s.service_network_create_beside)}; {ms(s.service_network_rm_beside)}", ""),
        ("service's own time: container create and start (run -d)", ms(s.service_run), ""),
        ("python -c pass", ms(s.python), ""),
        ("hatoba version (start-up and one request)", ms(s.version), ""),
        (f"run -d, containers 1–10 of {size} on one network", ms(first), ""),
        (f"run -d, containers {size - 9}–{size}", ms(last), f"growth {growth:.2f}×"),
    ]  # fmt: skip
    if s.podman_error:
        result.append(("podman", f"not measured: {s.podman_error}", ""))
    return result


def breakdown(s: Samples) -> list[tuple[str, str]]:
    """Where the median `run -d` goes: the parts measured on their own, the rest."""
    python = median_ms(s.python)
    cli = median_ms(s.version) - python
    service, total = median_ms(s.service_run), median_ms(s.run)
    return [
        ("the interpreter starting (python -c pass)", f"{python:.1f} ms"),
        ("the CLI's start-up and one round trip (hatoba version − python)", f"{cli:.1f} ms"),
        ("the service's create and start, one request (namespace, veth, crun create, "
         "firewall, DNS)", f"{service:.1f} ms"),
        ("the rest: run's own parsing", f"{total - python - cli - service:.1f} ms"),
        ("hatoba run -d (median)", f"{total:.1f} ms"),
    ]  # fmt: skip


def main(quick: bool = False) -> None:
    samples = measure(quick)
    save("run", asdict(samples))
    print(
        table(
            "Engine core through the CLI",
            rows(samples),
            ("measure", "median (min – max, n)", "target"),
        )
    )
    print(table("Where a run -d goes", breakdown(samples), ("part", "median")))
    print(f"(run -d mean {statistics.mean(samples.run) * 1000:.1f} ms)")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
    else:
        main("--quick" in sys.argv)
