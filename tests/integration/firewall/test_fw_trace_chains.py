"""Tracing one flow in our own tables: the trace chains come and go with the traces, survive a
rebuild, do not look like damage to the watcher, and mark only the flow they name."""

from __future__ import annotations

import json
import time

import pytest
from fw_world import event_loop_thread, normalized_tables, on_loop, wait_for, world

from hatoba.firewall import FirewallState
from hatoba.model.flows import Flow

pytestmark = pytest.mark.root


def _trace_rules(listing: list[object]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for obj in listing:
        rule = obj.get("rule") if isinstance(obj, dict) else None
        if rule and rule["chain"].startswith("trace-"):
            key = f"{rule['family']} {rule['chain']}"
            counts[key] = counts.get(key, 0) + 1
    return counts


def test_trace_chains_hold_one_rule_per_flow_and_go_with_the_last() -> None:
    with world() as w:
        w.fw.sync(FirewallState())
        untraced = normalized_tables(w.sb)
        one = w.fw.trace(Flow("tcp", "172.18.0.2", "172.19.0.2", 40000, 80))
        two = w.fw.trace(Flow("icmp", None, "198.51.100.10", 7, 7))
        assert _trace_rules(w.listing_json()) == {
            "inet trace-prerouting": 2,
            "inet trace-output": 2,
            "bridge trace-prerouting": 2,
        }
        assert "meta nftrace set 1" in w.listing()
        w.fw.untrace(one)
        assert set(_trace_rules(w.listing_json()).values()) == {1}
        w.fw.untrace(two)
        w.fw.untrace(two)  # idempotent
        assert normalized_tables(w.sb) == untraced


def test_a_rebuild_keeps_the_running_traces() -> None:
    with world() as w:
        w.fw.sync(FirewallState())
        token = w.fw.trace(Flow("udp", "172.18.0.2", "172.19.0.2", 40000, 53))
        traced = normalized_tables(w.sb)
        w.sb.sh(["nft", "flush", "ruleset"])
        w.fw.sync(FirewallState())
        assert normalized_tables(w.sb) == traced
        w.fw.untrace(token)


def test_the_watcher_takes_traces_for_ours_and_restores_them_after_damage() -> None:
    with world() as w, event_loop_thread() as loop:
        state = FirewallState()
        w.fw.sync(state)
        on_loop(loop, lambda: w.fw.start_watch(loop, lambda: state))
        try:
            token = w.fw.trace(Flow("tcp", None, "203.0.113.1", None, 8000))
            traced = w.listing_json()
            time.sleep(0.3)
            assert w.listing_json() == traced  # our own change: not repaired away
            w.sb.sh(["nft", "flush", "ruleset"])

            def restored() -> bool:
                try:
                    return _trace_rules(w.listing_json()) == _trace_rules(traced)
                except AssertionError:  # the table is not back yet
                    return False

            wait_for(restored, 1.0)
            w.fw.untrace(token)
            time.sleep(0.3)
            assert _trace_rules(w.listing_json()) == {}
            assert json.dumps(w.listing_json()).count("trace-") == 0
        finally:
            on_loop(loop, w.fw.stop_watch)
