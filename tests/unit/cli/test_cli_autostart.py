"""Starting the service (under its keeper) when nothing answers: with stand-in services (no root
needed)."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hatoba.cli import autostart
from hatoba.cli.client import Client
from hatoba.cli.errors import Unreachable

# a stand-in service: writes its pid file, answers GET /_ping on the socket a moment later
SERVICE = """
import os, socket, sys, time
run_root = sys.argv[1]
with open(os.path.join(run_root, "hatoba.pid"), "w") as f:
    f.write(f"{os.getpid()}\\n")
time.sleep(0.2)
s = socket.socket(socket.AF_UNIX)
s.bind(os.path.join(run_root, "hatoba.sock"))
s.listen()
print("hatoba stand-in ready", flush=True)
while True:
    c, _ = s.accept()
    c.recv(65536)
    c.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\nOK")
    c.close()
"""
FAILING = "import sys; print('hatoba: cannot create /proc/x: Permission denied'); sys.exit(1)"


@pytest.fixture
def run_root(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    # the keeper first, or it would start the service again
    for name in ("keeper.pid", "hatoba.pid"):
        pid_file = tmp_path / name
        if pid_file.exists():
            os.kill(int(pid_file.read_text()), signal.SIGKILL)


def stand_in(monkeypatch: pytest.MonkeyPatch, code: str) -> None:
    monkeypatch.setattr(
        autostart, "service_argv", lambda root, run: [sys.executable, "-c", code, run]
    )


def test_the_service_is_started_and_waited_for(
    run_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stand_in(monkeypatch, SERVICE)
    socket_path = str(run_root / "hatoba.sock")
    client = Client(socket_path, lambda: autostart.start_service("/r", str(run_root), socket_path))
    assert client.request("GET", "/_ping").read() == b"OK"
    pid = autostart.running_service(str(run_root))
    keeper = autostart.running_keeper(str(run_root))
    assert pid is not None and keeper is not None
    # under its keeper, in a session of their own, their output in service.log
    assert _parent(pid) == keeper
    assert os.getsid(pid) == os.getsid(keeper) == keeper
    assert "hatoba stand-in ready" in (run_root / "service.log").read_text()


def _parent(pid: int) -> int:
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        return int(f.read().split(") ", 1)[1].split()[1])


def test_a_service_that_dies_is_reported_with_its_log(
    run_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (run_root / "service.log").write_text("an older run\n")
    stand_in(monkeypatch, FAILING)
    socket_path = str(run_root / "hatoba.sock")
    start = time.monotonic()
    with pytest.raises(Unreachable) as info:
        autostart.start_service("/r", str(run_root), socket_path)
    assert time.monotonic() - start < 5
    assert info.value.message == (
        f"Cannot connect to the hatoba service at unix://{socket_path}. Is the service running?\n"
        f"The service did not come up; the end of {run_root}/service.log:\n"
        "  hatoba: cannot create /proc/x: Permission denied"
    )


@pytest.mark.parametrize("pid_file", ["hatoba.pid", "keeper.pid"])
def test_a_service_already_starting_is_waited_for(
    run_root: Path, monkeypatch: pytest.MonkeyPatch, pid_file: str
) -> None:
    # another command's service (its command line names hatoba) holds the pid file and comes
    # up later, or a keeper is starting it again: ours must not be started
    import subprocess

    other = subprocess.Popen([sys.executable, "-c", SERVICE, str(run_root)])
    try:
        while autostart.running_service(str(run_root)) != other.pid:
            time.sleep(0.01)
        (run_root / "hatoba.pid").rename(run_root / pid_file)
        stand_in(monkeypatch, FAILING)
        autostart.start_service("/r", str(run_root), str(run_root / "hatoba.sock"))
        assert not (run_root / "service.log").exists()
    finally:
        other.kill()
        other.wait()
        (run_root / pid_file).unlink()


@pytest.mark.parametrize(
    ("pid_file", "running"),
    [("hatoba.pid", autostart.running_service), ("keeper.pid", autostart.running_keeper)],
)
def test_running_service_needs_a_live_hatoba(
    run_root: Path, pid_file: str, running: Callable[[str], int | None]
) -> None:
    assert running(str(run_root)) is None
    (run_root / pid_file).write_text("1\n")  # init is alive, but not hatoba
    assert running(str(run_root)) is None
    (run_root / pid_file).write_text("garbage")
    assert running(str(run_root)) is None
    (run_root / pid_file).unlink()


def test_a_run_root_that_cannot_be_written_is_reported(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    run_root = tmp_path / "file" / "run"
    socket_path = str(run_root / "hatoba.sock")
    with pytest.raises(Unreachable) as info:
        autostart.start_service("/r", str(run_root), socket_path)
    assert info.value.message == (
        f"Cannot connect to the hatoba service at unix://{socket_path}. Is the service running?\n"
        f"Cannot start it: [Errno 20] Not a directory: '{run_root}'"
    )
