"""Names the resolver does not know: forwarding requests, relayed replies and the cache."""

from __future__ import annotations

import dnslib
from dns_helpers import A, addresses, query, sample_responder

from hatoba.dns import Asker, Forward, Responder
from hatoba.dns.cache import AnswerCache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(cache: AnswerCache | None = None) -> tuple[Responder, Clock]:
    clock = Clock()
    responder = Responder(sample_responder().table, cache=cache, clock=clock)
    return responder, clock


def upstream_answer(forward: Forward, *rrs: str, rcode: int = 0, auth: str = "") -> bytes:
    """What an upstream says to the forwarded bytes (dnslib zone lines)."""
    question = dnslib.DNSRecord.parse(forward.query.raw)
    reply = question.reply(aa=0)
    reply.header.id = 999  # the adapter's id towards the upstream; the client must not see it
    reply.header.rcode = rcode
    for line in rrs:
        reply.add_answer(*dnslib.RR.fromZone(line))
    if auth:
        reply.add_auth(*dnslib.RR.fromZone(auth))
    return bytes(reply.pack())


def forward_of(
    responder: Responder, data: bytes, asker: Asker | None = None, **kw: bool
) -> Forward:
    out = responder.respond(data, asker or Asker(A), **kw)
    assert isinstance(out, Forward), out
    return out


def parsed(out: object) -> dnslib.DNSRecord:
    assert isinstance(out, bytes), out
    return dnslib.DNSRecord.parse(out)


def test_unknown_name_is_forwarded_as_asked() -> None:
    responder, _ = make()
    data = query("Example.ORG")
    forward = forward_of(responder, data, tcp=True)
    assert (forward.query.raw, forward.tcp) == (data, True)


def test_upstream_reply_is_relayed_with_the_clients_id() -> None:
    responder, _ = make()
    forward = forward_of(responder, query("example.org"))
    upstream = upstream_answer(forward, "example.org. 300 IN A 192.0.2.7")
    out = responder.complete(forward, upstream)
    assert out == (4242).to_bytes(2, "big") + upstream[2:]


def test_a_second_query_is_answered_from_the_cache_with_ttls_counted_down() -> None:
    responder, clock = make()
    forward = forward_of(responder, query("example.org"))
    responder.complete(forward, upstream_answer(forward, "example.org. 300 IN A 192.0.2.7"))
    clock.now += 100.4
    reply = parsed(responder.respond(query("EXAMPLE.org"), Asker(A)))
    assert addresses(reply) == ["192.0.2.7"]
    assert reply.rr[0].ttl == 200
    assert str(reply.q.qname) == "EXAMPLE.org."
    assert (reply.header.id, reply.header.qr, reply.header.ra, reply.header.rd) == (4242, 1, 1, 1)
    assert reply.ar == []
    clock.now += 200
    assert isinstance(responder.respond(query("example.org"), Asker(A)), Forward)


def test_the_smallest_ttl_of_the_answer_counts() -> None:
    responder, clock = make()
    forward = forward_of(responder, query("www.example.org"))
    responder.complete(
        forward,
        upstream_answer(
            forward,
            "www.example.org. 300 IN CNAME example.org.",
            "example.org. 20 IN A 192.0.2.7",
        ),
    )
    clock.now += 19
    assert isinstance(responder.respond(query("www.example.org"), Asker(A)), bytes)
    clock.now += 1
    assert isinstance(responder.respond(query("www.example.org"), Asker(A)), Forward)


def test_cache_is_per_upstream_set_and_per_dnssec_flag() -> None:
    responder, _ = make()
    forward = forward_of(responder, query("example.org"), Asker(A, upstreams=("x",)))
    responder.complete(forward, upstream_answer(forward, "example.org. 300 IN A 192.0.2.7"))
    assert isinstance(responder.respond(query("example.org"), Asker(A, upstreams=("x",))), bytes)
    assert isinstance(responder.respond(query("example.org"), Asker(A, upstreams=("y",))), Forward)
    do = query("example.org", edns=1232, do=True)
    assert isinstance(responder.respond(do, Asker(A, upstreams=("x",))), Forward)


def test_cache_hit_carries_opt_only_for_edns_clients() -> None:
    responder, _ = make()
    forward = forward_of(responder, query("example.org", edns=1232))
    responder.complete(forward, upstream_answer(forward, "example.org. 300 IN A 192.0.2.7"))
    with_edns = parsed(responder.respond(query("example.org", edns=1232), Asker(A)))
    assert [rr.rtype for rr in with_edns.ar] == [dnslib.QTYPE.OPT]
    plain = parsed(responder.respond(query("example.org"), Asker(A)))
    assert plain.ar == []


def test_negative_answers_live_for_the_soa_minimum_capped() -> None:
    responder, clock = make()
    soa = "example.org. 100 IN SOA ns.example.org. admin.example.org. 1 2 3 4 30"
    forward = forward_of(responder, query("nope.example.org"))
    out = responder.complete(forward, upstream_answer(forward, rcode=3, auth=soa))
    assert parsed(out).header.rcode == dnslib.RCODE.NXDOMAIN
    clock.now += 29
    assert parsed(responder.respond(query("nope.example.org"), Asker(A))).header.rcode == 3
    clock.now += 1
    assert isinstance(responder.respond(query("nope.example.org"), Asker(A)), Forward)


def test_negative_answer_without_soa_is_kept_briefly() -> None:
    responder, clock = make()
    forward = forward_of(responder, query("nope"))
    responder.complete(forward, upstream_answer(forward, rcode=3))
    assert isinstance(responder.respond(query("nope"), Asker(A)), bytes)
    clock.now += 5
    assert isinstance(responder.respond(query("nope"), Asker(A)), Forward)


def test_errors_and_truncated_replies_are_relayed_but_not_cached() -> None:
    responder, _ = make()
    forward = forward_of(responder, query("example.org"))
    servfail = upstream_answer(forward, rcode=2)
    assert parsed(responder.complete(forward, servfail)).header.rcode == 2
    assert isinstance(responder.respond(query("example.org"), Asker(A)), Forward)
    truncated = dnslib.DNSRecord.parse(upstream_answer(forward, "example.org. 300 IN A 192.0.2.7"))
    truncated.header.tc = 1
    responder.complete(forward, bytes(truncated.pack()))
    assert isinstance(responder.respond(query("example.org"), Asker(A)), Forward)


def test_no_answer_from_any_upstream_is_servfail_and_overload_is_refused() -> None:
    responder, _ = make()
    forward = forward_of(responder, query("example.org", edns=1232))
    reply = parsed(responder.complete(forward, None))
    assert (reply.header.rcode, reply.header.id, len(reply.ar)) == (2, 4242, 1)
    assert parsed(responder.refuse(forward)).header.rcode == dnslib.RCODE.REFUSED


def test_big_answers_are_cut_for_small_udp_clients() -> None:
    responder, _ = make()
    lines = [f"big.example.org. 300 IN TXT {'x' * 200}{i}" for i in range(5)]
    forward = forward_of(responder, query("big.example.org", "TXT", edns=4096))
    full = responder.complete(forward, upstream_answer(forward, *lines))
    assert len(parsed(full).rr) == 5
    small = responder.respond(query("big.example.org", "TXT"), Asker(A))
    assert isinstance(small, bytes)
    assert len(small) <= 512
    reply = dnslib.DNSRecord.parse(small)
    assert reply.header.tc == 1
    assert 0 < len(reply.rr) < 5
    tcp = parsed(responder.respond(query("big.example.org", "TXT"), Asker(A), tcp=True))
    assert (tcp.header.tc, len(tcp.rr)) == (0, 5)


def test_an_upstream_reply_bigger_than_the_client_takes_is_cut() -> None:
    responder, _ = make()
    lines = [f"big.example.org. 300 IN TXT {'x' * 200}{i}" for i in range(5)]
    forward = forward_of(responder, query("big.example.org", "TXT"))
    out = responder.complete(forward, upstream_answer(forward, *lines))
    assert len(out) <= 512
    assert parsed(out).header.tc == 1


def test_garbage_or_another_question_from_upstream_is_servfail() -> None:
    responder, _ = make()
    forward = forward_of(responder, query("example.org"))
    other = forward_of(responder, query("example.com"))
    for junk in (b"\x00\x00junk", b"\x00" * 600, upstream_answer(other)):
        assert parsed(responder.complete(forward, junk)).header.rcode == 2


def test_cache_evicts_the_least_recently_used() -> None:
    responder, _ = make(AnswerCache(max_entries=2))
    for name in ("one.org", "two.org", "three.org"):
        forward = forward_of(responder, query(name))
        responder.complete(forward, upstream_answer(forward, f"{name}. 300 IN A 192.0.2.1"))
    assert isinstance(responder.respond(query("one.org"), Asker(A)), Forward)
    assert isinstance(responder.respond(query("three.org"), Asker(A)), bytes)


def test_a_bare_truncated_header_is_relayed_for_the_client_to_retry_over_tcp() -> None:
    responder, _ = make()
    forward = forward_of(responder, query("big.example.org", "TXT"))
    bare = dnslib.DNSRecord(dnslib.DNSHeader(id=999, qr=1, tc=1, ra=1)).pack()
    reply = parsed(responder.complete(forward, bytes(bare)))
    assert (reply.header.id, reply.header.tc, reply.header.rcode) == (4242, 1, 0)
    assert isinstance(responder.respond(query("big.example.org", "TXT"), Asker(A)), Forward)
    bare_but_not_truncated = dnslib.DNSRecord(dnslib.DNSHeader(id=999, qr=1, ra=1)).pack()
    assert parsed(responder.complete(forward, bytes(bare_but_not_truncated))).header.rcode == 2
