"""Whatever arrives on the resolver's sockets, it answers, forwards or drops; it never raises."""

from __future__ import annotations

import dnslib
from dns_helpers import A, query, sample_responder
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from hatoba.dns import Asker, Forward

RESPONDER = sample_responder()
SEEDS = [
    query("web"),
    query("WWW.front", "AAAA", edns=1232, do=True),
    query("2.0.18.172.in-addr.arpa", "PTR"),
    query("example.org", "MX", edns=4096),
]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["flip", "cut", "insert", "delete"]))
        pos = draw(st.integers(0, len(data)))
        if kind == "flip" and pos < len(data):
            data[pos] = draw(st.integers(0, 255))
        elif kind == "cut":
            del data[pos:]
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif pos < len(data):
            del data[pos]
    return bytes(data)


def check(data: bytes, asker: Asker, tcp: bool) -> None:
    out = RESPONDER.respond(data, asker, tcp=tcp)
    if out is None:
        return
    if isinstance(out, Forward):
        out = RESPONDER.complete(out, data)  # an upstream echoing junk back
    assert isinstance(out, bytes)
    assert out[:2] == data[:2]
    assert out[2] & 0x80  # a reply
    assert len(out) <= (65535 if tcp else 4096)
    dnslib.DNSHeader.parse(dnslib.DNSBuffer(out))


@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=700), st.booleans(), st.booleans())
@example(b"\x00" * 12, False, True)
@example(b"\x00\x01\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\xc0\x0c\x00\x01\x00\x01", True, False)
def test_random_bytes(data: bytes, forward: bool, tcp: bool) -> None:
    check(data, Asker(A, forward=forward), tcp)


@settings(max_examples=2000, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(), st.booleans(), st.booleans())
def test_mutated_queries(data: bytes, forward: bool, tcp: bool) -> None:
    check(data, Asker(A, forward=forward), tcp)


def _upstream_reply() -> bytes:
    reply = dnslib.DNSRecord.parse(query("example.org", edns=1232)).reply(aa=0)
    reply.add_answer(*dnslib.RR.fromZone("example.org. 300 IN CNAME www.example.org."))
    reply.add_answer(*dnslib.RR.fromZone("www.example.org. 300 IN A 192.0.2.7"))
    reply.add_auth(*dnslib.RR.fromZone("example.org. 300 IN NS ns.example.org."))
    reply.add_ar(*dnslib.RR.fromZone("ns.example.org. 300 IN A 192.0.2.53"))
    reply.add_ar(dnslib.EDNS0(udp_len=1232))
    return bytes(reply.pack())


UPSTREAM = _upstream_reply()


@settings(max_examples=800, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.booleans())
def test_mutated_upstream_replies_then_cache_hits(data: st.DataObject, tcp: bool) -> None:
    reply = bytearray(UPSTREAM)
    question_end = len(query("example.org"))  # keep the question: other ones are refused
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(question_end, len(reply) - 1))
        reply[pos] = data.draw(st.integers(0, 255))
    responder = sample_responder()
    for client in (query("example.org", edns=1232), query("Example.org"), query("example.org")):
        out = responder.respond(client, Asker(A), tcp=tcp)
        if isinstance(out, Forward):
            out = responder.complete(out, bytes(reply))
        assert isinstance(out, bytes)
        assert out[:2] == client[:2]
