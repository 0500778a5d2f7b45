"""The host-firewall planner: which chains drop our traffic, what iptables-restore is given."""

from __future__ import annotations

from ipaddress import IPv4Network

from hatoba.firewall import hostfw
from hatoba.firewall.hostfw import HostChain, IptablesFacts
from hatoba.firewall.model import FwNetwork


def chain(
    family: str, table: str, name: str, policy: str = "accept", hook: str = "forward"
) -> dict[str, object]:
    return {
        "chain": {
            "family": family,
            "table": table,
            "name": name,
            "handle": 1,
            "type": "filter",
            "hook": hook,
            "prio": 0,
            "policy": policy,
        }
    }


def net(bridge: str, internal: bool = False) -> FwNetwork:
    return FwNetwork(bridge, bridge, bridge, (IPv4Network("172.18.0.0/16"),), internal)


LISTING = {
    "nftables": [
        {"metainfo": {"version": "1.0.6"}},
        chain("ip", "filter", "FORWARD", "drop"),
        chain("inet", "filter", "forward", "drop"),
        chain("bridge", "filter", "forward", "drop"),
        chain("ip6", "filter", "FORWARD", "drop"),  # IPv6 only: none of ours
        chain("inet", "filter", "input", "drop", hook="input"),  # not forwarding
        chain("inet", "hatoba", "forward", "accept"),
        chain("inet", "lenient", "forward", "accept"),
        {"chain": {"family": "ip", "table": "filter", "name": "HATOBA-FORWARD", "handle": 9}},
    ]
}


def test_the_chains_that_drop_forwarded_ipv4_are_other_programs_forward_drops() -> None:
    chains = hostfw.parse_chains(LISTING)
    assert len(chains) == 7  # base chains only
    assert hostfw.iptables_forward(chains)
    dropping = hostfw.dropping_chains(chains, iptables_handled=True)
    assert [c.label for c in dropping] == [
        "table inet filter, chain forward",
        "table bridge filter, chain forward",
    ]
    unhandled = hostfw.dropping_chains(chains, iptables_handled=False)
    assert unhandled[0].label == "table ip filter, chain FORWARD"


def test_ip6tables_forward_counts_once_a_network_has_ipv6() -> None:
    chains = hostfw.parse_chains(LISTING)
    assert hostfw.iptables_forward(chains, "ip6")
    # handled like iptables' (our chain and jump, by ip6tables-restore) ...
    assert "table ip6 filter, chain FORWARD" not in [
        c.label for c in hostfw.dropping_chains(chains, iptables_handled=True, ipv6=True)
    ]
    # ... and named when it is not, but only if some network has IPv6
    unhandled = hostfw.dropping_chains(chains, iptables_handled=False, ipv6=True)
    assert "table ip6 filter, chain FORWARD" in [c.label for c in unhandled]
    assert "table ip6 filter, chain FORWARD" not in [
        c.label for c in hostfw.dropping_chains(chains, iptables_handled=False)
    ]


def test_no_iptables_forward_chain_without_ip_filter_forward() -> None:
    chains = hostfw.parse_chains({"nftables": [chain("inet", "filter", "forward")]})
    assert not hostfw.iptables_forward(chains)


def test_the_warning_names_table_chain_and_what_to_do() -> None:
    text = hostfw.dropping_chain_warning(HostChain("inet", "filter", "forward", "forward", "drop"))
    assert "table inet filter, chain forward" in text and "policy drop" in text
    assert 'iifname "hatoba0" accept' in text


def rule(chain_name: str, *exprs: object) -> dict[str, object]:
    return {"rule": {"family": "ip", "table": "filter", "chain": chain_name, "expr": list(exprs)}}


JUMP = {"jump": {"target": hostfw.OUR_CHAIN}}
COUNTER = {"counter": {"packets": 0, "bytes": 0}}


def test_facts_count_our_jumps_and_rules() -> None:
    forward = {"nftables": [rule("FORWARD", COUNTER, JUMP), rule("FORWARD", {"drop": None})]}
    ours = {"nftables": [rule(hostfw.OUR_CHAIN, {"accept": None})] * 3}
    facts = hostfw.iptables_facts(forward, ours)
    assert facts == IptablesFacts(jumps=1, jump_first=True, rules=3)
    assert not hostfw.iptables_intact(facts)  # three rules: one is missing
    assert hostfw.iptables_intact(IptablesFacts(jumps=1, jump_first=True, rules=4))
    later = {"nftables": [rule("FORWARD", {"drop": None}), rule("FORWARD", JUMP)]}
    assert hostfw.iptables_facts(later, None) == IptablesFacts(1, False, None)


def test_rules_accept_what_leaves_a_bridge_and_only_replies_and_published_flows_to_it() -> None:
    """By the bridges' interface groups, so that no network create or rm changes them."""
    assert hostfw.bridge_group(internal=False) == hostfw.OPEN_GROUP == 0x68620001
    assert hostfw.bridge_group(internal=True) == hostfw.INTERNAL_GROUP == 0x68620002
    assert hostfw.iptables_rules() == [
        "-A HATOBA-FORWARD -m devgroup --src-group 0x68620001 -j ACCEPT",
        "-A HATOBA-FORWARD -m devgroup --dst-group 0x68620001 -m conntrack --ctstate "
        "RELATED,ESTABLISHED -j ACCEPT",
        "-A HATOBA-FORWARD -m devgroup --dst-group 0x68620001 -m conntrack --ctstate DNAT "
        "-j ACCEPT",
        "-A HATOBA-FORWARD -m devgroup --src-group 0x68620002 --dst-group 0x68620002 -j ACCEPT",
    ]


def test_sync_puts_one_jump_first_and_rewrites_our_chain() -> None:
    fresh = hostfw.iptables_sync(IptablesFacts())
    assert fresh.splitlines()[:3] == [
        "*filter",
        ":HATOBA-FORWARD - [0:0]",
        "-I FORWARD 1 -j HATOBA-FORWARD",
    ]
    assert fresh.endswith("COMMIT\n")
    kept = hostfw.iptables_sync(IptablesFacts(1, True, 4))
    assert "FORWARD 1" not in kept and "-D FORWARD" not in kept
    moved = hostfw.iptables_sync(IptablesFacts(2, False, 4)).splitlines()
    assert moved[2:5] == [
        "-D FORWARD -j HATOBA-FORWARD",
        "-D FORWARD -j HATOBA-FORWARD",
        "-I FORWARD 1 -j HATOBA-FORWARD",
    ]


def test_removal_takes_away_jumps_and_chain_or_nothing() -> None:
    assert hostfw.iptables_removal(IptablesFacts()) is None
    assert hostfw.iptables_removal(IptablesFacts(1, True, 2)) == (
        "*filter\n:HATOBA-FORWARD - [0:0]\n-D FORWARD -j HATOBA-FORWARD\n-X HATOBA-FORWARD\n"
        "COMMIT\n"
    )
