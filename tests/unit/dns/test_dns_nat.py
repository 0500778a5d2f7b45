"""The nftables table that maps 127.0.0.11:53 to the resolver's sockets in a container."""

from __future__ import annotations

import copy
from typing import Any

from hatoba.dns import nat


def test_table_maps_port_53_both_ways() -> None:
    text = nat.table_commands(40001, 40002, replace=False)
    lines = [line.strip() for line in text.strip().splitlines()]
    assert lines[0] == "table ip hatoba-dns {"
    assert "delete" not in text
    assert "ip daddr 127.0.0.11 udp dport 53 counter dnat to 127.0.0.11:40001" in lines
    assert "ip daddr 127.0.0.11 tcp dport 53 counter dnat to 127.0.0.11:40002" in lines
    assert "ip saddr 127.0.0.11 udp sport 40001 counter snat to :53" in lines
    assert "ip saddr 127.0.0.11 tcp sport 40002 counter snat to :53" in lines


def test_replacing_swaps_the_old_table_in_the_same_transaction() -> None:
    lines = nat.table_commands(1, 2, replace=True).strip().splitlines()
    assert lines[:3] == [
        "add table ip hatoba-dns",
        "delete table ip hatoba-dns",
        "table ip hatoba-dns {",
    ]


def _match(protocol: str, field: str, right: object) -> dict[str, Any]:
    return {
        "match": {
            "op": "==",
            "left": {"payload": {"protocol": protocol, "field": field}},
            "right": right,
        }
    }


def _rule(chain: str, direction: str, protocol: str, port: int) -> dict[str, Any]:
    if direction == "d":
        exprs = [
            _match("ip", "daddr", "127.0.0.11"),
            _match(protocol, "dport", 53),
            {"counter": {"packets": 0, "bytes": 0}},
            {"dnat": {"addr": "127.0.0.11", "port": port}},
        ]
    else:
        exprs = [
            _match("ip", "saddr", "127.0.0.11"),
            _match(protocol, "sport", port),
            {"counter": {"packets": 0, "bytes": 0}},
            {"snat": {"port": 53}},
        ]
    return {"rule": {"family": "ip", "table": "hatoba-dns", "chain": chain, "expr": exprs}}


# as libnftables 1.0.6 lists the table made by table_commands(40000, 40001)
LISTING: dict[str, Any] = {
    "nftables": [
        {"metainfo": {"version": "1.0.6", "json_schema_version": 1}},
        {"table": {"family": "ip", "name": "hatoba-dns", "handle": 1}},
        {
            "chain": {
                "family": "ip",
                "table": "hatoba-dns",
                "name": "dns-dnat",
                "handle": 1,
                "type": "nat",
                "hook": "output",
                "prio": -100,
                "policy": "accept",
            }
        },
        {
            "chain": {
                "family": "ip",
                "table": "hatoba-dns",
                "name": "dns-snat",
                "handle": 2,
                "type": "nat",
                "hook": "postrouting",
                "prio": 100,
                "policy": "accept",
            }
        },
        _rule("dns-dnat", "d", "udp", 40000),
        _rule("dns-dnat", "d", "tcp", 40001),
        _rule("dns-snat", "s", "udp", 40000),
        _rule("dns-snat", "s", "tcp", 40001),
    ]
}


def test_a_listed_table_has_the_expected_shape_and_ports() -> None:
    shape = nat.shape_of(LISTING)
    assert shape == nat.expected_shape(40000, 40001)
    assert shape != nat.expected_shape(40000, 40002)
    assert nat.ports_in(shape) == {"udp": 40000, "tcp": 40001}


def test_a_changed_table_does_not_have_the_expected_shape() -> None:
    missing = copy.deepcopy(LISTING)
    del missing["nftables"][-1]
    assert nat.shape_of(missing) != nat.expected_shape(40000, 40001)
    extra = copy.deepcopy(LISTING)
    extra["nftables"].append(_rule("dns-dnat", "d", "udp", 1))
    extra["nftables"][-1]["rule"]["expr"].insert(0, {"meta": {"key": "mark"}})
    assert nat.shape_of(extra) != nat.expected_shape(40000, 40001)
    elsewhere = copy.deepcopy(LISTING)
    elsewhere["nftables"][4]["rule"]["expr"][-1]["dnat"]["addr"] = "10.0.0.1"
    assert nat.ports_in(nat.shape_of(elsewhere)) == {"tcp": 40001}


def test_odd_listings_do_not_break_the_reader() -> None:
    assert nat.shape_of({}) == frozenset()
    odd = {
        "nftables": [
            1,
            {"rule": None},
            {"rule": {"chain": "dns-dnat", "expr": 5}},
            {"rule": {"chain": "dns-dnat", "expr": [1, {"match": None}]}},
        ]
    }
    assert nat.ports_in(nat.shape_of(odd)) == {}
