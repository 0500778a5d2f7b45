"""The HTTP client against a fake service on a unix socket."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from fakeapi import FakeApi, Reply, error, frame, json_reply, read_until_eof

from hatoba.cli.client import Client, encode_query
from hatoba.cli.errors import Unreachable
from hatoba.cli.stream import Demuxer, relay
from hatoba.errors import Conflict, HatobaError, NotFound


def test_json_request_line_headers_and_query(api: FakeApi) -> None:
    api.route("GET", "/networks", json_reply([{"Name": "bridge"}]))
    client = Client(api.path)
    result = client.json("GET", "/networks", {"filters": '{"name":{"a b":true}}', "all": True})
    assert result == [{"Name": "bridge"}]
    request = api.requests[0]
    assert request.target.startswith("/v1.41/networks?")
    assert request.query == {"filters": ['{"name":{"a b":true}}'], "all": ["1"]}
    assert request.headers["host"] == "hatoba"


def test_json_body(api: FakeApi) -> None:
    api.route("POST", "/networks/create", json_reply({"Id": "ab" * 32}, 201))
    created = Client(api.path).json("POST", "/networks/create", body={"Name": "sample"})
    assert created == {"Id": "ab" * 32}
    request = api.requests[0]
    assert request.json() == {"Name": "sample"}
    assert request.headers["content-type"] == "application/json"


def test_query_encoding() -> None:
    assert encode_query({"a": None, "b": ["x", "y z"], "c": False, "d": "é&="}) == (
        "b=x&b=y%20z&c=0&d=%C3%A9%26%3D"
    )


def test_chunked_body_arrives_piece_by_piece(api: FakeApi) -> None:
    lines = [b'{"status":"a"}\n{"sta', b'tus":"b"}\n', b'{"stream":"c"}']
    api.route("POST", "/images/load", Reply(chunks=lines))
    response = Client(api.path).request("POST", "/images/load")
    assert list(response.json_lines()) == [{"status": "a"}, {"status": "b"}, {"stream": "c"}]


def test_body_until_close(api: FakeApi) -> None:
    api.route(
        "GET", "/x", Reply(raw=b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it")
    )
    assert Client(api.path).request("GET", "/x").read() == b"all of it"


@pytest.mark.parametrize(("status", "kind"), [(404, NotFound), (409, Conflict), (500, HatobaError)])
def test_errors_become_the_error_tree(api: FakeApi, status: int, kind: type) -> None:
    api.route("DELETE", "/networks/x", error(status, "network x has active endpoints"))
    with pytest.raises(kind) as info:
        Client(api.path).call("DELETE", "/networks/x")
    assert info.value.message == "network x has active endpoints"


def test_error_without_json_keeps_the_text(api: FakeApi) -> None:
    api.route("GET", "/x", Reply(502, b"bad gateway\n"))
    with pytest.raises(HatobaError, match="^bad gateway$"):
        Client(api.path).call("GET", "/x")


def test_not_modified_is_not_an_error(api: FakeApi) -> None:
    api.route("POST", "/containers/c/start", Reply(304))
    Client(api.path).call("POST", "/containers/c/start")


def test_upload_of_a_file_has_a_length(api: FakeApi, tmp_path: Path) -> None:
    api.route("POST", "/images/create", json_reply({"status": "ok"}))
    path = tmp_path / "rootfs.tar"
    path.write_bytes(b"x" * 300_000)
    fd = os.open(path, os.O_RDONLY)
    try:
        Client(api.path).request("POST", "/images/create", {"fromSrc": "-"}, upload=fd).read()
    finally:
        os.close(fd)
    request = api.requests[0]
    assert request.headers["content-length"] == "300000"
    assert request.headers["content-type"] == "application/x-tar"
    assert request.body == b"x" * 300_000


def test_upload_from_a_pipe_is_chunked(api: FakeApi) -> None:
    api.route("POST", "/images/load", json_reply({"stream": "Loaded image: alpine:latest\n"}))
    read, write = os.pipe()
    os.write(write, b"archive bytes")
    os.close(write)
    try:
        Client(api.path).request("POST", "/images/load", upload=read).read()
    finally:
        os.close(read)
    request = api.requests[0]
    assert request.headers["transfer-encoding"] == "chunked"
    assert request.body == b"archive bytes"


def test_hijack_relays_both_ways_and_half_closes(api: FakeApi) -> None:
    received: list[bytes] = []

    def attach(conn: socket.socket, first: bytes) -> None:
        conn.sendall(frame(1, b"hello "))  # output may arrive right behind the 101
        received.append(read_until_eof(conn, first))  # ends at the client's half-close
        conn.sendall(frame(1, b"world\n") + frame(2, b"oops\n") + frame(1, received[0].upper()))

    api.route("POST", "/containers/c/attach", Reply(hijack=attach))
    conn = Client(api.path).hijack("POST", "/containers/c/attach", {"stream": 1, "stdin": 1})
    stdin_r, stdin_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    os.write(stdin_w, b"typed input")
    os.close(stdin_w)
    relay(conn, tty=False, stdin=True, fds=(stdin_r, out_w, err_w))
    for fd in (stdin_r, out_w, err_w):
        os.close(fd)
    assert received == [b"typed input"]
    assert os.read(out_r, 1000) == b"hello world\nTYPED INPUT"
    assert os.read(err_r, 1000) == b"oops\n"
    assert api.requests[0].headers["upgrade"] == "tcp"


def test_hijack_refused(api: FakeApi) -> None:
    api.route("POST", "/containers/c/attach", error(404, "No such container: c"))
    with pytest.raises(NotFound, match="No such container: c"):
        Client(api.path).hijack("POST", "/containers/c/attach")


def test_nothing_listening(tmp_path: Path) -> None:
    with pytest.raises(Unreachable) as info:
        Client(str(tmp_path / "none.sock")).call("GET", "/_ping")
    assert info.value.message == (
        f"Cannot connect to the hatoba service at unix://{tmp_path}/none.sock. "
        "Is the service running?"
    )
    assert info.value.code == 1


def test_the_unreachable_hook_runs_once_then_connecting_is_retried(tmp_path: Path) -> None:
    started: list[FakeApi] = []

    def start() -> None:
        server = FakeApi(tmp_path)
        server.route("GET", "/_ping", Reply(200, b"OK"))
        started.append(server)

    client = Client(str(tmp_path / "hatoba.sock"), on_unreachable=start)
    assert client.request("GET", "/_ping").read() == b"OK"
    assert client.request("GET", "/_ping").read() == b"OK"
    assert len(started) == 1
    started[0].close()


def test_demuxer_across_arbitrary_cuts() -> None:
    stream = frame(1, b"out") + frame(2, b"err") + frame(1, b"") + frame(1, b"x" * 70000)
    for size in (1, 3, 7, 8, 9, 4096):
        demuxer = Demuxer()
        frames = []
        for i in range(0, len(stream), size):
            frames.extend(demuxer.feed(stream[i : i + size]))
        assert frames == [(1, b"out"), (2, b"err"), (1, b""), (1, b"x" * 70000)]


def test_tty_output_is_raw(api: FakeApi) -> None:
    def attach(conn: socket.socket, first: bytes) -> None:
        conn.sendall(b"\x01\x00raw tty bytes")

    api.route("POST", "/exec/e/start", Reply(hijack=attach))
    conn = Client(api.path).hijack("POST", "/exec/e/start", body={"Tty": True})
    out_r, out_w = os.pipe()
    relay(conn, tty=True, stdin=False, fds=(0, out_w, out_w))
    os.close(out_w)
    assert os.read(out_r, 100) == b"\x01\x00raw tty bytes"


def test_debug_says_each_answer_and_the_service_s_time(
    api: FakeApi, capfd: pytest.CaptureFixture[str]
) -> None:
    timing = [("Server-Timing", "app;dur=1.234"), ("Content-Type", "application/json")]
    api.route("POST", "/networks/create", Reply(201, b'{"Id": "x"}', headers=timing))
    assert Client(api.path, debug=True).json("POST", "/networks/create", body={}) == {"Id": "x"}
    Client(api.path).json("POST", "/networks/create", body={})
    assert capfd.readouterr().err == "POST /v1.41/networks/create 201 1.234 ms\n"
