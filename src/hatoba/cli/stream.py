"""Relaying a hijacked connection: our stdin to it, its output to our stdout and stderr.

Without a TTY the output is multiplexed: each frame has an 8-byte header (stream: 1 stdout,
2 stderr; three zero bytes; the payload size, 32-bit big-endian). With a TTY it is raw.
When our stdin ends we half-close the connection and keep reading until the service closes it.
One thread and poll(): the socket is non-blocking, and stdin is read only when what was read
before has been sent, so a slow reader on either side never deadlocks the other.
"""

from __future__ import annotations

import os
import select

TYPE_CHECKING = False  # `typing` costs ~4 ms of start-up; mypy treats this name as True
if TYPE_CHECKING:
    from hatoba.cli.client import Conn

STDIN, STDOUT, STDERR = 0, 1, 2
_READ = 1 << 16


class Demuxer:
    """Cuts docker's multiplexed stream into (stream, payload) frames, across reads."""

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        buf = self._pending + data
        frames = []
        pos = 0
        while len(buf) - pos >= 8:
            size = int.from_bytes(buf[pos + 4 : pos + 8], "big")
            if len(buf) - pos - 8 < size:
                break
            frames.append((buf[pos], buf[pos + 8 : pos + 8 + size]))
            pos += 8 + size
        self._pending = buf[pos:]
        return frames


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class Output:
    """Where the service's output goes: raw to stdout (TTY) or demultiplexed."""

    def __init__(self, tty: bool, stdout: int = STDOUT, stderr: int = STDERR) -> None:
        self._demuxer = None if tty else Demuxer()
        self._stdout = stdout
        self._stderr = stderr

    def write(self, data: bytes) -> None:
        if self._demuxer is None:
            write_all(self._stdout, data)
            return
        for stream, payload in self._demuxer.feed(data):
            write_all(self._stderr if stream == STDERR else self._stdout, payload)


def relay(
    conn: Conn, *, tty: bool, stdin: bool, fds: tuple[int, int, int] = (STDIN, STDOUT, STDERR)
) -> None:
    """Until the service closes the connection; `stdin`: send ours, then half-close."""
    stdin_fd, stdout_fd, stderr_fd = fds
    output = Output(tty, stdout_fd, stderr_fd)
    if conn.buffer:
        output.write(conn.recv())
    sock = conn.fileno()
    conn.sock.setblocking(False)
    poller = select.poll()
    reading_stdin = stdin
    pending = b""
    while True:
        poller.register(sock, select.POLLIN | (select.POLLOUT if pending else 0))
        if reading_stdin and not pending:
            poller.register(stdin_fd, select.POLLIN)
        else:
            _forget(poller, stdin_fd)
        for fd, _events in poller.poll():
            if fd == stdin_fd:
                pending = _read(stdin_fd)
                if not pending:
                    reading_stdin = False
                    conn.shutdown_write()
                continue
            if pending:
                pending = _send_some(conn, pending)
            try:
                data = conn.sock.recv(_READ)
            except BlockingIOError:
                continue
            except ConnectionResetError:
                return
            if not data:
                return
            output.write(data)


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, _READ)
    except OSError:  # closed or unreadable: treat as the end of input
        return b""


def _send_some(conn: Conn, data: bytes) -> bytes:
    try:
        sent = conn.sock.send(data)
    except BlockingIOError:
        return data
    except (BrokenPipeError, ConnectionResetError):
        return b""  # the service stopped reading: what is left cannot be delivered
    return data[sent:]


def _forget(poller: select.poll, fd: int) -> None:
    try:
        poller.unregister(fd)
    except KeyError:
        pass
