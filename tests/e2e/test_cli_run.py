"""`run`, `exec` and the container verbs through the CLI and a real service: exit statuses,
stdin with half-close, a terminal (raw mode on a pty), logs, and the service's autostart."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import time
from collections.abc import Iterator

import pytest

from fixtures.busybox_images import busybox_images
from fixtures.image_sandbox import import_busybox
from hatoba.images.busybox import RootfsImage
from hatoba.testing import Sandbox

__all__ = ["busybox_images"]

pytestmark = pytest.mark.root

Images = tuple[RootfsImage, RootfsImage]


@pytest.fixture(scope="module")
def sb(busybox_images: Images) -> Iterator[Sandbox]:
    with Sandbox() as sandbox:
        import_busybox(sandbox, busybox_images)
        yield sandbox


def test_attached_run_relays_both_streams_and_exits_with_the_status(sb: Sandbox) -> None:
    r = sb.hatoba(
        "run", "--rm", "alpine", "sh", "-c", "echo out; echo err >&2; exit 3", check=False
    )
    assert (r.returncode, r.stdout, r.stderr) == (3, "out\n", "err\n")
    assert sb.hatoba("ps", "-aq").stdout == ""


def test_stdin_is_sent_then_half_closed(sb: Sandbox) -> None:
    text = "line one\nline two\n" * 1000
    r = sb.hatoba("run", "--rm", "-i", "alpine", "sh", "-c", "cat; echo done", input=text)
    assert r.stdout == text + "done\n"


def test_failed_runs(sb: Sandbox) -> None:
    r = sb.hatoba("run", "--name", "badcmd", "alpine", "nosuchcmd", check=False)
    assert r.returncode == 127
    assert r.stderr.startswith("hatoba: Error response from daemon: ")
    # unlike docker, a run whose start failed leaves no container behind
    assert sb.hatoba("ps", "-a", "--filter", "name=badcmd", "-q").stdout == ""
    sb.hatoba("run", "-d", "--name", "dupname", "alpine", "sleep", "60")
    r = sb.hatoba("run", "-d", "--name", "dupname", "alpine", "true", check=False)
    assert r.returncode == 125
    assert r.stderr.startswith(
        "hatoba: Error response from daemon: Conflict. "
        'The container name "/dupname" is already in use'
    )
    assert r.stderr.endswith(".\nSee 'hatoba run --help'.\n")
    r = sb.hatoba("run", "--net", "bridge", "--network-alias", "x", "alpine", check=False)
    assert (r.returncode, r.stderr) == (
        125,
        "hatoba: network-scoped aliases are only supported for user-defined networks.\n"
        "See 'hatoba run --help'.\n",
    )
    sb.hatoba("rm", "-f", "dupname")


def test_detached_run_is_one_request_and_a_start_that_fails_leaves_nothing(
    sb: Sandbox,
) -> None:
    r = sb.hatoba("--debug", "run", "-d", "--name", "one", "alpine", "sleep", "60")
    requests = [line.split()[:2] for line in r.stderr.splitlines() if line.startswith("POST")]
    assert requests == [["POST", "/v1.41/hatoba/containers/run?name=one"]]
    assert sb.hatoba("ps", "--format", "{{.Names}} {{.State}}").stdout == "one running\n"
    r = sb.hatoba("run", "-d", "--name", "nostart", "alpine", "nosuchcmd", check=False)
    assert r.returncode == 127
    assert r.stderr.startswith("hatoba: Error response from daemon: ")
    assert "--help" not in r.stderr  # the create went through: a start's error, as docker's
    assert sb.hatoba("ps", "-a", "--filter", "name=nostart", "-q").stdout == ""
    sb.hatoba("rm", "-f", "one")


def test_detached_container_lifecycle(sb: Sandbox) -> None:
    cid = sb.hatoba(
        "run", "-d", "--name", "life", "alpine", "sh", "-c", "echo out; echo err >&2; sleep 60"
    ).stdout.strip()
    assert len(cid) == 64
    assert (
        sb.hatoba("ps", "--format", "{{.ID}} {{.Names}} {{.State}}").stdout
        == f"{cid[:12]} life running\n"
    )
    status = sb.hatoba("ps", "--format", "{{.Status}}").stdout
    assert status.startswith("Up ")
    logs = sb.hatoba("logs", "life")
    assert (logs.stdout, logs.stderr) == ("out\n", "err\n")
    assert sb.hatoba("exec", "life", "sh", "-c", "exit 4", check=False).returncode == 4
    assert sb.hatoba("exec", "-i", "life", "cat", input="to exec\n").stdout == "to exec\n"
    assert sb.hatoba("stop", "-t", "1", "life").stdout == "life\n"
    assert sb.hatoba("wait", "life").stdout in ("137\n", "143\n")
    assert sb.hatoba("ps", "-a", "--format", "{{.Status}}").stdout.startswith("Exited (")
    assert sb.hatoba("start", "life").stdout == "life\n"
    assert sb.hatoba("restart", "-t", "0", "life").stdout == "life\n"
    assert sb.hatoba("ps", "--format", "{{.Status}}").stdout.startswith("Up ")
    assert sb.hatoba("kill", "-s", "KILL", "life").stdout == "life\n"
    assert sb.hatoba("wait", "life").stdout == "137\n"
    assert sb.hatoba("rm", "life").stdout == "life\n"
    r = sb.hatoba("rm", "life", check=False)
    assert (r.returncode, r.stderr) == (1, "Error: No such container: life\n")


def test_exec_in_a_stopped_container(sb: Sandbox) -> None:
    sb.hatoba("create", "--name", "idle", "alpine", "sleep", "60")
    r = sb.hatoba("exec", "idle", "true", check=False)
    assert r.returncode == 1
    assert r.stderr.startswith("Error response from daemon: Container ")
    assert r.stderr.endswith(" is not running\n")
    sb.hatoba("rm", "idle")


def test_run_terminal_session_on_a_pty(sb: Sandbox) -> None:
    """`run -it` in a terminal: raw mode (our terminal does not echo; the container's does),
    its size passed on, the command's exit status, and the terminal settings restored."""
    code, out = _terminal_session(sb, b"stty size; ", "run", "-it", "--rm", "alpine", "sh")
    assert code == 5
    assert b"\r\n30 100\r\n42\r\n" in out
    assert out.count(b"echo $((6 * 7))") == 1  # echoed by the container's terminal only


def test_exec_terminal_session_on_a_pty(sb: Sandbox) -> None:
    """The seed's `docker exec -it alpine-sample1 /bin/sh` (not its size: the service applies
    an exec's resize only once its terminal exists, and the first comes before that)."""
    sb.hatoba("run", "-itd", "--name", "term", "alpine:latest")
    code, out = _terminal_session(sb, b"", "exec", "-it", "term", "/bin/sh")
    assert code == 5
    assert b"\r\n42\r\n" in out
    assert out.count(b"echo $((6 * 7))") == 1
    sb.hatoba("rm", "-f", "term")


def _terminal_session(sb: Sandbox, first: bytes, *args: str) -> tuple[int, bytes]:
    """Run hatoba on a 30x100 pty, type `first` and `echo $((6 * 7)); exit 5` into the shell
    it reaches; (status, output). Checks that the pty's settings are back as they were."""
    import fcntl
    import struct
    import termios

    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    before = termios.tcgetattr(slave)
    proc = sb.popen(
        [*sb.hatoba_argv, *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
    )
    try:
        out = _read_until(master, b"# ")
        os.write(master, first + b"echo $((6 * 7)); exit 5\r")
        out += _read_until(master, b"")
        code = proc.wait(10)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        after = termios.tcgetattr(slave)
        os.close(master)
        os.close(slave)
    assert after == before
    return code, out


def test_signals_are_forwarded_to_the_container(sb: Sandbox) -> None:
    script = 'trap "echo got TERM; exit 7" TERM; echo ready; sleep 30 & wait'
    proc = sb.popen(
        [*sb.hatoba_argv, "run", "--rm", "alpine", "sh", "-c", script],
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"ready\n"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 7
    assert proc.stdout.read() == b"got TERM\n"


def test_start_attached_and_logs_following(sb: Sandbox) -> None:
    sb.hatoba("create", "--name", "later", "alpine", "sh", "-c", "echo hi; exit 2")
    r = sb.hatoba("start", "-a", "later", check=False)
    assert (r.returncode, r.stdout) == (2, "hi\n")
    sb.hatoba("rm", "later")
    sb.hatoba("run", "-d", "--name", "slow", "alpine", "sh", "-c", "echo a; sleep 0.5; echo b")
    assert sb.hatoba("logs", "-f", "slow").stdout == "a\nb\n"
    assert sb.hatoba("logs", "--tail", "1", "slow").stdout == "b\n"
    sb.hatoba("rm", "slow")


def _read_until(fd: int, marker: bytes, timeout: float = 10) -> bytes:
    """Read fd until marker (or, with an empty marker, until it stops for 0.5 s)."""
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if not ready:
            if not marker:
                return data
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            return data
        data += chunk
        if marker and marker in data:
            return data
    if marker:
        raise AssertionError(f"no {marker!r} in {data!r}")
    return data


def test_autostart_failure_reports_the_service_log() -> None:
    with Sandbox() as sandbox:
        start = time.monotonic()
        r = sandbox.sh(
            [*sandbox.hatoba_argv, "--root", "/proc/hatoba-cannot-be-here", "network", "ls"],
            check=False,
        )
        elapsed = time.monotonic() - start
    assert r.returncode == 1
    socket = f"{sandbox.run_root}/hatoba.sock"
    assert r.stderr.startswith(
        f"Cannot connect to the hatoba service at unix://{socket}. Is the service running?\n"
        f"The service did not come up; the end of {sandbox.run_root}/service.log:\n"
    )
    assert elapsed < 10  # the service's exit is noticed, not waited out


def test_autostart_runs_one_service() -> None:
    with Sandbox() as sandbox:
        procs = [
            sandbox.popen(
                [*sandbox.hatoba_argv, "network", "ls", "-q"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            for _ in range(4)
        ]
        results = [p.communicate(timeout=30) for p in procs]
        assert [p.returncode for p in procs] == [0, 0, 0, 0]
        assert all(len(out.split()) == 3 for out, _ in results)
        pid = sandbox.service_pid()
        assert pid is not None
        assert sandbox.hatoba("info", "--format", "{{.Hatoba.Pid}}").stdout == f"{pid}\n"
