"""The trace chains' transactions: one rule per flow scoped to it, or the chains gone."""

from __future__ import annotations

from hatoba.firewall import tracing
from hatoba.model.flows import Flow


def test_one_rule_per_flow_in_each_trace_chain() -> None:
    flows = [
        Flow("tcp", "172.18.0.2", "172.19.0.2", 40000, 80),
        Flow("icmp", None, "10.0.0.1", 7, 7),
    ]
    cmds = tracing.document(flows)["nftables"]
    rules = [c["add"]["rule"] for c in cmds if "rule" in c.get("add", {})]
    assert len(rules) == 2 * len(tracing.TRACE_CHAINS)
    tcp_rule = rules[0]["expr"]
    assert {"mangle": {"key": {"meta": {"key": "nftrace"}}, "value": 1}} in tcp_rule
    matched = {
        (e["match"]["left"].get("payload", e["match"]["left"].get("meta")).get("field")
         or e["match"]["left"]["meta"]["key"], e["match"]["right"])
        for e in tcp_rule if "match" in e
    }  # fmt: skip
    assert matched == {
        ("daddr", "172.19.0.2"), ("saddr", "172.18.0.2"), ("l4proto", "tcp"),
        ("sport", 40000), ("dport", 80),
    }  # fmt: skip
    icmp_rule = rules[1]["expr"]
    assert not any("saddr" in str(e) for e in icmp_rule)  # any source
    assert any("echo-request" in str(e) for e in icmp_rule)
    assert tracing.shape(flows) == {
        "inet chain trace-prerouting": 2,
        "inet chain trace-output": 2,
        "bridge chain trace-prerouting": 2,
    }


def test_no_flows_delete_the_chains_whether_they_exist_or_not() -> None:
    cmds = tracing.document([])["nftables"]
    verbs = [next(iter(c)) for c in cmds]
    assert verbs == ["add", "flush", "delete"] * len(tracing.TRACE_CHAINS)
    assert tracing.shape([]) == {}


def test_trace_chains_are_told_from_others() -> None:
    assert tracing.is_trace_chain("bridge", "hatoba", "trace-prerouting")
    assert not tracing.is_trace_chain("inet", "hatoba", "prerouting")
    assert not tracing.is_trace_chain("inet", "other", "trace-prerouting")
