"""hatoba-monitor (runtime/monitor.c), run as a shim runs it: in place of the parent of a
"container" (here a forked child writing to its pipes), with crun's delete played by true."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hatoba.runtime.shim import MONITOR, Shim

# the parent execs the monitor in its own place: the child is then the monitor's child, as a
# container is the shim's
_HARNESS = r"""
import json, os, socket, sys, time
spec = json.loads(sys.argv[1])
out_r, out_w = os.pipe()
err_r, err_w = os.pipe()
in_r, in_w = os.pipe()
listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
listener.bind(os.path.join(spec["dir"], "attach.sock"))
listener.listen(4)
pid = os.fork()
if pid == 0:
    os.dup2(in_r, 0)
    for fd in (in_w, out_r, err_r, listener.fileno()):
        os.close(fd)
    if spec.get("signal"):
        os.kill(os.getpid(), spec["signal"])
    time.sleep(spec.get("delay", 0))
    for stream, chunk in spec["chunks"]:
        os.write(out_w if stream == 1 else err_w, bytes.fromhex(chunk))
        time.sleep(spec.get("gap", 0))  # each chunk a read of its own
    if spec.get("echo_stdin"):
        os.write(out_w, b"got: " + sys.stdin.buffer.read())
    os._exit(spec.get("code", 0))
log = os.open(spec["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND)
for fd in (out_r, err_r, in_w, listener.fileno(), log):
    os.set_inheritable(fd, True)
for fd in (out_w, err_w, in_r):
    os.close(fd)
deadline = time.monotonic_ns() + int(spec.get("wait", 0) * 1e9)
argv = [spec["monitor"], spec["dir"], str(log), "/bin/true", spec["dir"], "x", str(pid),
        str(listener.fileno()), str(spec.get("expect", 0)), str(deadline), str(out_r),
        str(err_r), str(in_w), "-1"]
os.execv(argv[0], argv)
"""


Run = Callable[..., "subprocess.Popen[bytes]"]


@pytest.fixture
def run(tmp_path: Path) -> Iterator[Run]:
    """Starts the harness; what is left of it (the monitor, its "container") is killed after
    the test, also when it failed."""
    started: list[subprocess.Popen[bytes]] = []

    def start(**spec: Any) -> subprocess.Popen[bytes]:
        spec = {"monitor": MONITOR, "dir": str(tmp_path), "log": str(tmp_path / "log"), **spec}
        spec["chunks"] = [(stream, data.hex()) for stream, data in spec.get("chunks", [])]
        argv = [sys.executable, "-c", _HARNESS, json.dumps(spec)]
        started.append(subprocess.Popen(argv, start_new_session=True))
        return started[-1]

    yield start
    for proc in started:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _finished(tmp_path: Path, proc: subprocess.Popen[bytes]) -> dict[str, Any]:
    assert proc.wait(timeout=20) == 0
    assert not (tmp_path / "attach.sock").exists()
    return json.loads((tmp_path / "exit.json").read_text())  # type: ignore[no-any-return]


def test_output_is_docker_s_json_file_log_line_by_line(tmp_path: Path, run: Run) -> None:
    long_tail = "é".encode() * 9000  # a line of over 16 KiB is logged without its end
    chunks = [
        (1, b'plain "quoted" \\ back\n\xc3'),  # a character split between two reads
        (1, b"\xa9t\xc3\xa9 \xf0\x9f\x90\xb3 astral\n"),
        (2, b"ctl \x00\x01\x1b\x7f\t\r\b\x0c end\n"),
        (2, b"bad \xff \xe0\x80 \xed\xa0\x80 \xf4\x90\x80\x80 \xc0\xaf\n"),
        (1, long_tail),
        (1, b"\xe2\x82"),  # cut short at the end
        (2, b"no newline at exit"),
    ]
    finished = _finished(tmp_path, run(chunks=chunks, code=3, gap=0.05))
    assert finished["code"] == 3
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", finished["finished_at"])

    wanted = [
        (1, b'plain "quoted" \\ back\n'),
        (1, b"\xc3\xa9t\xc3\xa9 \xf0\x9f\x90\xb3 astral\n"),
        (2, b"ctl \x00\x01\x1b\x7f\t\r\b\x0c end\n"),
        (2, b"bad \xff \xe0\x80 \xed\xa0\x80 \xf4\x90\x80\x80 \xc0\xaf\n"),
        (1, long_tail),
        (1, b"\xe2\x82"),
        (2, b"no newline at exit"),
    ]
    lines = (tmp_path / "log").read_bytes().splitlines()
    assert len(lines) == len(wanted)
    for line, (stream, data) in zip(lines, wanted, strict=True):
        entry = json.loads(line)
        # byte for byte what Python's json.dumps made of the shim's decoded text
        record = {"log": data.decode("utf-8", "replace"), "stream": entry["stream"]}
        assert line.startswith(json.dumps(record).encode()[:-1] + b', "time": "')
        assert entry["stream"] == ("stdout" if stream == 1 else "stderr")
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", entry["time"])


def test_a_container_killed_by_a_signal_exits_128_and_its_number(tmp_path: Path, run: Run) -> None:
    assert _finished(tmp_path, run(signal=9))["code"] == 137


def _frames(sock: socket.socket) -> list[tuple[int, bytes]]:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    frames = []
    while data:
        stream, length = struct.unpack_from(">BxxxI", data)
        frames.append((stream, data[8 : 8 + length]))
        data = data[8 + length :]
    return frames


def _connected(tmp_path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    for _ in range(200):  # until the harness listens
        try:
            sock.connect(str(tmp_path / "attach.sock"))
            return sock
        except (FileNotFoundError, ConnectionRefusedError):
            time.sleep(0.02)
    raise AssertionError("nothing listens on attach.sock")


def test_output_waits_for_the_expected_client_which_feeds_stdin(tmp_path: Path, run: Run) -> None:
    proc = run(chunks=[(1, b"early\n"), (2, b"warn\n")], echo_stdin=True, expect=1, wait=20)
    sock = _connected(tmp_path)
    time.sleep(0.2)  # the container's first output is there before the client
    sock.sendall(b"A" + struct.pack(">BI", 0, 3) + b"hi\n" + struct.pack(">BI", 1, 0))
    frames = _frames(sock)
    assert _finished(tmp_path, proc)["code"] == 0
    assert sorted(frames) == [(1, b"early\n"), (1, b"got: hi\n"), (2, b"warn\n")]


def test_without_its_client_output_is_released_at_the_deadline(tmp_path: Path, run: Run) -> None:
    started = time.monotonic()
    proc = run(chunks=[(1, b"alone\n")], expect=1, wait=0.5)
    assert _finished(tmp_path, proc)["code"] == 0
    assert time.monotonic() - started >= 0.5
    assert json.loads((tmp_path / "log").read_text())["log"] == "alone\n"


def test_the_shim_makes_the_log_before_its_container_runs(tmp_path: Path) -> None:
    """`docker run` through the SDK follows the log right after the start: the monitor comes
    later, and a log that was not there yet ended the client's output empty."""
    shim = Shim({"dir": str(tmp_path), "log": str(tmp_path / "log")}, ready_fd=-1)
    os.close(shim.log_fd)
    assert (tmp_path / "log").exists()


@pytest.fixture(autouse=True)
def _built() -> None:
    assert os.access(MONITOR, os.X_OK), f"{MONITOR} is built by scripts/install.sh"


def test_every_attached_client_gets_the_output(tmp_path: Path, run: Run) -> None:
    proc = run(chunks=[(1, b"to all\n")], delay=1.5)
    clients = []
    for _ in range(100):
        clients.append(_connected(tmp_path))
        clients[-1].sendall(b"A")
    assert [_frames(sock) for sock in clients] == [[(1, b"to all\n")]] * 100
    assert _finished(tmp_path, proc)["code"] == 0
