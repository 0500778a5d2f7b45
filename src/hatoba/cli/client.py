"""A minimal HTTP/1.1 client of the hatoba service on its unix socket.

Only what the Engine API needs: JSON requests; request bodies with a Content-Length or chunked
(a tarball from a pipe); responses framed by Content-Length, chunked or ended by close, read
whole or as they arrive (`logs -f`, progress streams); and hijacked connections (attach, exec
start: `101 UPGRADED`, then a raw stream the client half-closes when its stdin ends).

It sits on the C module `_socket`: `socket` and `http.client` would cost more start-up time
than a whole `hatoba run -d` may spend. One connection per request.
"""

from __future__ import annotations

import _socket
import os
import stat

from hatoba import API_VERSION, __version__
from hatoba.cli import wirejson
from hatoba.cli.errors import CliError, Unreachable
from hatoba.errors import HatobaError, from_status

TYPE_CHECKING = False  # `typing` costs ~4 ms of start-up; mypy treats this name as True
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping
    from typing import Any

    Query = Mapping[str, object]

_PREFIX = "/v" + API_VERSION
_READ = 1 << 16
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
# characters a path segment may keep: docker sends image names like localhost:5000/a/b:tag as is
_PATH_SAFE = _UNRESERVED | frozenset(b"/:@!$&'()*+,;=")


def quote(text: str, safe: frozenset[int] = _UNRESERVED) -> str:
    return "".join(chr(b) if b in safe else f"%{b:02X}" for b in text.encode())


def encode_query(query: Query) -> str:
    """`{"a": 1, "b": ["x", "y"], "c": None}` → `a=1&b=x&b=y` (lists repeat, None is left out)."""
    parts = []
    for key, value in query.items():
        if value is None:
            continue
        for item in value if isinstance(value, list | tuple) else [value]:
            text = ("1" if item else "0") if isinstance(item, bool) else str(item)
            parts.append(f"{quote(key)}={quote(text)}")
    return "&".join(parts)


class Conn:
    """A connected stream socket with a read buffer."""

    def __init__(self, sock: _socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    @classmethod
    def open(cls, path: str, timeout: float | None = None) -> Conn:
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect(path)
        except BaseException:
            sock.close()
            raise
        return cls(sock)

    def fileno(self) -> int:
        return self.sock.fileno()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def recv(self, size: int = _READ) -> bytes:
        """What is buffered, else one read from the socket (b"" at end of stream)."""
        if self.buffer:
            data, self.buffer = self.buffer[:size], self.buffer[size:]
            return data
        return self.sock.recv(size)

    def _fill(self) -> None:
        data = self.sock.recv(_READ)
        if not data:
            raise ConnectionError("the hatoba service closed the connection")
        self.buffer += data

    def read_line(self) -> bytes:
        while (end := self.buffer.find(b"\r\n")) < 0:
            self._fill()
        line, self.buffer = self.buffer[:end], self.buffer[end + 2 :]
        return line

    def read_exact(self, size: int) -> bytes:
        while len(self.buffer) < size:
            self._fill()
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def shutdown_write(self) -> None:
        """Half-close: the peer sees end of input and may keep writing to us."""
        try:
            self.sock.shutdown(_socket.SHUT_WR)
        except OSError:
            pass

    def close(self) -> None:
        self.sock.close()


class Response:
    """Status and headers of an answer; the body is read on demand."""

    def __init__(self, conn: Conn, head_only: bool) -> None:
        self.conn = conn
        status_line = conn.read_line().decode("latin-1")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            raise ConnectionError(f"malformed response from the hatoba service: {status_line!r}")
        self.status = int(parts[1])
        self.headers: dict[str, str] = {}
        while line := conn.read_line():
            name, _, value = line.decode("latin-1").partition(":")
            self.headers[name.strip().lower()] = value.strip()
        self._remaining: int | None = None
        self._chunked = False
        if head_only or self.status in (101, 204, 304) or 100 <= self.status < 200:
            self._remaining = 0
        elif "chunked" in self.headers.get("transfer-encoding", "").lower():
            self._chunked = True
        elif "content-length" in self.headers:
            self._remaining = int(self.headers["content-length"])

    def chunks(self) -> Iterator[bytes]:
        """The body, piece by piece as it arrives; closes the connection at its end."""
        try:
            if self._chunked:
                yield from self._chunked_body()
            elif self._remaining is None:
                while data := self.conn.recv():
                    yield data
            else:
                while self._remaining > 0:
                    data = self.conn.recv(min(self._remaining, _READ))
                    if not data:
                        raise ConnectionError("the hatoba service closed the connection")
                    self._remaining -= len(data)
                    yield data
        finally:
            self.conn.close()

    def _chunked_body(self) -> Iterator[bytes]:
        conn = self.conn
        while size := int(conn.read_line().split(b";")[0].strip() or b"0", 16):
            while size > 0:
                data = conn.recv(min(size, _READ))
                if not data:
                    raise ConnectionError("the hatoba service closed the connection")
                size -= len(data)
                yield data
            conn.read_line()
        while conn.read_line():  # trailers
            pass

    def read(self) -> bytes:
        return b"".join(self.chunks())

    def json(self) -> Any:
        data = self.read()
        return wirejson.loads(data) if data.strip() else None

    def json_lines(self) -> Iterator[Any]:
        """A stream of JSON documents, one per line (image progress, `docker load`)."""
        pending = b""
        for chunk in self.chunks():
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if line.strip():
                    yield wirejson.loads(line)
        if pending.strip():
            yield wirejson.loads(pending)

    def close(self) -> None:
        self.conn.close()

    def raise_for_status(self) -> None:
        if self.status < 400:
            return
        body = self.read()
        message = body.decode("utf-8", "replace").strip()
        try:
            doc = wirejson.loads(body)
        except ValueError:
            doc = None
        if isinstance(doc, dict) and isinstance(doc.get("message"), str):
            message = doc["message"]
        raise from_status(self.status, message)


class Call:
    """A request on the wire whose answer is read later (`wait` is sent before `start`)."""

    def __init__(self, conn: Conn, method: str, target: str = "", debug: bool = False) -> None:
        self.conn = conn
        self.method = method
        self.target = target
        self.debug = debug

    def response(self) -> Response:
        try:
            response = Response(self.conn, self.method == "HEAD")
        except BaseException:
            self.conn.close()
            raise
        if self.debug:
            # the service's own time for the request, as its Server-Timing header says
            took = response.headers.get("server-timing", "").partition("dur=")[2] or "?"
            os.write(2, f"{self.method} {self.target} {response.status} {took} ms\n".encode())
        response.raise_for_status()
        return response

    def close(self) -> None:
        self.conn.close()


class Client:
    def __init__(
        self,
        socket_path: str,
        on_unreachable: Callable[[], None] | None = None,
        debug: bool = False,
    ) -> None:
        self.socket_path = socket_path
        # called once when nothing answers (starts the service), then connecting is retried
        self._on_unreachable = on_unreachable
        # each answer's status and the service's own time on stderr
        self.debug = debug

    def connect(self) -> Conn:
        try:
            return self._open()
        except Unreachable:
            if self._on_unreachable is None:
                raise
            hook, self._on_unreachable = self._on_unreachable, None
            hook()
            return self._open()

    def _open(self) -> Conn:
        try:
            return Conn.open(self.socket_path)
        except (FileNotFoundError, ConnectionRefusedError):
            raise Unreachable(self.socket_path) from None
        except PermissionError:
            raise CliError(
                "Got permission denied while trying to connect to the hatoba service socket "
                f"at unix://{self.socket_path}: connect: permission denied"
            ) from None

    def send(
        self,
        method: str,
        path: str,
        query: Query | None = None,
        body: object = None,
        *,
        upload: int | None = None,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> Call:
        """Send a request: `body` as JSON, or the contents of the file descriptor `upload`."""
        target = _PREFIX + quote(path, _PATH_SAFE)
        if query:
            target += "?" + encode_query(query)
        head = [
            f"{method} {target} HTTP/1.1",
            "Host: hatoba",
            f"User-Agent: hatoba-cli/{__version__}",
            *(f"{k}: {v}" for k, v in headers),
        ]
        payload = b""
        size = None
        if upload is not None:
            size = _remaining_size(upload)
            head.append("Content-Type: application/x-tar")
            head.append(
                f"Content-Length: {size}" if size is not None else "Transfer-Encoding: chunked"
            )
        elif body is not None:
            payload = wirejson.dumps(body).encode()
            head.append("Content-Type: application/json")
            head.append(f"Content-Length: {len(payload)}")
        elif method in ("POST", "PUT"):
            head.append("Content-Length: 0")
        conn = self.connect()
        try:
            conn.send(("\r\n".join(head) + "\r\n\r\n").encode() + payload)
            if upload is not None:
                _send_file(conn, upload, chunked=size is None)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the service answered before reading everything: its answer says why
        except BaseException:
            conn.close()
            raise
        return Call(conn, method, target, self.debug)

    def request(
        self, method: str, path: str, query: Query | None = None, body: object = None, **kw: Any
    ) -> Response:
        return self.send(method, path, query, body, **kw).response()

    def json(self, method: str, path: str, query: Query | None = None, body: object = None) -> Any:
        return self.request(method, path, query, body).json()

    def call(self, method: str, path: str, query: Query | None = None, body: object = None) -> None:
        """A request whose answer has no body worth reading."""
        self.request(method, path, query, body).read()

    def hijack(
        self, method: str, path: str, query: Query | None = None, body: object = None
    ) -> Conn:
        """Upgrade the connection to a raw bidirectional stream (attach, exec start)."""
        call = self.send(
            method, path, query, body, headers=(("Connection", "Upgrade"), ("Upgrade", "tcp"))
        )
        response = call.response()
        if response.status in (101, 200):
            return call.conn
        response.close()
        raise HatobaError(f"unable to upgrade to tcp, received {response.status}")


def _remaining_size(fd: int) -> int | None:
    """Bytes left to read from a regular file; None for pipes and terminals."""
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        return None
    return info.st_size - os.lseek(fd, 0, os.SEEK_CUR)


def _send_file(conn: Conn, fd: int, *, chunked: bool) -> None:
    while data := os.read(fd, 1 << 20):
        conn.send(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)
    if chunked:
        conn.send(b"0\r\n\r\n")
