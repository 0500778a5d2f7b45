"""The served resolver, fuzzed through its real sockets at 127.0.0.11 in a container namespace:
random, mutated and crafted messages on UDP and TCP (lengths that lie included). Every message
is followed by a plain query that must still be answered; a reply to the fuzzed message is a
DNS reply, FORMERR (or NOTIMP) when its question cannot be read; the server stays up."""

from __future__ import annotations

import itertools
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import dnslib
import pytest
from dns_world import GATEWAYS, Service, container_ns, record
from hypothesis import given
from hypothesis import strategies as st

from fixtures.dns_packets import crafted
from fixtures.fuzzing import budget, fuzz, mutated
from hatoba.dns import wire
from hatoba.dns.table import by_container
from hatoba.kernel.netns import call_in_netns
from hatoba.testing.sandbox import Sandbox

pytestmark = [pytest.mark.root, fuzz]

A, B = "a" * 64, "b" * 64
RECORDS = [record(A, "web", "172.31.1.2", "www"), record(B, "db", "172.31.1.3")]
RESOLVER = ("127.0.0.11", 53)


def question(name: str, qtype: str = "A", *, qid: int = 4242, edns: bool = False) -> bytes:
    q = dnslib.DNSRecord.question(name, qtype)
    q.header.id = qid
    if edns:
        q.add_ar(dnslib.EDNS0(udp_len=1232))
    return bytes(q.pack())


SEEDS = [question("web"), question("db.front", "AAAA", edns=True), question("x.example", "MX")]
# a message and whether it is a query whose question cannot be read
messages = crafted() | (mutated(SEEDS) | st.binary(max_size=600)).map(lambda data: (data, False))


def socket_in(ns: Path, kind: int) -> socket.socket:
    """A socket of the container's namespace (a socket stays in the one it was made in)."""
    sock = call_in_netns(str(ns), lambda: socket.socket(socket.AF_INET, kind))
    sock.settimeout(5)
    return sock


@dataclass
class Resolver:
    ns: Path
    udp: socket.socket
    ids: Iterator[int] = field(default_factory=lambda: itertools.cycle(range(1, 0x10000)))

    def probe(self, avoid: bytes) -> tuple[int, bytes]:
        """A plain query for `web`, with an id the fuzzed message does not have."""
        qid = next(i for i in self.ids if i.to_bytes(2, "big") != avoid[:2])
        return qid, question("web", qid=qid)


@pytest.fixture(scope="module")
def resolver() -> Iterator[Resolver]:
    with Sandbox() as sb:
        svc = Service(sb, tcp_idle_timeout=0.5)
        try:
            svc.server.update(by_container(RECORDS), GATEWAYS)
            ns = container_ns(sb, "c1")
            # no forwarding: every answer is made at once, in the order the queries came
            svc.server.attach(A, str(ns), [], False)
            with socket_in(ns, socket.SOCK_DGRAM) as udp:
                yield Resolver(ns, udp)
        finally:
            svc.close()


def answers_web(reply: bytes, qid: int) -> None:
    parsed = dnslib.DNSRecord.parse(reply)
    assert parsed.header.id == qid
    assert [str(rr.rdata) for rr in parsed.rr] == ["172.31.1.2"]


def check_reply(reply: bytes, sent: bytes, malformed: bool) -> None:
    assert reply[:2] == sent[:2] and reply[2] & 0x80, reply
    dnslib.DNSHeader.parse(dnslib.DNSBuffer(reply))
    if malformed:
        assert wire.rcode_of(reply) in (wire.FORMERR, wire.NOTIMP), reply


@budget(300)
@given(messages)
def test_udp(resolver: Resolver, message: tuple[bytes, bool]) -> None:
    data, malformed = message
    qid, probe = resolver.probe(data)
    resolver.udp.sendto(data, RESOLVER)
    resolver.udp.sendto(probe, RESOLVER)
    replies = []
    while (reply := resolver.udp.recv(65535))[:2] != qid.to_bytes(2, "big"):
        replies.append(reply)  # the fuzzed message's reply, or a late one of an earlier probe
    answers_web(reply, qid)
    for earlier in replies:
        if earlier[:2] == data[:2]:
            check_reply(earlier, data, malformed)
    if malformed and data[:2] not in {r[:2] for r in replies}:
        pytest.fail("no FORMERR for a query whose question cannot be read")


def framed(data: bytes) -> bytes:
    return len(data).to_bytes(2, "big") + data


@budget(100)
@given(messages, st.none() | st.integers(0, 0xFFFF))
def test_tcp(resolver: Resolver, message: tuple[bytes, bool], length: int | None) -> None:
    """`length`: the prefix claims this many bytes, whatever follows."""
    data, malformed = message
    qid, probe = resolver.probe(data)
    with socket_in(resolver.ns, socket.SOCK_STREAM) as conn:
        conn.connect(RESOLVER)
        prefix = (len(data) if length is None else length).to_bytes(2, "big")
        conn.sendall(prefix + data + framed(probe))
        conn.shutdown(socket.SHUT_WR)  # all there is: a lying length ends at the end
        stream = b""
        while chunk := conn.recv(65535):
            stream += chunk
    replies = []
    while len(stream) >= 2 and len(stream) >= 2 + int.from_bytes(stream[:2], "big"):
        size = int.from_bytes(stream[:2], "big")
        replies.append(stream[2 : 2 + size])
        stream = stream[2 + size :]
    assert stream == b"", "a reply cut short"
    for reply in replies:
        if reply[:2] == qid.to_bytes(2, "big") and length is None:
            answers_web(reply, qid)
        elif reply[:2] == data[:2]:
            check_reply(reply, data, malformed and length is None)
    if not any(r[:2] == qid.to_bytes(2, "big") for r in replies):  # the stream was given up
        with socket_in(resolver.ns, socket.SOCK_STREAM) as conn:
            conn.connect(RESOLVER)
            conn.sendall(framed(probe))
            size = int.from_bytes(conn.recv(2, socket.MSG_WAITALL), "big")
            answers_web(conn.recv(size, socket.MSG_WAITALL), qid)
