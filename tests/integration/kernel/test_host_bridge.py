"""HostKernel's bridges on the real kernel, in a throwaway namespace: a bridge is configured
by the index its create echoed (no lookup), and a later create of the same name, after the
first bridge was deleted, is configured by the new bridge's index. The host's facts (uplink
MTU, prefixes in use) are dumped again only after a change that is not of hatoba's bridges.
A removed network's bridge is kept (one at a time) and made into the next network's."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from ipaddress import IPv4Interface, IPv4Network, IPv6Interface
from typing import Any

import pytest

from hatoba.errors import KernelError
from hatoba.kernel.host import SEGMENT_END_INDEX, SPARE_BRIDGE, HostKernel
from hatoba.kernel.netns import call_in_netns
from hatoba.testing import Sandbox

pytestmark = pytest.mark.root

GATEWAY = IPv4Interface("10.30.0.1/24")


@pytest.fixture
def kernel() -> Iterator[tuple[Sandbox, HostKernel]]:
    with Sandbox() as sb:
        host = call_in_netns(str(sb.host), lambda: HostKernel(str(sb.dir / "segments")))
        try:
            yield sb, host
        finally:
            host.close()


def _no_lookups(host: HostKernel, monkeypatch: pytest.MonkeyPatch) -> None:
    def refused(name: str = "", index: int = 0) -> None:
        raise KernelError(f"looked up {name or index}")

    monkeypatch.setattr(host._host, "link", refused)


def test_a_bridge_is_configured_by_the_index_its_create_echoed(
    kernel: tuple[Sandbox, HostKernel], monkeypatch: pytest.MonkeyPatch
) -> None:
    sb, host = kernel
    _no_lookups(host, monkeypatch)
    for _ in range(2):  # the second bridge of that name has an index of its own
        host.create_bridge("br-echo", "02:42:0a:1e:00:01", 1500, (GATEWAY,), "net1")
        shown = sb.sh(["ip", "-o", "addr", "show", "dev", "br-echo"]).stdout
        assert "inet 10.30.0.1/24" in shown
        assert "UP" in sb.sh(["ip", "-o", "link", "show", "dev", "br-echo"]).stdout
        host.delete_link("br-echo")


def test_host_facts_are_dumped_again_only_after_a_change_that_is_not_hatobas(
    kernel: tuple[Sandbox, HostKernel], monkeypatch: pytest.MonkeyPatch
) -> None:
    sb, host = kernel
    sb.sh(["ip", "link", "add", "up0", "type", "veth", "peer", "name", "up1"])
    for command in (
        ["ip", "addr", "add", "10.40.0.2/24", "dev", "up0"],
        ["ip", "link", "set", "up1", "up"],
        ["ip", "link", "set", "up0", "up"],
        ["ip", "route", "add", "default", "via", "10.40.0.1"],
    ):
        sb.sh(command)
    first = host.host_facts(ipv6=False)
    assert first.uplink_mtu == 1500
    assert IPv4Network("10.40.0.0/24") in first.taken
    dumps: list[object] = []
    routes = host._host.routes

    def counted(*args: Any) -> Any:
        dumps.append(args)
        return routes(*args)

    monkeypatch.setattr(host._host, "routes", counted)
    # hatoba's own bridge comes and goes: its subnet is the engine's to know, not a fact
    host.create_bridge("br-own", "02:42:0a:1e:00:01", 1500, (GATEWAY,), "net1")
    assert host.host_facts(ipv6=False) == first
    host.delete_link("br-own")
    assert host.host_facts(ipv6=False) == first
    assert dumps == []
    # anyone else's route, and the uplink's MTU, are seen at once
    sb.sh(["ip", "route", "add", "10.50.0.0/16", "via", "10.40.0.1"])
    assert IPv4Network("10.50.0.0/16") in host.host_facts(ipv6=False).taken
    assert len(dumps) == 1
    sb.sh(["ip", "link", "set", "up0", "mtu", "1400"])
    assert host.host_facts(ipv6=False).uplink_mtu == 1400
    sb.sh(["ip", "addr", "add", "10.60.0.1/24", "dev", "up1"])
    assert IPv4Network("10.60.0.0/24") in host.host_facts(ipv6=False).taken


def _link(sb: Sandbox, name: str) -> dict[str, Any]:
    shown = json.loads(sb.sh(["ip", "-j", "-d", "link", "show", "dev", name]).stdout)[0]
    return shown  # type: ignore[no-any-return]


def _addresses(sb: Sandbox, name: str) -> list[str]:
    shown = json.loads(sb.sh(["ip", "-j", "addr", "show", "dev", name]).stdout)[0]
    return sorted(
        f"{a['local']}/{a['prefixlen']}" for a in shown["addr_info"] if a["scope"] == "global"
    )


def test_a_removed_network_s_bridge_is_kept_and_made_into_the_next_one(
    kernel: tuple[Sandbox, HostKernel],
) -> None:
    sb, host = kernel
    v6 = IPv6Interface("fd00:31::1/64")
    other = (IPv4Interface("10.31.0.1/24"),)
    host.create_bridge("br-first", "02:42:0a:1e:00:01", 1500, (GATEWAY, v6), "net1")
    host.create_bridge("br-other", "02:42:0a:1f:00:01", 1500, other, "net0")
    before = _link(sb, "br-first")
    assert host.retire_bridge("br-first", (GATEWAY, v6))
    kept = _link(sb, SPARE_BRIDGE)
    # out of service at once: down, no addresses (no routes), no interface group, no network's
    assert (kept["ifindex"], "UP" in kept["flags"], kept.get("group")) == (
        before["ifindex"],
        False,
        "default",
    )
    assert _addresses(sb, SPARE_BRIDGE) == []
    assert "10.30.0.0/24" not in sb.sh(["ip", "route"]).stdout
    assert not sb.sh(["ip", "link", "show", "dev", "br-first"], check=False).stdout
    # one is kept at a time: the next one is the caller's to delete
    assert not host.retire_bridge("br-other", other)
    host.delete_link("br-other")
    gateway = IPv4Interface("10.32.0.1/24")
    host.create_bridge("br-second", "02:42:0a:20:00:01", 1400, (gateway,), "net2")
    made = _link(sb, "br-second")
    assert (made["ifindex"], made["address"], made["mtu"], "UP" in made["flags"]) == (
        before["ifindex"],
        "02:42:0a:20:00:01",
        1400,
        True,
    )
    assert made["ifalias"] == "hatoba:net2"
    assert _addresses(sb, "br-second") == ["10.32.0.1/24"]
    assert not sb.sh(["ip", "link", "show", "dev", SPARE_BRIDGE], check=False).stdout
    # the next create makes a bridge of its own; a kept one is deleted with the kernel object
    host.create_bridge("br-third", "02:42:0a:21:00:01", 1500, (), "net3")
    assert _link(sb, "br-third")["ifindex"] != before["ifindex"]
    assert host.retire_bridge("br-third", ())
    host.close()
    assert not sb.sh(["ip", "link", "show", "dev", SPARE_BRIDGE], check=False).stdout


def test_a_kept_bridge_deleted_behind_our_back_is_not_made_into_the_next_one(
    kernel: tuple[Sandbox, HostKernel],
) -> None:
    sb, host = kernel
    host.create_bridge("br-first", "02:42:0a:1e:00:01", 1500, (GATEWAY,), "net1")
    assert host.retire_bridge("br-first", (GATEWAY,))
    sb.sh(["ip", "link", "del", SPARE_BRIDGE])
    host.create_bridge("br-second", "02:42:0a:20:00:01", 1500, (GATEWAY,), "net2")
    assert _addresses(sb, "br-second") == ["10.30.0.1/24"]


def test_a_segment_s_inner_end_never_shares_its_index_with_the_host_s_link(
    kernel: tuple[Sandbox, HostKernel],
) -> None:
    """Left to the kernel, the inner end would be 3 (after the segment's lo and bridge), as
    the host's link is on a host with two links before it: a veth with its peer's index gets
    its carrier up to a second late."""
    sb, host = kernel
    while int(sb.sh(["ip", "-o", "link"]).stdout.splitlines()[-1].split(":")[0]) < 2:
        sb.sh(["ip", "link", "add", "pad0", "type", "bridge"])  # the host's next index: 3
    host.create_segment("ov-seg", "ov-segment000", "02:42:0a:1f:00:01", 1450, (GATEWAY,), "n")
    try:
        line = sb.sh(["ip", "-o", "link", "show", "dev", "ov-segment000"]).stdout
        index, peer = re.match(r"(\d+): ov-segment000@if(\d+):", line).groups()  # type: ignore[union-attr]
        assert index == "3" and int(peer) == SEGMENT_END_INDEX
    finally:
        host.remove_segment("ov-seg")
