"""Builders for the resolver's unit tests: dnslib on the test side, raw bytes inside."""

from __future__ import annotations

from ipaddress import IPv4Address

import dnslib

from hatoba.dns import Asker, DnsRecord, NameTable, Responder

NET1, NET2 = "n1" * 32, "n2" * 32
A, B, C = "a" * 64, "b" * 64, "c" * 64


def record(cid: str, net: str, name: str, ip: str, *extra: str) -> DnsRecord:
    network_name = {NET1: "front", NET2: "back"}[net]
    return DnsRecord(cid, net, network_name, (name, *extra, cid[:12]), IPv4Address(ip))


def sample_responder() -> Responder:
    """a: web (alias www, hostname web-host) on front; b: db on back; c: app on both."""
    records = [
        record(A, NET1, "web", "172.18.0.2", "www", "web-host"),
        record(B, NET2, "db", "172.19.0.2"),
        record(C, NET1, "app", "172.18.0.3"),
        record(C, NET2, "app", "172.19.0.3"),
    ]
    gateways = {NET1: IPv4Address("172.18.0.1"), NET2: IPv4Address("172.19.0.1")}
    return Responder(NameTable(records, gateways))


def query(name: str, qtype: str = "A", *, edns: int | None = None, do: bool = False) -> bytes:
    q = dnslib.DNSRecord.question(name, qtype)
    q.header.id = 4242
    if edns is not None:
        q.add_ar(dnslib.EDNS0(udp_len=edns, flags="do" if do else ""))
    return bytes(q.pack())


def ask(responder: Responder, name: str, qtype: str = "A", asker: str = A) -> dnslib.DNSRecord:
    out = responder.respond(query(name, qtype), Asker(asker))
    assert isinstance(out, bytes), out
    return dnslib.DNSRecord.parse(out)


def addresses(reply: dnslib.DNSRecord) -> list[str]:
    return [str(rr.rdata) for rr in reply.rr]
