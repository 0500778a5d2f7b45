"""Whatever arrives on the resolver's sockets, it answers, forwards or drops; it never raises,
a message that is not a readable query gets FORMERR (or NOTIMP) or nothing, and the names it
serves resolve as before."""

from __future__ import annotations

import dnslib
from dns_helpers import A, addresses, query, sample_responder
from hypothesis import example, given
from hypothesis import strategies as st

from fixtures.dns_packets import crafted
from fixtures.fuzzing import budget, fuzz, mutated
from hatoba.dns import Asker, Forward, wire

pytestmark = fuzz

RESPONDER = sample_responder()
SEEDS = [
    query("web"),
    query("WWW.front", "AAAA", edns=1232, do=True),
    query("2.0.18.172.in-addr.arpa", "PTR"),
    query("example.org", "MX", edns=4096),
]


def check(data: bytes, asker: Asker, tcp: bool, *, malformed: bool = False) -> None:
    """`malformed`: the message is a query whose question cannot be read."""
    out = RESPONDER.respond(data, asker, tcp=tcp)
    if out is not None:
        if isinstance(out, Forward):
            out = RESPONDER.complete(out, data)  # an upstream echoing junk back
        assert isinstance(out, bytes)
        assert out[:2] == data[:2]
        assert out[2] & 0x80  # a reply
        assert len(out) <= (65535 if tcp else 4096)
        dnslib.DNSHeader.parse(dnslib.DNSBuffer(out))
    if malformed:
        assert out is not None and wire.rcode_of(out) in (wire.FORMERR, wire.NOTIMP), out
    still_resolves()


def still_resolves() -> None:
    """The resolver answers its names as it did before any junk arrived."""
    for data, reply in ANSWERS.items():
        assert RESPONDER.respond(data, Asker(A), tcp=False) == reply


ANSWERS = {q: sample_responder().respond(q, Asker(A)) for q in SEEDS[:3]}
assert addresses(dnslib.DNSRecord.parse(ANSWERS[SEEDS[0]])) == ["172.18.0.2"]  # type: ignore[arg-type]


@budget(1500)
@given(st.binary(max_size=700), st.booleans(), st.booleans())
@example(b"\x00" * 12, False, True)
@example(b"\x00\x01\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\xc0\x0c\x00\x01\x00\x01", True, False)
def test_random_bytes(data: bytes, forward: bool, tcp: bool) -> None:
    check(data, Asker(A, forward=forward), tcp)


@budget(2000)
@given(mutated(SEEDS), st.booleans(), st.booleans())
def test_mutated_queries(data: bytes, forward: bool, tcp: bool) -> None:
    check(data, Asker(A, forward=forward), tcp)


LOOP_IN_QUESTION = b"\x00\x01\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xc0\x0c\x00\x01\x00\x01"
PING_PONG = b"\x00\x01\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x01a\xc0\x0e\xc0\x0c\x00\x01\x00\x01"
HUGE_COUNTS = b"\x00\x01\x01\x00\x00\x01\xff\xff\xff\xff\xff\xff" + query("web")[12:]
LABEL_PAST_END = b"\x00\x01\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x3fweb"


@budget(400)
@given(crafted(), st.booleans(), st.booleans())
@example((LOOP_IN_QUESTION, True), False, False)
@example((PING_PONG, True), False, True)
@example((HUGE_COUNTS, False), False, False)
@example((LABEL_PAST_END, True), True, True)
def test_crafted_messages(message: tuple[bytes, bool], forward: bool, tcp: bool) -> None:
    data, malformed = message
    check(data, Asker(A, forward=forward), tcp, malformed=malformed)


def test_malformed_queries_get_formerr() -> None:
    for data in (LOOP_IN_QUESTION, PING_PONG, HUGE_COUNTS, LABEL_PAST_END):
        for tcp in (False, True):
            out = RESPONDER.respond(data, Asker(A), tcp=tcp)
            assert isinstance(out, bytes) and wire.rcode_of(out) == wire.FORMERR


def _upstream_reply() -> bytes:
    reply = dnslib.DNSRecord.parse(query("example.org", edns=1232)).reply(aa=0)
    reply.add_answer(*dnslib.RR.fromZone("example.org. 300 IN CNAME www.example.org."))
    reply.add_answer(*dnslib.RR.fromZone("www.example.org. 300 IN A 192.0.2.7"))
    reply.add_auth(*dnslib.RR.fromZone("example.org. 300 IN NS ns.example.org."))
    reply.add_ar(*dnslib.RR.fromZone("ns.example.org. 300 IN A 192.0.2.53"))
    reply.add_ar(dnslib.EDNS0(udp_len=1232))
    return bytes(reply.pack())


UPSTREAM = _upstream_reply()


@budget(800)
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
