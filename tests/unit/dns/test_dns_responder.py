"""Local answers of the embedded resolver: bytes in, bytes out, as Docker answers them."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

import dnslib
import pytest
from dns_helpers import NET1, NET2, A, B, C, addresses, ask, query, record

from hatoba.dns import Asker, DnsRecord, Forward, NameTable, Responder


@pytest.mark.parametrize(
    "name", ["web", "www", "web-host", A[:12], "web.front", "www.front", f"{A[:12]}.front"]
)
def test_a_by_every_name(responder: Responder, name: str) -> None:
    reply = ask(responder, name)
    assert reply.header.rcode == dnslib.RCODE.NOERROR
    assert addresses(reply) == ["172.18.0.2"]


def test_reply_shape_is_dockers(responder: Responder) -> None:
    reply = ask(responder, "web")
    header = reply.header
    assert header.id == 4242
    assert (header.qr, header.rd, header.ra, header.aa, header.tc) == (1, 1, 1, 0, 0)
    assert reply.rr[0].ttl == 600
    assert reply.rr[0].rname == "web."
    assert reply.ar == []  # no OPT when the query had none


def test_rd_is_echoed_not_forced(responder: Responder) -> None:
    q = dnslib.DNSRecord.question("web")
    q.header.rd = 0
    out = responder.respond(bytes(q.pack()), Asker(A))
    assert isinstance(out, bytes)
    assert dnslib.DNSRecord.parse(out).header.rd == 0


def test_names_are_case_insensitive_and_echoed_as_asked(responder: Responder) -> None:
    reply = ask(responder, "WeB.FrOnT")
    assert addresses(reply) == ["172.18.0.2"]
    assert str(reply.q.qname) == "WeB.FrOnT."
    assert str(reply.rr[0].rname) == "WeB.FrOnT."


def test_shared_alias_returns_every_address_in_varying_order() -> None:
    records = [
        record(cid, NET1, f"w{i}", f"172.18.0.{10 + i}", "svc")
        for i, cid in enumerate(["1" * 64, "2" * 64, "3" * 64])
    ]
    responder = Responder(NameTable(records))
    orders = {tuple(addresses(ask(responder, "svc", asker="1" * 64))) for _ in range(200)}
    assert all(sorted(order) == ["172.18.0.10", "172.18.0.11", "172.18.0.12"] for order in orders)
    assert len(orders) > 1


def test_aaaa_and_mx_for_a_local_name_are_empty_noerror(responder: Responder) -> None:
    for qtype in ("AAAA", "MX", "TXT"):
        out = responder.respond(query("web", qtype), Asker(A))
        assert isinstance(out, bytes)
        reply = dnslib.DNSRecord.parse(out)
        assert (reply.header.rcode, reply.rr) == (dnslib.RCODE.NOERROR, [])


def _dual_stack() -> Responder:
    """web on front with an IPv4 and an IPv6 address; db on front with IPv6 only."""
    web = DnsRecord(
        A,
        NET1,
        "front",
        ("web", "www", A[:12]),
        IPv4Address("172.18.0.2"),
        ipv6=IPv6Address("fd00::2"),
    )
    db = DnsRecord(B, NET1, "front", ("db", B[:12]), None, ipv6=IPv6Address("fd00::3"))
    return Responder(NameTable([web, db]))


def test_aaaa_answers_the_ipv6_address_of_a_name_and_its_aliases() -> None:
    responder = _dual_stack()
    for name in ("web", "www", "web.front"):
        assert addresses(ask(responder, name, "AAAA", asker=B)) == ["fd00::2"]
        assert addresses(ask(responder, name, "A", asker=B)) == ["172.18.0.2"]
    assert sorted(addresses(ask(responder, "web", "ANY", asker=B))) == ["172.18.0.2", "fd00::2"]
    # IPv6 only: AAAA, and an empty A that is never forwarded
    assert addresses(ask(responder, "db", "AAAA")) == ["fd00::3"]
    empty = ask(responder, "db", "A")
    assert (empty.header.rcode, empty.rr) == (dnslib.RCODE.NOERROR, [])


def test_ptr_under_ip6_arpa_names_the_container_on_its_network() -> None:
    responder = _dual_stack()
    reverse = IPv6Address("fd00::2").reverse_pointer
    assert reverse.endswith(".ip6.arpa")
    reply = ask(responder, reverse, "PTR", asker=B)
    assert [str(rr.rdata) for rr in reply.rr] == ["web.front."]
    reply = ask(responder, "2.0.18.172.in-addr.arpa", "PTR", asker=B)
    assert [str(rr.rdata) for rr in reply.rr] == ["web.front."]


def test_ptr_names_the_container_on_its_network(responder: Responder) -> None:
    reply = ask(responder, "2.0.18.172.in-addr.arpa", "PTR")
    assert [str(rr.rdata) for rr in reply.rr] == ["web.front."]
    assert reply.rr[0].ttl == 600


def test_ptr_of_an_address_on_another_network_is_forwarded(responder: Responder) -> None:
    out = responder.respond(query("2.0.19.172.in-addr.arpa", "PTR"), Asker(A))
    assert isinstance(out, Forward)


def test_names_on_networks_the_asker_is_not_on_are_forwarded(responder: Responder) -> None:
    assert isinstance(responder.respond(query("db"), Asker(A)), Forward)
    assert isinstance(responder.respond(query("web"), Asker(B)), Forward)
    assert addresses(ask(responder, "db", asker=C)) == ["172.19.0.2"]
    assert addresses(ask(responder, "web", asker=C)) == ["172.18.0.2"]


def test_the_first_network_of_the_asker_answers_a_name_known_on_two(responder: Responder) -> None:
    assert addresses(ask(responder, "app", asker=C)) == ["172.18.0.3"]
    assert addresses(ask(responder, "app.back", asker=C)) == ["172.19.0.3"]
    assert addresses(ask(responder, "app", asker=B)) == ["172.19.0.3"]


def test_a_link_alias_answers_for_the_linking_container_only() -> None:
    """EndpointSettings.Links on a user-defined network: `database` is db for a only, it wins
    over a container really called so, and a link to a name its network lacks answers
    nothing of its own."""
    db = record(B, NET1, "db", "172.18.0.5")
    other = record(C, NET1, "database", "172.18.0.7")
    linker = DnsRecord(
        A,
        NET1,
        "front",
        ("web", A[:12]),
        IPv4Address("172.18.0.2"),
        links=(("database", "db"), ("cache", "redis")),
    )
    twin = record("d" * 64, NET1, "twin", "172.18.0.9")
    responder = Responder(NameTable([linker, db, other, twin]))
    assert addresses(ask(responder, "database", asker=A)) == ["172.18.0.5"]
    assert addresses(ask(responder, "DataBase", asker=A)) == ["172.18.0.5"]
    assert addresses(ask(responder, "database", asker="d" * 64)) == ["172.18.0.7"]
    assert addresses(ask(responder, "db", asker=A)) == ["172.18.0.5"]
    assert isinstance(responder.respond(query("cache"), Asker(A)), Forward)


def test_unknown_container_forwards_everything(responder: Responder) -> None:
    assert isinstance(responder.respond(query("web"), Asker("f" * 64)), Forward)


@pytest.mark.parametrize("name", ["host.docker.internal", "gateway.docker.internal"])
def test_gateway_names_resolve_to_the_askers_gateway(responder: Responder, name: str) -> None:
    assert addresses(ask(responder, name, asker=A)) == ["172.18.0.1"]
    assert addresses(ask(responder, name, asker=B)) == ["172.19.0.1"]


def test_gateway_names_use_the_first_network_that_has_a_gateway() -> None:
    records = [record(C, NET1, "app", "172.18.0.3"), record(C, NET2, "app", "172.19.0.3")]
    responder = Responder(NameTable(records, {NET2: IPv4Address("172.19.0.1")}))
    assert addresses(ask(responder, "host.docker.internal", asker=C)) == ["172.19.0.1"]
    nogw = Responder(NameTable(records))
    assert isinstance(nogw.respond(query("host.docker.internal"), Asker(C)), Forward)


def test_internal_only_container_gets_nxdomain_at_once(responder: Responder) -> None:
    internal = Asker(A, forward=False)
    out = responder.respond(query("example.org"), internal)
    assert isinstance(out, bytes)
    assert dnslib.DNSRecord.parse(out).header.rcode == dnslib.RCODE.NXDOMAIN
    local = responder.respond(query("web"), internal)
    assert isinstance(local, bytes)
    assert addresses(dnslib.DNSRecord.parse(local)) == ["172.18.0.2"]


def test_a_new_table_is_seen_by_the_next_query(responder: Responder) -> None:
    assert isinstance(responder.respond(query("new"), Asker(A)), Forward)
    responder.table = NameTable([record(A, NET1, "new", "172.18.0.9")])
    assert addresses(ask(responder, "new")) == ["172.18.0.9"]
    assert isinstance(responder.respond(query("web"), Asker(A)), Forward)


def test_records_without_valid_dns_names_are_skipped() -> None:
    records = [record(A, NET1, "a..b", "172.18.0.2"), record(B, NET1, "x" * 64, "172.18.0.3")]
    responder = Responder(NameTable(records))
    assert addresses(ask(responder, A[:12], asker=B)) == ["172.18.0.2"]


# --- EDNS, truncation, errors -----------------------------------------------------------------


def _edns(reply: dnslib.DNSRecord) -> list[dnslib.RR]:
    return [rr for rr in reply.ar if rr.rtype == dnslib.QTYPE.OPT]


def test_edns_query_gets_an_opt_record_with_do_echoed(responder: Responder) -> None:
    for do in (False, True):
        out = responder.respond(query("web", edns=1232, do=do), Asker(A))
        assert isinstance(out, bytes)
        reply = dnslib.DNSRecord.parse(out)
        (opt,) = _edns(reply)
        assert bool(opt.ttl & 0x8000) is do
        assert addresses(reply) == ["172.18.0.2"]


def test_edns_version_1_gets_badvers(responder: Responder) -> None:
    q = dnslib.DNSRecord.question("web")
    q.add_ar(dnslib.EDNS0(udp_len=1232, version=1))
    out = responder.respond(bytes(q.pack()), Asker(A))
    assert isinstance(out, bytes)
    reply = dnslib.DNSRecord.parse(out)
    (opt,) = _edns(reply)
    assert (opt.ttl >> 24) << 4 | reply.header.rcode == 16


def _crowd(n: int) -> Responder:
    cids = [f"{i:064x}" for i in range(1, n + 1)]
    return Responder(
        NameTable(
            [record(cid, NET1, f"w{i}", f"172.18.1.{i}", "svc") for i, cid in enumerate(cids, 1)]
        )
    )


def test_udp_answers_are_cut_to_512_with_tc() -> None:
    responder = _crowd(60)
    out = responder.respond(query("svc"), Asker(f"{1:064x}"))
    assert isinstance(out, bytes)
    assert len(out) <= 512
    reply = dnslib.DNSRecord.parse(out)
    assert reply.header.tc == 1
    assert 25 <= len(reply.rr) < 60  # as many whole records as fit


def test_edns_size_raises_the_udp_limit_and_tcp_has_none() -> None:
    responder = _crowd(60)
    asker = Asker(f"{1:064x}")
    big = responder.respond(query("svc", edns=4096), asker)
    assert isinstance(big, bytes)
    reply = dnslib.DNSRecord.parse(big)
    assert (reply.header.tc, len(reply.rr), len(_edns(reply))) == (0, 60, 1)
    tcp = responder.respond(query("svc"), asker, tcp=True)
    assert isinstance(tcp, bytes)
    assert dnslib.DNSRecord.parse(tcp).header.tc == 0
    small = responder.respond(query("svc", edns=100), asker)  # below 512 counts as 512
    assert isinstance(small, bytes)
    assert 400 < len(small) <= 512


def test_truncated_question_gets_formerr(responder: Responder) -> None:
    data = query("web")[:-3]
    out = responder.respond(data, Asker(A))
    assert isinstance(out, bytes)
    reply = dnslib.DNSRecord.parse(out)
    assert (reply.header.id, reply.header.rcode, reply.header.qr) == (4242, 1, 1)


def test_unreadable_header_and_replies_are_dropped(responder: Responder) -> None:
    assert responder.respond(b"\x12\x34\x01", Asker(A)) is None
    reply = bytes(dnslib.DNSRecord.question("web").reply().pack())
    assert responder.respond(reply, Asker(A)) is None


def test_other_opcodes_get_notimp_and_two_questions_formerr(responder: Responder) -> None:
    q = dnslib.DNSRecord.question("web")
    q.header.opcode = 4  # NOTIFY
    out = responder.respond(bytes(q.pack()), Asker(A))
    assert isinstance(out, bytes)
    assert dnslib.DNSRecord.parse(out).header.rcode == dnslib.RCODE.NOTIMP
    two = dnslib.DNSRecord.question("web")
    two.add_question(dnslib.DNSQuestion("www"))
    out = responder.respond(bytes(two.pack()), Asker(A))
    assert isinstance(out, bytes)
    assert dnslib.DNSRecord.parse(out).header.rcode == dnslib.RCODE.FORMERR


def test_unusual_but_valid_queries_take_the_general_parser(responder: Responder) -> None:
    # two additional records: a TXT (its name compressed to the question) and the OPT
    q = dnslib.DNSRecord.question("web")
    q.header.id = 7
    q.add_ar(dnslib.RR("web", dnslib.QTYPE.TXT, rdata=dnslib.TXT("x")))
    q.add_ar(dnslib.EDNS0(udp_len=1232))
    out = responder.respond(bytes(q.pack()), Asker(A))
    assert isinstance(out, bytes)
    reply = dnslib.DNSRecord.parse(out)
    assert (reply.header.id, addresses(reply), len(_edns(reply))) == (7, ["172.18.0.2"], 1)


def test_two_opt_records_are_formerr(responder: Responder) -> None:
    q = dnslib.DNSRecord.question("web")
    q.add_ar(dnslib.EDNS0(udp_len=1232))
    q.add_ar(dnslib.EDNS0(udp_len=1232))
    out = responder.respond(bytes(q.pack()), Asker(A))
    assert isinstance(out, bytes)
    assert dnslib.DNSRecord.parse(out).header.rcode == dnslib.RCODE.FORMERR


def test_trailing_garbage_after_a_simple_query_is_tolerated(responder: Responder) -> None:
    out = responder.respond(query("web") + b"\x00\x00", Asker(A))
    assert isinstance(out, bytes)
    assert addresses(dnslib.DNSRecord.parse(out)) == ["172.18.0.2"]


def test_repeated_questions_keep_their_own_id_and_spelling(responder: Responder) -> None:
    for qid, name in [(1, "web"), (2, "web"), (3, "WEB"), (4, "web")]:
        q = dnslib.DNSRecord.question(name)
        q.header.id = qid
        out = responder.respond(bytes(q.pack()), Asker(A))
        assert isinstance(out, bytes)
        reply = dnslib.DNSRecord.parse(out)
        assert (reply.header.id, str(reply.rr[0].rname)) == (qid, f"{name}.")
