"""Start `hatoba service` in the background when nothing answers on its socket.

The service runs under its keeper (hatoba/keeper.py), which starts it again when it crashes,
in the caller's network namespace with the same roots and environment, in a session of its own
(a Ctrl-C of the command does not reach it), with both their outputs appended to
<run-root>/service.log. The caller then polls `GET /_ping` until the service answers. A live
service or keeper means one is coming: it is waited for, not started twice.
"""

from __future__ import annotations

import os
import sys
import time

from hatoba.cli.client import Conn
from hatoba.cli.errors import Unreachable

TIMEOUT = 15.0
# a service that lost the start-up race exits at once; the winner may not have written its
# pid file yet: how long to look for it before concluding that no service is coming
_GRACE = 1.0
_POLL = 0.01
_LOG_LINES = 20


def start_service(root: str, run_root: str, socket_path: str) -> None:
    log_path = os.path.join(run_root, "service.log")
    log_start = _size(log_path)
    try:
        # root's alone, as the service keeps it (another user, or a container, cannot start one)
        os.makedirs(run_root, mode=0o700, exist_ok=True)
        # a service that is still starting up (another command started it, or its keeper is
        # starting it again) is waited for
        child = None if _coming(run_root) else _spawn(keeper_argv(root, run_root), log_path)
    except OSError as exc:
        raise Unreachable(socket_path, f"Cannot start it: {exc}") from None
    deadline = time.monotonic() + TIMEOUT
    gone_since = None
    while not ping(socket_path):
        now = time.monotonic()
        if child is not None and _exited(child):
            child = None
            gone_since = now
        if gone_since is not None and now > gone_since + _GRACE and not _coming(run_root):
            break  # ours died, and not because one another command started won the race
        if now > deadline:
            break
        time.sleep(_POLL)
    else:
        return
    raise Unreachable(socket_path, _log_tail(log_path, log_start))


def ping(socket_path: str) -> bool:
    try:
        conn = Conn.open(socket_path, timeout=2.0)
    except OSError:
        return False
    try:
        conn.send(b"GET /_ping HTTP/1.1\r\nHost: hatoba\r\nConnection: close\r\n\r\n")
        return conn.read_line().split(b" ")[1:2] == [b"200"]
    except OSError:
        return False
    finally:
        conn.close()


def running_service(run_root: str) -> int | None:
    """The pid in <run-root>/hatoba.pid if that process is a live hatoba."""
    return _live_hatoba(os.path.join(run_root, "hatoba.pid"))


def running_keeper(run_root: str) -> int | None:
    """The pid in <run-root>/keeper.pid if that process is a live hatoba."""
    return _live_hatoba(os.path.join(run_root, "keeper.pid"))


def _coming(run_root: str) -> bool:
    return bool(running_service(run_root) or running_keeper(run_root))


def _live_hatoba(pid_file: str) -> int | None:
    try:
        with open(pid_file, "rb") as f:
            pid = int(f.read().split()[0])
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return pid if b"hatoba" in f.read() else None
    except (OSError, ValueError, IndexError):
        return None


def keeper_argv(root: str, run_root: str) -> list[str]:
    run_root = os.path.abspath(run_root)
    return [sys.executable, "-m", "hatoba.keeper", run_root, "--", *service_argv(root, run_root)]


def service_argv(root: str, run_root: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "hatoba",
        "--root",
        os.path.abspath(root),
        "--run-root",
        os.path.abspath(run_root),
        "service",
    ]


def _spawn(argv: list[str], log_path: str) -> int:
    log = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    null = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            os.chdir("/")
            os.dup2(null, 0)
            os.dup2(log, 1)
            os.dup2(log, 2)
            # descriptors our own caller let us inherit (a test's pipes) must not stay open
            os.closerange(3, os.sysconf("SC_OPEN_MAX"))
            os.execv(argv[0], argv)
        finally:
            os._exit(127)
    os.close(log)
    os.close(null)
    return pid


def _exited(pid: int) -> bool:
    try:
        return os.waitpid(pid, os.WNOHANG)[0] == pid
    except ChildProcessError:
        return True


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def _log_tail(log_path: str, start: int) -> str:
    try:
        with open(log_path, "rb") as f:
            f.seek(start)
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    lines = text.rstrip("\n").split("\n")[-_LOG_LINES:]
    if not any(lines):
        return ""
    return f"The service did not come up; the end of {log_path}:\n" + "\n".join(
        "  " + line for line in lines
    )
