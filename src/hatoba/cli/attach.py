"""An attached session (`run`, `start -a`, `exec`): the terminal, resizes and signals around
the relay of one hijacked connection; for a container, the wait and the start around it.

With a TTY and stdin attached to our terminal, the terminal is raw for the session (keys,
Ctrl-C included, go to the container) and the container's TTY follows our window size. Without
a TTY, signals sent to us are forwarded to the container (docker's --sig-proxy).
"""

from __future__ import annotations

import os
import signal
import sys

from hatoba.cli import terminal
from hatoba.cli.stream import STDIN, STDOUT, relay
from hatoba.errors import HatobaError

TYPE_CHECKING = False  # `typing` costs ~4 ms of start-up; mypy treats this name as True
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from hatoba.cli.client import Call, Client, Conn

_FORWARDED = (
    signal.SIGINT,
    signal.SIGTERM,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGUSR1,
    signal.SIGUSR2,
)


def start_attached(
    client: Client,
    conn: Conn,
    path: str,
    *,
    tty: bool,
    stdin: bool,
    removed: bool,
    start: Callable[[], object],
) -> int:
    """docker's order once `conn` is attached to the container at `path` (/containers/ID):
    POST …/wait (condition removed for --rm, else next-exit) before `start()`, then the session;
    the container's exit status is what the wait reports."""
    waiting = client.send(
        "POST", f"{path}/wait", {"condition": "removed" if removed else "next-exit"}
    )
    try:
        start()
    except BaseException:
        conn.close()
        waiting.close()
        raise
    session(
        client,
        conn,
        tty=tty,
        stdin=stdin,
        resize_path=f"{path}/resize",
        kill_path=None if tty else f"{path}/kill",
    )
    return exit_status(waiting)


def exit_status(waiting: Call) -> int:
    """The StatusCode of a POST …/wait sent earlier."""
    try:
        result = waiting.response().json() or {}
    except HatobaError as exc:
        sys.stderr.write(f"Error waiting for container: {exc.message}\n")
        return 125
    error = result.get("Error") or {}
    if error.get("Message"):
        sys.stderr.write(f"Error waiting for container: {error['Message']}\n")
        return 125
    return int(result.get("StatusCode", 0))


def session(
    client: Client,
    conn: Conn,
    *,
    tty: bool,
    stdin: bool,
    resize_path: str,
    kill_path: str | None = None,
) -> None:
    """Relay `conn` until it ends. `resize_path`: POST …/resize; `kill_path`: POST …/kill."""
    saved = terminal.make_raw(STDIN) if tty and stdin and os.isatty(STDIN) else None
    previous: dict[signal.Signals, Any] = {}
    try:
        if tty and os.isatty(STDOUT):

            def resize(*_: object) -> None:
                _resize(client, resize_path)

            resize()
            previous[signal.SIGWINCH] = signal.signal(signal.SIGWINCH, resize)
        elif not tty and kill_path is not None:

            def forward(signum: int, _frame: object) -> None:
                try:
                    client.call("POST", kill_path, {"signal": signum})
                except (HatobaError, OSError):
                    pass

            for signum in _FORWARDED:
                previous[signum] = signal.signal(signum, forward)
        relay(conn, tty=tty, stdin=stdin)
    finally:
        conn.close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        terminal.restore(STDIN, saved)


def _resize(client: Client, path: str) -> None:
    size = terminal.size(STDOUT)
    if size is None or size == (0, 0):
        return
    rows, columns = size
    try:
        client.call("POST", path, {"h": rows, "w": columns})
    except (HatobaError, OSError):
        pass  # the process may have ended already
