"""The tables themselves: deltas land where a rebuild would, removal, and repair after a flush."""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import replace
from typing import Any

import pytest
from fw_world import World, event_loop_thread, normalized_tables, on_loop, wait_for, world

from hatoba.errors import KernelError
from hatoba.firewall import FirewallState, hostfw
from hatoba.firewall.shape import expected_shape, listed_shape

pytestmark = pytest.mark.root


def _states(w: World) -> list[FirewallState]:
    """A walk through typical operations, built on the world's hand-made links."""
    a, b = w.network("a", "172.18.0.0/16"), w.network("quiet", "172.19.0.0/16", icc=False)
    i = w.network("secret", "172.20.0.0/16", internal=True)
    a1, a2 = w.container("a1", a, 2), w.container("a2", a, 3)
    b1, i1 = w.container("b1", b, 2), w.container("i1", i, 2)
    full = w.state
    ports = (
        w.publish(a1, 8000),
        w.publish(a1, 8001, host_ip="127.0.0.1"),
        w.publish(a2, 5353, container_port=53, proto="udp"),
        *(w.publish(b1, 9000 + n, container_port=80 + n) for n in range(5)),
    )
    empty = FirewallState()
    nets_only = FirewallState(full.networks)
    running = replace(full, ports=ports)
    one_more = replace(running, ports=(*ports, w.publish(a2, 8002)))
    b1_gone = FirewallState(
        full.networks,
        tuple(e for e in full.endpoints if e.container_name != "b1"),
        tuple(p for p in one_more.ports if p.container_name != "b1"),
    )
    i_gone = FirewallState(
        full.networks[:2],
        tuple(e for e in b1_gone.endpoints if e is not i1.endpoint),
        b1_gone.ports,
    )
    return [empty, nets_only, full, running, one_more, b1_gone, i_gone, running, empty]


def test_each_delta_leaves_the_tables_a_rebuild_would_make() -> None:
    with world() as w:
        states = _states(w)
        w.fw.sync(states[0])
        for old, new in itertools.pairwise(states):
            w.fw.apply(old, new)
            after_delta = normalized_tables(w.sb)
            w.fw.sync(new)
            assert after_delta == normalized_tables(w.sb), (old, new)


def test_removing_everything_leaves_the_empty_tables_and_remove_deletes_them() -> None:
    with world() as w:
        states = _states(w)
        w.fw.sync(FirewallState())
        empty = normalized_tables(w.sb)
        w.fw.apply(FirewallState(), states[4])
        assert normalized_tables(w.sb) != empty
        w.fw.apply(states[4], FirewallState())
        assert normalized_tables(w.sb) == empty  # the definition of "nothing left"
        w.fw.remove()
        assert w.listing() == ""
        w.fw.remove()  # idempotent
        assert w.listing() == ""


def _refused_by_nftables(state: FirewallState) -> FirewallState:
    """`state` with a bridge name nftables refuses (longer than IFNAMSIZ): it fails in the
    kernel, not before."""
    third = replace(state.networks[2], bridge="x" * 40)
    return replace(state, networks=(*state.networks[:2], third))


def test_a_failed_apply_changes_nothing() -> None:
    with world() as w:
        states = _states(w)
        w.fw.sync(states[3])
        before = normalized_tables(w.sb)
        bad = _refused_by_nftables(states[3])
        with pytest.raises(KernelError):
            w.fw.apply(states[3], bad)
        assert normalized_tables(w.sb) == before


def test_work_done_while_a_transaction_runs_that_fails_undoes_the_transaction() -> None:
    with world() as w:
        states = _states(w)
        w.fw.sync(states[3])
        before = normalized_tables(w.sb)
        done: list[str] = []

        def failing_work() -> None:
            done.append("work")
            raise KernelError("the bridge could not be made")

        with pytest.raises(KernelError, match="bridge could not be made"):
            w.fw.apply(states[3], states[4], meanwhile=failing_work)
        assert done == ["work"]
        assert normalized_tables(w.sb) == before
        # the firewall knows where the tables are: the same change goes through now
        w.fw.apply(states[3], states[4], meanwhile=lambda: done.append("again"))
        assert done == ["work", "again"]
        after = normalized_tables(w.sb)
        w.fw.sync(states[4])
        assert after == normalized_tables(w.sb)


def test_a_failed_transaction_leaves_the_work_done_meanwhile_to_the_caller() -> None:
    with world() as w:
        states = _states(w)
        w.fw.sync(states[3])
        before = normalized_tables(w.sb)
        bad = _refused_by_nftables(states[3])
        done: list[str] = []
        with pytest.raises(KernelError):
            w.fw.apply(states[3], bad, meanwhile=lambda: done.append("work"))
        assert done == ["work"]
        assert normalized_tables(w.sb) == before


def test_a_bridge_made_ready_has_its_settings_in_one_netlink_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Group, conntrack of bridged frames and route_localnet, without a sysctl write (opening
    /proc/sys costs more the more namespaces there are)."""
    with world() as w:

        def refused(key: str, value: str) -> None:
            raise AssertionError(f"sysctl {key} written")

        monkeypatch.setattr(w.fw._home, "write_sysctl", refused)
        for internal in (False, True):
            bridge = w.network(f"n{internal}", f"172.2{internal:d}.0.0/16", internal=internal)
            shown = w.sb.sh(["ip", "-d", "link", "show", "dev", bridge.bridge]).stdout
            assert f"group {hostfw.bridge_group(internal)} " in shown
            assert "nf_call_iptables 1" in shown
            key = f"net.ipv4.conf.{bridge.bridge}.route_localnet"
            assert w.sb.sh(["sysctl", "-n", key]).stdout.strip() == "1"


def test_apply_rebuilds_when_the_tables_were_lost() -> None:
    with world() as w:
        states = _states(w)
        w.fw.sync(states[3])
        w.sb.sh(["nft", "flush", "ruleset"])
        w.fw.apply(states[3], states[4])
        after = normalized_tables(w.sb)
        w.fw.sync(states[4])
        assert after == normalized_tables(w.sb)


def test_the_shape_check_tells_intact_tables_from_damaged_ones() -> None:
    # used by the watcher when notifications were lost: compare counts, not every element
    with world() as w:
        state = _states(w)[4]
        w.fw.sync(state)

        def listed() -> dict[str, int]:
            return listed_shape(json.loads(w.sb.sh(["nft", "-j", "list", "ruleset"]).stdout))

        assert listed() == expected_shape(state)
        w.sb.sh(["nft", "flush map inet hatoba dnat_ip_port"])
        assert listed() != expected_shape(state)


@pytest.mark.parametrize(
    "damage",
    [
        "flush ruleset",
        "delete table inet hatoba",
        "delete table bridge hatoba",
        "flush table inet hatoba",
        "flush chain inet hatoba raw-prerouting",
        "flush map inet hatoba dnat_any_addr",
        # additions break isolation as surely as deletions: our chains' exact content returns
        "insert rule inet hatoba forward accept",
        "add rule bridge hatoba forward accept",
        "add element inet hatoba masq_subnets { 192.0.2.0/24 }",
    ],
)
def test_the_watcher_restores_the_tables_within_a_second(damage: str) -> None:
    with world() as w, event_loop_thread() as loop:
        state = _states(w)[4]
        w.fw.sync(state)
        intact = normalized_tables(w.sb)
        on_loop(loop, lambda: w.fw.start_watch(loop, lambda: state))
        try:
            # (not checked in between: the watcher may already have repaired it)
            w.sb.sh(["nft", damage])
            took = wait_for(lambda: normalized_tables(w.sb) == intact, timeout=1.0)
            assert took < 1.0
        finally:
            on_loop(loop, w.fw.stop_watch)


def test_the_watcher_ignores_our_own_changes_and_respects_remove() -> None:
    with world() as w, event_loop_thread() as loop:
        states = _states(w)
        w.fw.sync(states[3])
        on_loop(loop, lambda: w.fw.start_watch(loop, lambda: states[3]))
        try:
            w.fw.apply(states[3], states[5])  # deletes elements and a chain: not damage
            changed = normalized_tables(w.sb)
            time.sleep(0.3)
            assert normalized_tables(w.sb) == changed
            w.fw.remove()
            time.sleep(0.3)
            assert w.listing() == ""
            w.sb.sh(["nft", "add table inet other"])  # someone else's table is none of our business
            time.sleep(0.3)
            tables = json.loads(w.sb.sh(["nft", "-j", "list", "tables"]).stdout)["nftables"][1:]
            assert [t["table"]["name"] for t in tables] == ["other"]
        finally:
            on_loop(loop, w.fw.stop_watch)


def test_when_notifications_overflow_the_watcher_checks_and_repairs_only_if_needed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # a tiny socket buffer: a burst of someone else's changes overflows it (ENOBUFS)
    monkeypatch.setattr("hatoba.kernel.fw_events._RCVBUF", 4096)
    burst = "add table inet other\nadd set inet other s { type inet_service; }\n" + "".join(
        f"add element inet other s {{ {n} }}\n" for n in range(1, 3000)
    )
    with world() as w, event_loop_thread() as loop:
        state = _states(w)[4]
        w.fw.sync(state)
        with_handles = w.listing_json()
        on_loop(loop, lambda: w.fw.start_watch(loop, lambda: state))
        try:
            w.sb.sh(["nft", "-f", "-"], input=burst)
            time.sleep(0.5)
            assert w.listing_json() == with_handles  # checked, intact, left alone
            intact = normalized_tables(w.sb)
            w.sb.sh(
                ["nft", "-f", "-"],
                input=burst.replace("other", "other2") + "flush table inet hatoba\n",
            )
            wait_for(lambda: normalized_tables(w.sb) == intact, timeout=1.0)
        finally:
            on_loop(loop, w.fw.stop_watch)


def test_the_host_s_chains_are_listed_again_only_after_another_program_s_commit() -> None:
    """Bridges that come and go make no listing of every chain while nobody else committed to
    nftables since the last one (the generation id moved on by our own commits alone); after
    another program's commit the next change lists again and sees its dropping chain."""
    with world() as w:
        states = _states(w)
        listings: list[object] = []
        run_json = w.fw._nft.run_json

        def counting(document: dict[str, Any]) -> Any:
            if document["nftables"] == [{"list": {"chains": None}}]:
                listings.append(document)
            return run_json(document)

        w.fw._nft.run_json = counting  # type: ignore[method-assign]
        w.fw.sync(FirewallState())
        w.fw.apply(FirewallState(), states[1])  # networks come
        w.fw.apply(states[1], states[2])  # containers: no bridge changes
        w.fw.apply(states[2], FirewallState())  # networks go
        assert len(listings) == 1 and w.fw.warnings() == []
        w.sb.sh(["nft", "add table inet other; add chain inet other drops "
                 "{ type filter hook forward priority 0; policy drop; }"])  # fmt: skip
        w.fw.apply(FirewallState(), states[1])
        assert len(listings) == 2
        assert [text for text in w.fw.warnings() if "other" in text]


def test_iptables_forward_is_looked_at_again_only_after_another_program_s_commit() -> None:
    """Where iptables has a FORWARD chain, our chain and jump there are checked with the host's
    chains: not again while nobody else committed to nftables (their listings cost ~1 ms
    each); after another program's commit, again, and what it took out is put back."""
    with world() as w:
        w.sb.sh(["iptables", "-P", "FORWARD", "DROP"])
        states = _states(w)
        listed: list[object] = []
        run_json = w.fw._nft.run_json

        def counting(document: dict[str, Any]) -> Any:
            if "chain" in document["nftables"][0].get("list", {}):
                listed.append(document)
            return run_json(document)

        w.fw._nft.run_json = counting  # type: ignore[method-assign]
        w.fw.sync(FirewallState())  # writes our chain, and so commits: looked at next time
        w.fw.apply(FirewallState(), states[1])
        jump = "-A FORWARD -j HATOBA-FORWARD"
        assert listed and jump in w.sb.sh(["iptables", "-S"]).stdout
        listed.clear()
        w.fw.apply(states[1], FirewallState())
        w.fw.apply(FirewallState(), states[1])
        assert listed == []
        w.sb.sh(["iptables", "-F", "FORWARD"])
        w.fw.apply(states[1], FirewallState())
        assert listed
        assert jump in w.sb.sh(["iptables", "-S"]).stdout
