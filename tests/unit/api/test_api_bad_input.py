"""What the API fuzzer found (test_api_fuzz.py), one request each, shrunk: every one was a 500
or a connection closed without an answer, and is now Docker's 4xx with a JSON message; none
changes anything."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from served_world import ServedWorld, exchange


def call(line: str, body: bytes = b"") -> bytes:
    """`POST /path` with this body, framed by its length."""
    return f"{line} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body


OBJECT_WANTED = "invalid JSON: cannot unmarshal {} into the request body of type object"

CASES = [
    # a header value with octets that are not UTF-8 (HTTP allows them): the connection dropped
    (b"GET /_ping HTTP/1.1\r\nHost: x\r\nAccept: 0\xe6\xc6\r\n\r\n", 200, "OK"),
    # a known path with another method: 500 "method not allowed"; Docker's router says 404
    (call("DELETE /_ping"), 404, "page not found: /_ping"),
    (call("HEAD /images/create"), 404, None),
    # a body that is JSON but not an object: AttributeError
    (call("POST /networks/create", b"[]"), 400, OBJECT_WANTED.format("array")),
    (call("POST /containers/@@db@@/exec", b"[{}, null]"), 400, OBJECT_WANTED.format("array")),
    (call("POST /exec/@@exec@@/start", b"false"), 400, OBJECT_WANTED.format("bool")),
    (call("POST /networks/front/connect", b'"db"'), 400, OBJECT_WANTED.format("string")),
    # null is Go's zero value: an empty request, refused for what it lacks
    (call("POST /networks/front/disconnect", b"null"), 404, "No such container: "),
    (call("POST /containers/create", b"null"), 400, "No image specified"),
    # fields of another type than Docker's
    (
        call(
            "POST /networks/front/connect", b'{"Container": "db", "EndpointConfig": {"Aliases": 7}}'
        ),
        400,
        "invalid JSON: cannot unmarshal number into field EndpointConfig.Aliases of type []string",
    ),
    (
        call("POST /networks/front/connect", b'{"EndpointConfig": {"IPAMConfig": 1}}'),
        400,
        "invalid JSON: cannot unmarshal number into field EndpointConfig.IPAMConfig of type object",
    ),
    (
        call("POST /networks/create", b'{"Name": "n", "Labels": [[1]]}'),
        400,
        "invalid JSON: cannot unmarshal array into field Labels of type map[string]string",
    ),
    (
        call("POST /networks/create", b'{"Name": "n", "IPAM": 0.5}'),
        400,
        "invalid JSON: cannot unmarshal number into field IPAM of type object",
    ),
    (
        call("POST /networks/create", b'{"Name": "n", "IPAM": {"Config": [{"Subnet": 5}]}}'),
        400,
        "invalid JSON: cannot unmarshal number into field IPAM.Config.0.Subnet of type string",
    ),
    (
        call("POST /containers/create", b'{"Image": [[], null]}'),
        400,
        "invalid JSON: cannot unmarshal array into field Image of type string",
    ),
    (
        call("POST /containers/create", b'{"Image": "alpine", "HostConfig": {"ExtraHosts": 7}}'),
        400,
        "invalid JSON: cannot unmarshal number into field HostConfig.ExtraHosts of type []string",
    ),
    (
        call(
            "POST /containers/create",
            b'{"Image": "alpine", "HostConfig": {"PortBindings": {"80/tcp": [{"HostPort": 8}]}}}',
        ),
        400,
        "invalid JSON: cannot unmarshal number into field HostConfig.PortBindings.80/tcp.0.HostPort"
        " of type string",
    ),
    (
        call("POST /containers/create", b'{"Image": "alpine", "ExposedPorts": {"80/tcp": 1}}'),
        400,
        "invalid JSON: cannot unmarshal number into field ExposedPorts.80/tcp of type object",
    ),
    (
        call(
            "POST /containers/create",
            b'{"Image": "alpine", "NetworkingConfig": {"EndpointsConfig": []}}',
        ),
        400,
        "invalid JSON: cannot unmarshal array into field NetworkingConfig.EndpointsConfig of type"
        " object",
    ),
    (
        call("POST /containers/create", b'{"Image": "alpine", "StopTimeout": 1.5}'),
        400,
        "invalid JSON: cannot unmarshal number into field StopTimeout of type int",
    ),
    (
        call("POST /containers/create", b'{"Image": "alpine", "StopTimeout": 9223372036854775808}'),
        400,
        "invalid JSON: StopTimeout is out of range: 9223372036854775808",
    ),
    (
        call("POST /containers/create", b'{"Image": "alpine", "StopSignal": "NOPE"}'),
        400,
        "Invalid signal: NOPE",
    ),
    (
        call("POST /containers/create", b'{"Image": "alpine", "StopTimeout": NaN}'),
        400,
        "invalid JSON: NaN is not JSON",
    ),
    # JSON nested deeper than the decoder goes: RecursionError
    (
        call("POST /networks/front/connect", b"[" * 10000 + b"]" * 10000),
        400,
        "invalid JSON: nested too deeply",
    ),
    # query arguments Go's strconv cannot read, or signals the kernel refuses (EINVAL)
    (call("POST /containers/@@db@@/restart?t=-vRS"), 400, "invalid value for t: -vRS"),
    (call("POST /containers/@@db@@/stop?t=99999999999999999999"), 400, None),
    (call("POST /containers/@@db@@/kill?signal=99999"), 400, "Invalid signal: 99999"),
    (call("POST /containers/@@db@@/kill?signal=0"), 400, "Invalid signal: 0"),
    (call("POST /containers/@@db@@/kill?signal=%C2%B2"), 400, "Invalid signal: \u00b2"),
    # a tail Go cannot read is all of the log, as in Docker: a ValueError
    (call("GET /containers/@@db@@/logs?tail=abc&stdout=1"), 200, None),
    # an unreadable since/until of the event stream: a 200 whose stream then failed (logged)
    (call("GET /events?since=:"), 400, 'failed to parse value as time or duration: ":"'),
    (call("GET /events?until=x"), 400, 'failed to parse value as time or duration: "x"'),
    # filters that are not Docker's shapes
    (call("GET /networks?filters=%5B1%5D"), 400, "invalid filter '[1]'"),
    (call("GET /containers/json?filters=%7B%22label%22%3A%5B1%5D%7D"), 400, None),
    (call("GET /networks?filters=%7B%22name%22%3A%7B%22x%22%3A1%7D%7D"), 400, None),
    # a request h11 cannot read: 400 (501 for an unknown transfer coding), not a silent close
    (b"GARBAGE\r\n\r\n", 400, None),
    (b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501, None),
]


@pytest.fixture(scope="module")
def world() -> Iterator[ServedWorld]:
    with (
        tempfile.TemporaryDirectory(prefix="hatoba-badinput-") as directory,
        ServedWorld(Path(directory)) as world,
    ):
        yield world


@pytest.mark.parametrize(("raw", "status", "message"), CASES)
def test_answer(world: ServedWorld, raw: bytes, status: int, message: str | None) -> None:
    for name, ident in world.names().items():
        raw = raw.replace(f"@@{name}@@".encode(), ident.encode())
    before = world.snapshot()
    reply = exchange(world.socket, raw, raw.split(b" ", 1)[0].decode(), half_close=True)
    assert reply is not None
    assert reply.status == status, reply
    if message is not None:
        body = reply.body.decode()
        assert (body if status < 400 else json.loads(body)["message"]) == message
    assert world.snapshot() == before
