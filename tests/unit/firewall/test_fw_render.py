"""render(): the whole tables per case, compared with reviewed golden files (one command a line).

Regenerate after a deliberate change with HATOBA_UPDATE_GOLDEN=1 and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from fw_cases import CASES, O1, O2, OVERLAY

from hatoba.firewall import FirewallState, rebuild, render, teardown
from hatoba.firewall import layout as L
from hatoba.firewall.plan import segment_endpoints, segment_table

GOLDEN = Path(__file__).with_name("golden")


def _lines(document: dict[str, object]) -> str:
    return "".join(json.dumps(cmd, sort_keys=True) + "\n" for cmd in document["nftables"])  # type: ignore[attr-defined]


@pytest.mark.parametrize("case", sorted(CASES))
def test_render_matches_the_golden_file(case: str) -> None:
    path = GOLDEN / f"render_{case}.jsonl"
    text = _lines(render(CASES[case]))
    if os.environ.get("HATOBA_UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text()


def test_render_does_not_depend_on_the_order_of_the_state() -> None:
    state = CASES["ports"]
    shuffled = FirewallState(state.networks[::-1], state.endpoints[::-1], state.ports[::-1])
    assert render(shuffled) == render(state)


def test_every_rule_carries_a_comment_and_per_network_ones_name_the_network() -> None:
    cmds = render(CASES["ports"])["nftables"]
    rules = [c["add"]["rule"] for c in cmds if "rule" in c.get("add", {})]
    assert rules and all(r["comment"] for r in rules)
    per_network = [r for r in rules if r["chain"].startswith("from-")]
    assert {r["comment"].split(":")[0] for r in per_network} == {"web", "quiet"}


def test_elements_name_their_container_or_network() -> None:
    cmds = render(CASES["ports"])["nftables"]
    sets = {
        c["add"]["element"]["name"]: c["add"]["element"]["elem"]
        for c in cmds
        if "element" in c.get("add", {})
    }
    assert [e["elem"]["comment"] for e in sets["bridges"]] == ["web", "quiet"]
    assert sets["dnat_any_port"][0] == [
        {"elem": {"val": {"concat": ["tcp", 8000]}, "comment": "web1"}},
        80,
    ]
    assert sets["dnat_ip_addr"][1] == [
        {"elem": {"val": {"concat": ["172.19.0.1", "sctp", 9000]}, "comment": "q1"}},
        "172.19.0.2",
    ]


def test_rebuild_replaces_whatever_is_there_in_one_document() -> None:
    doc = rebuild(CASES["one_network"])["nftables"]
    assert doc[:4] == teardown()["nftables"]
    assert doc[4:] == render(CASES["one_network"])["nftables"]
    assert teardown()["nftables"] == [
        {"add": {"table": {"family": "inet", "name": "hatoba"}}},
        {"delete": {"table": {"family": "inet", "name": "hatoba"}}},
        {"add": {"table": {"family": "bridge", "name": "hatoba"}}},
        {"delete": {"table": {"family": "bridge", "name": "hatoba"}}},
    ]


def test_each_port_is_published_in_the_families_its_host_address_names() -> None:
    """dual_stack: 8000 on no address (both), 8001 on 0.0.0.0 (IPv4), 8002 on :: (IPv6),
    8003 on one IPv6 address, 8004 on ::1 (nothing: the port reservation proxies it)."""
    cmds = render(CASES["dual_stack"])["nftables"]
    maps = {
        c["add"]["element"]["name"]: c["add"]["element"]["elem"]
        for c in cmds
        if "element" in c.get("add", {})
    }

    def numbers(name: str) -> list[int]:
        return sorted(e[0]["elem"]["val"]["concat"][-1] for e in maps.get(name, []))

    assert numbers("dnat_any_addr") == [8000, 8001]
    assert numbers("dnat_any_addr6") == [8000, 8002]
    assert numbers("dnat_ip_addr6") == [8003] and numbers("dnat_ip_addr") == []
    assert maps["dnat_any_addr6"][0][1] == "fd00:1::2"
    # the internal IPv6 network is not masqueraded, the other one in both families
    assert [e["elem"]["val"]["prefix"]["addr"] for e in maps["masq_subnets6"]] == ["fd00:1::"]


def test_a_segment_gets_a_bridge_table_of_its_own_ports_and_the_host_masquerades_hairpin() -> None:
    state = CASES["overlay"]
    assert segment_endpoints(state) == {OVERLAY.network_id: (O1, O2)}
    cmds = segment_table((O1, O2), OVERLAY.icc)["nftables"]
    # replaced whole, the bridge family alone, with the anti-spoofing chain and both ports
    assert cmds[:2] == [
        {"add": {"table": {"family": "bridge", "name": "hatoba"}}},
        {"delete": {"table": {"family": "bridge", "name": "hatoba"}}},
    ]
    text = json.dumps(cmds)
    assert '"family": "inet"' not in text and L.SPOOFING in text
    assert all(f'"{ep.host_ifname}"' in text and ep.mac.lower() in text for ep in (O1, O2))
    # the host's table: the segment's link and subnet, for hairpin's masquerade
    host = json.dumps(render(state))
    assert '{"concat": ["ov-999999999999", {"prefix": {"addr": "10.0.0.0", "len": 24}}]}' in host
