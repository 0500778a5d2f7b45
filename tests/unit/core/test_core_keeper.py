"""The keeper (hatoba/keeper.py) with stand-in services: what it restarts, how soon, and what
it leaves alone. No root needed."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.processes import wait_gone
from hatoba import keeper
from hatoba.keeper import Backoff

# a stand-in service: records each start as "<pid> <monotonic time>", then behaves as told
SERVICE = """
import os, signal, socket, sys, time
run_root, behaviour = sys.argv[1], sys.argv[2]
with open(os.path.join(run_root, "starts"), "a") as f:
    f.write(f"{os.getpid()} {time.monotonic()}\\n")
first = sum(1 for _ in open(os.path.join(run_root, "starts"))) == 1

def ready():
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.sendto(b"READY=1", os.environ["NOTIFY_SOCKET"])

signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # as the service: a clean stop
if behaviour == "crash-after-ready":
    if first:
        ready()
        os.kill(os.getpid(), signal.SIGKILL)
    sys.exit(1)  # every later start dies before it is ready
if behaviour == "fail":
    print("cannot start: no permission", flush=True)
    sys.exit(1)
if behaviour == "already":
    sys.exit(3)
ready()
if behaviour == "exit0":
    sys.exit(0)
while True:  # "serve"
    time.sleep(60)
"""


@pytest.fixture
def run_root(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    for pid in [_keeper_pid(tmp_path), *_starts(tmp_path)]:
        if pid:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def start_keeper(run_root: Path, behaviour: str) -> subprocess.Popen[bytes]:
    with open(run_root / "service.log", "ab") as log:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hatoba.keeper",
                str(run_root),
                "--",
                sys.executable,
                "-c",
                SERVICE,
                str(run_root),
                behaviour,
            ],
            stdout=log,
            stderr=log,
            start_new_session=True,
        )


def _starts(run_root: Path) -> dict[int, float]:
    try:
        lines = (run_root / "starts").read_text().splitlines()
    except FileNotFoundError:
        return {}
    return {int(pid): float(at) for pid, at in (line.split() for line in lines)}


def _keeper_pid(run_root: Path) -> int | None:
    try:
        return int((run_root / keeper.PID_FILE).read_text())
    except (FileNotFoundError, ValueError):
        return None


def wait_for_starts(run_root: Path, count: int, seconds: float = 20) -> dict[int, float]:
    deadline = time.monotonic() + seconds
    while len(starts := _starts(run_root)) < count:
        assert time.monotonic() < deadline, f"only {len(starts)} of {count} starts"
        time.sleep(0.01)
    return starts


def test_backoff_doubles_to_a_cap_and_starts_afresh_after_a_healthy_run() -> None:
    backoff = Backoff()
    delays = [backoff.after(ran_for=0.5) for _ in range(9)]
    assert delays == [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0, 5.0]
    assert backoff.after(ran_for=keeper.HEALTHY_AFTER) == 0.1
    assert backoff.after(ran_for=0.5) == 0.2


def test_a_crashing_service_is_started_again_with_growing_delays(run_root: Path) -> None:
    proc = start_keeper(run_root, "crash-after-ready")
    starts = wait_for_starts(run_root, 5)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    log = (run_root / "service.log").read_text()
    restarts = re.findall(
        r"WARNING hatoba\.keeper: the service \(pid \d+\) "
        r"(was killed by \w+|exited with status \d+); starting it again in ([\d.]+) s",
        log,
    )
    assert [why for why, _ in restarts[:2]] == ["was killed by SIGKILL", "exited with status 1"]
    delays = [float(delay) for _, delay in restarts]
    assert delays[:4] == [0.1, 0.2, 0.4, 0.8]
    # not a tight loop: each start came at least the logged delay after the one before
    times = sorted(starts.values())
    for before, after, delay in zip(times, times[1:], delays, strict=False):
        assert after - before >= delay
    assert len(_starts(run_root)) == 5  # the stop ended it: nothing started afterwards
    assert not (run_root / keeper.PID_FILE).exists()


@pytest.mark.parametrize("behaviour", ["exit0", "already"])
def test_a_service_that_ends_on_purpose_is_not_started_again(
    run_root: Path, behaviour: str
) -> None:
    proc = start_keeper(run_root, behaviour)
    assert proc.wait(timeout=10) == 0
    assert len(_starts(run_root)) == 1
    assert "hatoba.keeper" not in (run_root / "service.log").read_text()


def test_a_first_start_that_fails_is_left_to_the_command_to_report(run_root: Path) -> None:
    proc = start_keeper(run_root, "fail")
    assert proc.wait(timeout=10) == 1
    assert len(_starts(run_root)) == 1
    assert (run_root / "service.log").read_text() == "cannot start: no permission\n"


def test_sigterm_to_the_keeper_stops_the_service_then_the_keeper(run_root: Path) -> None:
    proc = start_keeper(run_root, "serve")
    [service] = wait_for_starts(run_root, 1)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    wait_gone(service, seconds=5)
    assert len(_starts(run_root)) == 1
    assert sorted(p.name for p in run_root.iterdir()) == ["keeper.lock", "service.log", "starts"]


def test_the_service_inherits_nothing_and_outlives_a_killed_keeper(run_root: Path) -> None:
    proc = start_keeper(run_root, "serve")
    [service] = wait_for_starts(run_root, 1)
    # only stdin, stdout and stderr: not the keeper's lock, socket, pipe or pidfd (the stand-in
    # holds files of its own for a moment while it records its start and says it is ready;
    # an inherited descriptor would stay)
    deadline = time.monotonic() + 5
    while (fds := sorted(os.listdir(f"/proc/{service}/fd"))) != ["0", "1", "2"]:
        assert time.monotonic() < deadline, f"the service holds {fds}"
        time.sleep(0.02)
    proc.kill()
    proc.wait(timeout=10)
    time.sleep(0.2)
    with open(f"/proc/{service}/stat", encoding="ascii") as f:
        assert f.read().split(") ", 1)[1][0] in "SR"  # still running, not a zombie
    assert len(_starts(run_root)) == 1


def test_a_second_keeper_leaves_the_first_alone(run_root: Path) -> None:
    first = start_keeper(run_root, "serve")
    wait_for_starts(run_root, 1)
    second = start_keeper(run_root, "serve")
    assert second.wait(timeout=10) == 0
    assert first.poll() is None
    assert _keeper_pid(run_root) == first.pid
    assert len(_starts(run_root)) == 1
    assert "another keeper already runs" in (run_root / "service.log").read_text()
