"""Request bodies: routes registered with a body file get the whole body in that file (no size
cap, closed after the answer); other routes keep the in-memory body and its cap. `{name*}`
parameters span slashes, as image names do."""

from __future__ import annotations

import asyncio
import re
import socket
import tempfile
from pathlib import Path
from typing import IO

import pytest

from hatoba.api import http
from hatoba.api.http import Request, Response, Router, Server


def exchange(path: Path, raw: bytes) -> bytes:
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(path))
        s.sendall(raw)
        s.shutdown(socket.SHUT_WR)
        chunks = []
        while data := s.recv(1 << 16):
            chunks.append(data)
    return b"".join(chunks)


def chunked(body: bytes, size: int = 1000) -> bytes:
    parts = [
        b"%x\r\n%s\r\n" % (len(body[i : i + size]), body[i : i + size])
        for i in range(0, len(body), size)
    ]
    return b"".join(parts) + b"0\r\n\r\n"


def test_body_file_routes_and_slashed_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http, "_MAX_BODY", 1000)
    files: list[IO[bytes]] = []

    def make_file() -> IO[bytes]:
        files.append(tempfile.TemporaryFile())  # noqa: SIM115 - the server closes it
        return files[-1]

    async def upload(req: Request) -> Response:
        assert req.body_file is not None and req.body == b""
        data = req.body_file.read()
        return Response(200, b"%d %s" % (len(data), req.params["name"].encode()), "text/plain")

    async def plain(req: Request) -> Response:
        return Response(200, b"%d" % len(req.body), "text/plain")

    router = Router()
    router.add("POST", "/images/{name*}/up", upload, body_file=make_file)
    router.add("POST", "/plain/{name}", plain)
    sock = tmp_path / "api.sock"
    body = bytes(range(256)) * 40  # 10 KiB, ten times the in-memory cap

    async def main() -> list[bytes]:
        server = Server(router, [])
        await server.listen(str(sock))
        try:
            head = b"Host: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            return [
                await asyncio.to_thread(
                    exchange,
                    sock,
                    b"POST /v1.41/images/me/app:1/up HTTP/1.1\r\n" + head + chunked(body),
                ),
                await asyncio.to_thread(
                    exchange,
                    sock,
                    b"POST /plain/x HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789",
                ),
                await asyncio.to_thread(
                    exchange, sock, b"POST /plain/x HTTP/1.1\r\n" + head + chunked(body)
                ),
                await asyncio.to_thread(
                    exchange,
                    sock,
                    b"POST /plain/a/b HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
                ),
            ]
        finally:
            await server.close()

    big, small, too_big, slashed = asyncio.run(main())
    assert big.startswith(b"HTTP/1.1 200") and big.endswith(b"\r\n\r\n10240 me/app:1")
    assert small.endswith(b"\r\n\r\n10")
    assert too_big == b""  # the connection is dropped, as before
    assert slashed.startswith(b"HTTP/1.1 404")
    assert len(files) == 1 and files[0].closed


def test_a_whole_answer_says_how_long_the_service_took(tmp_path: Path) -> None:
    async def slow(req: Request) -> Response:
        await asyncio.sleep(0.02)
        return Response(200, b"done", "text/plain")

    router = Router()
    router.add("GET", "/slow", slow)
    sock = tmp_path / "api.sock"

    async def main() -> bytes:
        server = Server(router, [])
        await server.listen(str(sock))
        try:
            raw = b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"
            return await asyncio.to_thread(exchange, sock, raw)
        finally:
            await server.close()

    answer = asyncio.run(main())
    timing = re.search(rb"\r\nServer-Timing: app;dur=([0-9.]+)\r\n", answer)
    assert timing is not None, answer
    assert float(timing.group(1)) >= 20  # the handler slept 20 ms
