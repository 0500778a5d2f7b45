"""A stand-in for the hatoba service: a unix-socket HTTP/1.1 server that records requests and
answers from routes the test gives it. Plain `socket` and threads; no root needed."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes

    @property
    def path(self) -> str:
        path = urlsplit(self.target).path
        return path.removeprefix("/v1.41")

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.target).query, keep_blank_values=True)

    def arg(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    # body in these chunks, Transfer-Encoding: chunked
    chunks: list[bytes] | None = None
    # after a 101: gets the raw connection and what the client sent after the headers
    hijack: Callable[[socket.socket, bytes], None] | None = None
    # sent as is, then the connection is closed
    raw: bytes | None = None


def json_reply(value: Any, status: int = 200) -> Reply:
    return Reply(status, json.dumps(value).encode(), [("Content-Type", "application/json")])


def error(status: int, message: str) -> Reply:
    return json_reply({"message": message}, status)


def frame(stream: int, payload: bytes) -> bytes:
    return bytes([stream, 0, 0, 0]) + len(payload).to_bytes(4, "big") + payload


Route = Callable[[Request], Reply]


class FakeApi:
    def __init__(self, directory: Path) -> None:
        self.path = str(directory / "hatoba.sock")
        self.routes: dict[tuple[str, str], Route] = {}
        self.requests: list[Request] = []
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(self.path)
        self._listener.listen(16)
        self._threads: list[threading.Thread] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def route(self, method: str, path: str, handler: Route | Reply) -> None:
        self.routes[(method, path)] = handler if callable(handler) else (lambda _r: handler)

    def calls(self) -> list[tuple[str, str]]:
        return [(r.method, r.path) for r in self.requests]

    def find(self, method: str, path: str) -> Request:
        return next(r for r in self.requests if (r.method, r.path) == (method, path))

    def close(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            buffer = b""
            while b"\r\n\r\n" not in buffer:
                data = conn.recv(65536)
                if not data:
                    return
                buffer += data
            head, _, rest = buffer.partition(b"\r\n\r\n")
            lines = head.decode().split("\r\n")
            method, target, _version = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            body, rest = _read_body(conn, headers, rest)
            request = Request(method, target, headers, body)
            self.requests.append(request)
            handler = self.routes.get((method, request.path))
            reply = handler(request) if handler else error(404, f"page not found: {request.path}")
            # a client may close once it has what it needs (before a chunked answer's end)
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self._answer(conn, reply, rest)

    def _answer(self, conn: socket.socket, reply: Reply, rest: bytes) -> None:
        if reply.raw is not None:
            conn.sendall(reply.raw)
            return
        if reply.hijack is not None:
            conn.sendall(
                b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\n"
                b"Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
            )
            reply.hijack(conn, rest)
            return
        head = [f"HTTP/1.1 {reply.status} X", *(f"{k}: {v}" for k, v in reply.headers)]
        if reply.chunks is not None:
            head.append("Transfer-Encoding: chunked")
            conn.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
            for chunk in reply.chunks:
                conn.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            conn.sendall(b"0\r\n\r\n")
            return
        if reply.status not in (204, 304):
            head.append(f"Content-Length: {len(reply.body)}")
        conn.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + reply.body)


def _read_body(conn: socket.socket, headers: dict[str, str], data: bytes) -> tuple[bytes, bytes]:
    """The request body, and what followed it (the start of a hijacked stream)."""

    def more() -> bytes:
        chunk = conn.recv(65536)
        if not chunk:
            raise ConnectionError("client went away")
        return chunk

    if "chunked" in headers.get("transfer-encoding", ""):
        body = b""
        while True:
            while b"\r\n" not in data:
                data += more()
            size_line, _, data = data.partition(b"\r\n")
            size = int(size_line, 16)
            while len(data) < size + 2:
                data += more()
            body += data[:size]
            data = data[size + 2 :]
            if size == 0:
                return body, data
    length = int(headers.get("content-length", "0"))
    while len(data) < length:
        data += more()
    return data[:length], data[length:]


def read_until_eof(conn: socket.socket, first: bytes = b"") -> bytes:
    data = first
    while chunk := conn.recv(65536):
        data += chunk
    return data
