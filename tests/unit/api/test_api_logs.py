"""`logs` as Docker's json-file reader answers it (tail first, then since/until by each
entry's time, timestamps with nine digits, details, the streams asked for), and `attach` with
`logs=1` replaying the log and, without `stream`, ending there — also for a container that is
not running."""

from __future__ import annotations

import asyncio
import json
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from served_world import SAFETY, ServedWorld, exchange

from hatoba.api.logs import LogQuery, point_ns, stamp_ns, stream_log
from hatoba.api.streams import STDERR, STDOUT, frame
from hatoba.errors import InvalidArgument

ENTRIES = [
    ("one\n", "stdout", "2026-01-01T00:00:01.5Z"),
    ("two\n", "stderr", "2026-01-01T00:00:02.000000001Z"),
    ("three\n", "stdout", "2026-01-01T00:00:03.25Z"),
    ("four\n", "stdout", "2026-01-01T00:00:04Z"),
]
T0 = 1767225600  # 2026-01-01T00:00:00Z


def write_log(path: Path) -> None:
    lines = (json.dumps({"log": log, "stream": s, "time": t}) + "\n" for log, s, t in ENTRIES)
    path.write_text("".join(lines))


def read(path: Path, query: LogQuery, tty: bool = True) -> bytes:
    async def collect() -> bytes:
        chunks = stream_log(path, query, tty=tty, still_running=lambda: False)
        return b"".join([chunk async for chunk in chunks])

    return asyncio.run(collect())


@pytest.fixture
def log(tmp_path: Path) -> Path:
    path = tmp_path / "c.log"
    write_log(path)
    return path


def test_stamps_and_points_are_read_to_the_nanosecond() -> None:
    assert stamp_ns("2026-01-01T00:00:02.000000001Z") == T0 * 10**9 + 2 * 10**9 + 1
    assert stamp_ns("2026-01-01T00:00:04Z") == (T0 + 4) * 10**9
    assert point_ns(f"{T0 + 2}.000000001") == (T0 + 2) * 10**9 + 1
    assert point_ns(f"{T0}") == T0 * 10**9
    assert point_ns("2026-01-01T00:00:03Z") == (T0 + 3) * 10**9


def test_since_and_until_keep_the_span(log: Path) -> None:
    since = (T0 + 2) * 10**9 + 1  # `two` is at exactly this nanosecond: kept
    until = (T0 + 3) * 10**9 + 250_000_000  # `three` too
    assert read(log, LogQuery(since_ns=since, until_ns=until)) == b"two\nthree\n"
    assert read(log, LogQuery(since_ns=since + 1)) == b"three\nfour\n"
    assert read(log, LogQuery(until_ns=(T0 + 2) * 10**9)) == b"one\n"


def test_tail_comes_before_since(log: Path) -> None:
    assert read(log, LogQuery(tail=3, since_ns=(T0 + 3) * 10**9)) == b"three\nfour\n"
    assert read(log, LogQuery(tail=1)) == b"four\n"
    assert read(log, LogQuery(tail=0)) == b""


def test_timestamps_have_nine_digits_and_details_a_space(log: Path) -> None:
    out = read(log, LogQuery(tail=2, timestamps=True, details=True))
    assert out == (b"2026-01-01T00:00:03.250000000Z  three\n2026-01-01T00:00:04.000000000Z  four\n")


def test_the_streams_asked_for_in_their_frames(log: Path) -> None:
    assert read(log, LogQuery(stdout=False), tty=False) == frame(STDERR, b"two\n")
    assert read(log, LogQuery(stderr=False, tail=1), tty=False) == frame(STDOUT, b"four\n")
    with pytest.raises(InvalidArgument, match="You must choose at least one stream"):
        LogQuery(stdout=False, stderr=False).check()


@pytest.fixture(scope="module")
def world() -> Iterator[ServedWorld]:
    with (
        tempfile.TemporaryDirectory(prefix="hatoba-logs-") as directory,
        ServedWorld(Path(directory)) as world,
    ):
        yield world


def attach(world: ServedWorld, name: str, query: str) -> bytes:
    """Everything an attach answers until the server ends it."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(SAFETY)
        sock.connect(str(world.socket))
        sock.sendall(
            f"POST /v1.41/containers/{world.names()[name]}/attach?{query} HTTP/1.1\r\n"
            "Host: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n".encode()
        )
        data = b""
        while chunk := sock.recv(1 << 16):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101 UPGRADED")
    # API 1.41 names a framed stream raw too (multiplexed-stream came with 1.42)
    assert b"\r\nContent-Type: application/vnd.docker.raw-stream\r\n" in head + b"\r\n"
    return body


def test_attach_with_logs_and_no_stream_replays_and_ends(world: ServedWorld) -> None:
    assert attach(world, "db", "logs=1&stdout=1&stderr=1") == frame(STDOUT, b"ready\n")
    assert attach(world, "db", "logs=1&stderr=1") == b""


def test_a_framed_log_is_named_a_raw_stream_as_api_1_41_names_it(world: ServedWorld) -> None:
    head = f"GET /v1.41/containers/{world.names()['db']}/logs?stdout=1 HTTP/1.1\r\nHost: x\r\n\r\n"
    reply = exchange(world.socket, head.encode(), "GET")
    assert reply is not None and reply.body == frame(STDOUT, b"ready\n")
    assert reply.headers["content-type"] == "application/vnd.docker.raw-stream"


def test_attach_to_a_container_that_is_not_running_returns(world: ServedWorld) -> None:
    # `web` was created and never started: no log, and nothing to wait for without `stream`
    assert attach(world, "web", "logs=1&stdout=1&stderr=1") == b""
    assert attach(world, "web", "stdout=1") == b""
