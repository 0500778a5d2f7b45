"""The name table made from the one before (`NameTable.updated`) answers exactly what a table
made from nothing answers, whatever changed in between, and leaves the table it was made
from as it was (queries may still be reading it)."""

from __future__ import annotations

import itertools
from ipaddress import IPv4Address, IPv6Address

from hypothesis import given, settings
from hypothesis import strategies as st

from hatoba.dns import DnsRecord, NameTable, wire
from hatoba.dns.table import GATEWAY_NAMES, by_container

NETWORKS = {"n1" * 32: "front", "n2" * 32: "back"}
NAMES = ("web", "db", "shared", "api", "WEB")
GATEWAYS = {"n1" * 32: IPv4Address("172.18.0.1")}


@st.composite
def record_sets(draw: st.DrawFn) -> list[DnsRecord]:
    records = []
    for i in range(draw(st.integers(0, 6))):
        cid = f"{i:064x}"
        nets = draw(st.lists(st.sampled_from(sorted(NETWORKS)), unique=True, max_size=2))
        for net in nets:
            names = draw(st.lists(st.sampled_from(NAMES), unique=True, min_size=1, max_size=3))
            links = (("lnk", "db"),) if draw(st.booleans()) else ()
            octet = 2 + i + (50 if net.startswith("n2") else 0)
            address = IPv4Address(f"172.18.0.{octet}")
            ipv6 = IPv6Address(f"fd00::{octet:x}") if draw(st.booleans()) else None
            names = (*names, cid[:12])
            records.append(DnsRecord(cid, net, NETWORKS[net], names, address, links, ipv6))
    return records


def answers(table: NameTable, cids: set[str]) -> dict[tuple[str, bytes], object]:
    seen: dict[tuple[str, bytes], object] = {}
    spellings = [*NAMES, "lnk", "nothere", *GATEWAY_NAMES]
    spellings += [f"{n}.{net}" for n in NAMES for net in NETWORKS.values()]
    for cid in sorted(cids):
        view = table.view(cid)
        for name in spellings:
            key = wire.encode_name(name.lower())
            assert key is not None
            found = view.answers(key)
            seen[cid, key] = None if found is None else tuple(sorted(f) for f in found)
        for octet in range(2, 60):
            for address in (IPv4Address(f"172.18.0.{octet}"), IPv6Address(f"fd00::{octet:x}")):
                key = wire.encode_name(address.reverse_pointer)
                assert key is not None
                seen[cid, key] = view.ptr(key)
    return seen


@settings(max_examples=200, deadline=None)
@given(st.lists(record_sets(), min_size=2, max_size=4))
def test_an_updated_table_answers_as_a_new_one(steps: list[list[DnsRecord]]) -> None:
    table = NameTable(steps[0], GATEWAYS)
    cids = {r.container_id for step in steps for r in step} | {"x" * 64}
    for before, records in itertools.pairwise(steps):
        # every container that was there is told: its new records, or none
        changes = {r.container_id: () for r in before} | by_container(records)
        table = table.updated(changes, GATEWAYS)
        assert answers(table, cids) == answers(NameTable(records, GATEWAYS), cids)


def test_an_update_leaves_the_table_it_was_made_from_as_it_was() -> None:
    net = "n1" * 32
    many = [
        DnsRecord(
            f"{i:064x}", net, "front", (f"c{i}",), IPv4Address(f"172.18.{i // 250}.{i % 250 + 2}")
        )
        for i in range(1000)
    ]
    table = NameTable(many, GATEWAYS)
    before = table.view(many[0].container_id)
    newcomer = DnsRecord("f" * 64, net, "front", ("c1000",), IPv4Address("172.18.9.9"))
    after = table.updated({newcomer.container_id: (newcomer,)}, GATEWAYS)
    # the old table is untouched (queries may still be reading it)
    assert before.answers(wire.encode_name("c1000") or b"") is None
    assert after.view(many[0].container_id).answers(wire.encode_name("c1000") or b"") is not None
