"""The nftables table that maps 127.0.0.11:53 to the resolver's sockets in a container."""

from __future__ import annotations

from hatoba.dns import nat


def test_table_maps_port_53_both_ways_and_replaces_an_old_one() -> None:
    text = nat.table_commands(40001, 40002)
    lines = [line.strip() for line in text.strip().splitlines()]
    assert lines[:2] == ["add table ip hatoba-dns", "delete table ip hatoba-dns"]
    assert "ip daddr 127.0.0.11 udp dport 53 counter dnat to 127.0.0.11:40001" in lines
    assert "ip daddr 127.0.0.11 tcp dport 53 counter dnat to 127.0.0.11:40002" in lines
    assert "ip saddr 127.0.0.11 udp sport 40001 counter snat to :53" in lines
    assert "ip saddr 127.0.0.11 tcp sport 40002 counter snat to :53" in lines


def _rule(chain: str, protocol: str, port: int) -> dict[str, object]:
    return {
        "rule": {
            "family": "ip",
            "table": "hatoba-dns",
            "chain": chain,
            "expr": [
                {
                    "match": {
                        "op": "==",
                        "left": {"payload": {"protocol": "ip", "field": "daddr"}},
                        "right": "127.0.0.11",
                    }
                },
                {
                    "match": {
                        "op": "==",
                        "left": {"payload": {"protocol": protocol, "field": "dport"}},
                        "right": 53,
                    }
                },
                {"counter": {"packets": 0, "bytes": 0}},
                {"dnat": {"addr": "127.0.0.11", "port": port}},
            ],
        }
    }


def test_ports_are_read_back_from_a_listing() -> None:
    listing = {
        "nftables": [
            {"metainfo": {"version": "1.0.6"}},
            {"table": {"family": "ip", "name": "hatoba-dns"}},
            _rule("dns-dnat", "udp", 40001),
            _rule("dns-dnat", "tcp", 40002),
            _rule("elsewhere", "udp", 1),
        ]
    }
    assert nat.ports_in(listing) == {"udp": 40001, "tcp": 40002}


def test_odd_listings_give_no_ports() -> None:
    assert nat.ports_in({}) == {}
    assert nat.ports_in({"nftables": [1, {"rule": None}, {"rule": {"chain": "dns-dnat"}}]}) == {}
