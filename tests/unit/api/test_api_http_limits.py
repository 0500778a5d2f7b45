"""Bounded API connections: a cap per client process and one for the service, a head timeout
(slowloris), an idle timeout for kept-alive connections; streams and hijacked sessions are
never cut. Small limits, a tiny router, a unix socket in a temporary directory."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hatoba.api.http import Hijack, RawReader, Request, Response, Router, Server, Streaming

PING = b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n"
SAFETY = 10.0  # a socket that stays silent this long fails the test


def tiny_router() -> Router:
    async def ping(req: Request) -> Response:
        return Response(200, b"OK", "text/plain")

    async def stream(req: Request) -> Streaming:
        """Silent first, then a tick every `every` seconds: longer than any timeout here."""

        async def chunks() -> AsyncIterator[bytes]:
            await asyncio.sleep(float(req.arg("silent", "0")))
            for i in range(int(req.arg("ticks", "0"))):
                yield b"tick %d\n" % i
                await asyncio.sleep(0.1)
            yield b"end\n"

        return Streaming(chunks(), "text/plain")

    async def echo(req: Request) -> Hijack:
        async def run(client: RawReader, writer: asyncio.StreamWriter) -> None:
            while data := await client.read(100):
                writer.write(data)
                await writer.drain()
            writer.close()

        return Hijack(run)

    router = Router()
    router.add("GET", "/_ping", ping)
    router.add("GET", "/stream", stream)
    router.add("POST", "/echo", echo)
    router.add("POST", "/body", ping)
    return router


class Running:
    """A Server on an event loop of its own thread; tests talk to it with plain sockets."""

    def __init__(self, path: Path, **limits: Any) -> None:
        self.path = path
        self.loop = asyncio.new_event_loop()
        self.server = Server(tiny_router(), [("Api-Version", "1.41")], **limits)
        self.loop.run_until_complete(self.server.listen(str(path)))
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def connect(self) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX)
        sock.settimeout(SAFETY)
        sock.connect(str(self.path))
        return sock

    def call(self, fn: Callable[[], Any]) -> Any:
        async def run() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(SAFETY)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.close(), self.loop).result(SAFETY)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(SAFETY)
        self.loop.close()


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Running]]:
    started: list[Running] = []

    def start(**limits: Any) -> Running:
        started.append(Running(tmp_path / f"api{len(started)}.sock", **limits))
        return started[-1]

    yield start
    for running in started:
        running.stop()


def read_response(sock: socket.socket) -> tuple[int, bytes]:
    """One response with a Content-Length body: (status, body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError(f"closed after {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    while len(body) < int(headers.get("content-length", "0")):
        body += sock.recv(4096)
    return int(lines[0].split()[1]), body


def closed(sock: socket.socket) -> bool:
    """True when the server closes the connection (before SAFETY runs out)."""
    try:
        return sock.recv(100) == b""
    except ConnectionResetError:
        return True


def ping_from_another_process(path: Path) -> int:
    """The status another client process gets for GET /_ping."""
    script = f"""
import socket
s = socket.socket(socket.AF_UNIX)
s.settimeout({SAFETY})
s.connect({str(path)!r})
s.sendall({PING!r})
print(s.recv(4096).split()[1].decode())
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    return int(out)


def cap_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    """What the service logged about its connection caps."""
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    return [m for m in messages if "connections" in m]


def test_one_process_holding_many_idle_connections_is_capped_and_others_get_in(
    serve: Callable[..., Running], caplog: pytest.LogCaptureFixture
) -> None:
    api = serve(max_connections_per_peer=8, max_connections=16)
    caplog.set_level(logging.WARNING, "hatoba.api")
    held = [api.connect() for _ in range(8)]
    for sock in held[:2]:  # kept-alive after a request, or never used: both count
        sock.sendall(PING)
        assert read_response(sock) == (200, b"OK")
    refused = [api.connect() for _ in range(30)]
    for sock in refused:
        status, body = read_response(sock)
        assert status == 503
        assert json.loads(body) == {
            "message": "too many API connections from this process (limit 8)"
        }
        assert closed(sock)
    assert ping_from_another_process(api.path) == 200
    for sock in held:  # the process's own connections still work
        sock.sendall(PING)
        assert read_response(sock) == (200, b"OK")
    warnings = cap_warnings(caplog)
    assert len(warnings) == 1  # one line for the process, not one per refused connection
    assert "holds 8 connections" in warnings[0] and "uid" in warnings[0]


def test_at_the_service_cap_the_longest_waiting_connection_makes_room(
    serve: Callable[..., Running],
) -> None:
    api = serve(max_connections_per_peer=100, max_connections=6)
    idle = [api.connect() for _ in range(6)]
    for sock in idle:
        sock.sendall(PING)
        assert read_response(sock) == (200, b"OK")
    idle[3].sendall(PING)  # used again: now the most recently waiting
    assert read_response(idle[3]) == (200, b"OK")
    assert ping_from_another_process(api.path) == 200
    assert closed(idle[0])  # the one idle longest was closed to let the other client in
    for sock in idle[1:]:
        sock.sendall(PING)
        assert read_response(sock) == (200, b"OK")


def test_at_the_service_cap_with_every_connection_busy_new_ones_are_refused(
    serve: Callable[..., Running], caplog: pytest.LogCaptureFixture
) -> None:
    api = serve(max_connections_per_peer=100, max_connections=4)
    caplog.set_level(logging.WARNING, "hatoba.api")
    streams = [api.connect() for _ in range(4)]
    for sock in streams:
        sock.sendall(b"GET /stream?silent=30 HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")  # headers now, body later
    for _ in range(5):
        sock = api.connect()
        status, body = read_response(sock)
        assert (status, json.loads(body)) == (
            503,
            {"message": "too many API connections (limit 4)"},
        )
    assert len(cap_warnings(caplog)) == 1
    streams[0].close()  # its client leaves a silent stream: the slot is free again
    deadline = time.monotonic() + SAFETY
    while True:
        sock = api.connect()
        with contextlib.suppress(BrokenPipeError):  # refused: answered and closed at once
            sock.sendall(PING)
        status, _ = read_response(sock)
        if status == 200:
            break
        assert time.monotonic() < deadline


def test_a_head_that_never_completes_is_cut(serve: Callable[..., Running]) -> None:
    api = serve(head_timeout=0.3, idle_timeout=SAFETY * 3)
    fresh = api.connect()  # a new connection that sends nothing
    trickling = api.connect()
    trickling.sendall(b"GET /_ping HTTP/1.1\r\n")
    kept = api.connect()
    kept.sendall(PING)
    assert read_response(kept) == (200, b"OK")
    kept.sendall(b"GET /_ping HTTP/1.1\r\n")  # the next head on a kept-alive connection
    started = time.monotonic()
    while time.monotonic() - started < 2.0:  # a byte at a time, far longer than the timeout
        try:
            trickling.sendall(b"X")
            kept.sendall(b"X")
        except (BrokenPipeError, ConnectionResetError):
            break
        time.sleep(0.05)
    assert closed(fresh)
    assert closed(trickling)
    assert closed(kept)


def test_a_request_body_that_stalls_is_cut(serve: Callable[..., Running]) -> None:
    api = serve(head_timeout=SAFETY * 3, idle_timeout=0.3)
    sock = api.connect()
    sock.sendall(b"POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n01234")
    assert closed(sock)


def test_an_idle_kept_alive_connection_is_closed_after_its_timeout(
    serve: Callable[..., Running],
) -> None:
    api = serve(head_timeout=0.1, idle_timeout=0.6)
    sock = api.connect()
    sock.sendall(PING)
    assert read_response(sock) == (200, b"OK")
    time.sleep(0.3)  # idle longer than a head may take: still open, idle is not a head
    sock.sendall(PING)
    assert read_response(sock) == (200, b"OK")
    assert closed(sock)


def test_long_streams_and_hijacked_sessions_are_not_cut(serve: Callable[..., Running]) -> None:
    # timeouts long enough for a loaded machine to read the heads, streams several times longer
    api = serve(head_timeout=0.3, idle_timeout=0.3)
    waiting = api.connect()  # like `wait`: headers at once, the body much later
    waiting.sendall(b"GET /stream?silent=1.2 HTTP/1.1\r\nHost: x\r\n\r\n")
    ticking = api.connect()  # like `logs -f`: a chunk now and then, for longer than any timeout
    ticking.sendall(b"GET /stream?ticks=12 HTTP/1.1\r\nHost: x\r\n\r\n")
    attached = api.connect()
    attached.sendall(
        b"POST /echo HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
    )
    assert attached.recv(4096).startswith(b"HTTP/1.1 101")
    time.sleep(1.2)
    attached.sendall(b"still here")
    assert attached.recv(100) == b"still here"
    for sock, body in ((waiting, b"end\n"), (ticking, b"tick 10\ntick 11\nend\n")):
        data = b""
        while not data.endswith(b"\r\n0\r\n\r\n"):
            chunk = sock.recv(4096)
            assert chunk, data
            data += chunk
        assert data.startswith(b"HTTP/1.1 200")
        assert data.endswith(
            b"".join(b"%x\r\n%s\r\n" % (len(line), line) for line in body.splitlines(keepends=True))
            + b"0\r\n\r\n"
        )


def test_a_request_that_is_not_http_gets_a_400(serve: Callable[..., Running]) -> None:
    api = serve()
    for junk in (b"GARBAGE\r\n\r\n", b"GET / HTTP/1.1\r\nbad header\r\n\r\n"):
        sock = api.connect()
        sock.sendall(junk)
        status, body = read_response(sock)
        assert status == 400 and json.loads(body)["message"].startswith("invalid HTTP request: ")
        assert closed(sock)
