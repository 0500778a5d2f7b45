"""delta(): only what changed, in an order the kernel accepts, ending where render() would."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest
from fw_cases import CASES, NOMASQ, Q1, Q2, QUIET, R1, S1, SECRET, WEB, WEB1, WEB2, endpoint, port
from hypothesis import given, settings
from hypothesis import strategies as st
from nft_model import NftError, Tables

from hatoba.firewall import FirewallState, FwNetwork, delta, render


def _applied(*documents: dict[str, list[dict[str, object]]]) -> Tables:
    tables = Tables()
    for document in documents:
        tables.apply(document)  # type: ignore[arg-type]
    return tables


def test_adding_one_port_touches_only_map_and_set_elements() -> None:
    old = CASES["ports"]
    new = replace(old, ports=(*old.ports, port(WEB1, 8443, 443)))
    cmds = delta(old, new)["nftables"]
    assert all(list(c) == ["add"] and list(c["add"]) == ["element"] for c in cmds)
    touched = {c["add"]["element"]["name"]: c["add"]["element"]["elem"] for c in cmds}
    assert sorted(touched) == ["dnat_any_addr", "dnat_any_port", "own_port", "published"]
    assert all(len(elements) == 1 for elements in touched.values())


def test_the_cost_of_one_more_port_does_not_grow_with_the_ports_already_published() -> None:
    few = FirewallState((WEB,), (WEB1,), (port(WEB1, 8000),))
    many = FirewallState((WEB,), (WEB1,), tuple(port(WEB1, 10000 + n, 1 + n) for n in range(1000)))
    one_more = port(WEB1, 9000, 9000)
    small = delta(few, replace(few, ports=(*few.ports, one_more)))
    large = delta(many, replace(many, ports=(*many.ports, one_more)))
    assert small == large


def test_an_unchanged_state_needs_no_commands() -> None:
    for state in CASES.values():
        assert delta(state, state) == {"nftables": []}


def test_a_removed_network_loses_its_chain_after_the_elements_that_jump_to_it() -> None:
    old, new = CASES["ports"], FirewallState((WEB,), (WEB1, WEB2), CASES["ports"].ports[:6])
    cmds = delta(old, new)["nftables"]
    verbs = [(verb, kind) for c in cmds for verb, body in c.items() for kind in body]
    assert verbs.index(("delete", "chain")) > max(
        i for i, v in enumerate(verbs) if v == ("delete", "element")
    )
    assert ("flush", "chain") in verbs and ("add", "rule") not in verbs


def test_a_changed_network_gets_its_chain_rewritten() -> None:
    old = FirewallState((WEB,), (WEB1,))
    new = FirewallState((replace(WEB, icc=False),), (WEB1,))
    cmds = delta(old, new)["nftables"]
    rules = [c["add"]["rule"] for c in cmds if "rule" in c.get("add", {})]
    assert {
        "flush": {"chain": {"family": "inet", "table": "hatoba", "name": "from-br-aaaaaaaaaaaa"}}
    } in cmds
    assert rules[0]["comment"] == "web: ICC" and rules[0]["expr"][-1] == {"drop": None}
    assert any(c.get("add", {}).get("element", {}).get("name") == "no_icc_ports" for c in cmds)


def test_a_container_port_published_twice_keeps_shared_elements_until_both_go() -> None:
    twice = FirewallState((WEB,), (WEB1,), (port(WEB1, 8000), port(WEB1, 8001)))
    once = replace(twice, ports=twice.ports[1:])
    cmds = delta(twice, once)["nftables"]
    assert sorted(c["delete"]["element"]["name"] for c in cmds) == [
        "dnat_any_addr",
        "dnat_any_port",
    ]
    assert _applied(render(twice), delta(twice, once)) == _applied(render(once))
    assert _applied(render(once), delta(once, twice)) == _applied(render(twice))
    none = replace(twice, ports=())
    assert _applied(render(twice), delta(twice, none)) == _applied(render(none))
    # another container now owns the address (and the comment follows the first maker)
    other = replace(port(WEB1, 8001), container_id="x", container_name="other")
    moved = replace(twice, ports=(other,))
    assert _applied(render(twice), delta(twice, moved)) == _applied(render(moved))


@pytest.mark.parametrize("old", sorted(CASES))
@pytest.mark.parametrize("new", sorted(CASES))
def test_delta_after_render_equals_render_for_every_pair_of_cases(old: str, new: str) -> None:
    assert _applied(render(CASES[old]), delta(CASES[old], CASES[new])) == _applied(
        render(CASES[new])
    )


def test_the_model_catches_a_misordered_transaction() -> None:
    # the guard the property test relies on: deleting a chain that is still jumped to fails
    tables = _applied(render(FirewallState((WEB,))))
    with pytest.raises(NftError, match="jump target"):
        tables.apply(
            {
                "nftables": [
                    {
                        "flush": {
                            "chain": {
                                "family": "inet",
                                "table": "hatoba",
                                "name": "from-br-aaaaaaaaaaaa",
                            }
                        }
                    },
                    {
                        "delete": {
                            "chain": {
                                "family": "inet",
                                "table": "hatoba",
                                "name": "from-br-aaaaaaaaaaaa",
                            }
                        }
                    },
                ]
            }
        )


# --- property: any walk between states -------------------------------------------------

_NETWORKS = [WEB, QUIET, SECRET, NOMASQ, replace(WEB, icc=False), replace(QUIET, masquerade=False)]
_ENDPOINTS = [WEB1, WEB2, Q1, Q2, S1, R1, endpoint("web3", WEB, 4)]


@st.composite
def states(draw: st.DrawFn) -> FirewallState:
    by_bridge: dict[str, FwNetwork] = {}
    for net in draw(st.lists(st.sampled_from(_NETWORKS), max_size=4)):
        by_bridge.setdefault(net.bridge, net)
    networks = tuple(by_bridge.values())
    ids = {n.network_id for n in networks}
    endpoints = tuple(
        e for e in draw(st.lists(st.sampled_from(_ENDPOINTS), unique=True)) if e.network_id in ids
    )
    public = [
        e
        for e in endpoints
        if not next(n for n in networks if n.network_id == e.network_id).internal
    ]
    ports = []
    used: set[tuple[str, int]] = set()
    for ep in draw(st.lists(st.sampled_from(public), max_size=8)) if public else []:
        proto = draw(st.sampled_from(["tcp", "udp"]))
        host_port = draw(st.integers(8000, 8010))
        if (proto, host_port) in used:
            continue
        used.add((proto, host_port))
        host_ip = draw(st.sampled_from([None, "127.0.0.1"]))
        ports.append(port(ep, host_port, draw(st.integers(1, 2)), proto, host_ip))
    return FirewallState(networks, endpoints, tuple(ports))


@settings(max_examples=200, deadline=None)
@given(st.lists(states(), min_size=2, max_size=5))
def test_any_walk_of_deltas_ends_where_render_would(walk: list[FirewallState]) -> None:
    tables = _applied(render(walk[0]))
    for old, new in itertools.pairwise(walk):
        tables.apply(delta(old, new))  # type: ignore[arg-type]
        assert tables == _applied(render(new))


# --- property: engine-like walks, each state derived from the last ------------------------

_PORT_POOL = [
    port(ep, 8000 + n, 1 + n % 2, proto)
    for n, ep in enumerate([WEB1, WEB2] * 4)
    for proto in ("tcp", "udp")
]


@st.composite
def derived_walks(draw: st.DrawFn) -> list[FirewallState]:
    """Like the engine: the next state keeps the last one's tuples and items where it can, so
    delta's identity shortcuts and its counts carried between states are exercised."""
    state = FirewallState((WEB,), (WEB1, WEB2))
    walk = [state]
    for _ in range(draw(st.integers(1, 12))):
        ports = state.ports
        if ports and draw(st.booleans()):
            cut = draw(st.integers(0, len(ports) - 1))
            size = draw(st.integers(1, len(ports) - cut))
            ports = ports[:cut] + ports[cut + size :]
        else:
            free = [
                p
                for p in _PORT_POOL
                if all((p.protocol, p.host_port) != (q.protocol, q.host_port) for q in ports)
            ]
            if free:
                ports = (
                    *ports,
                    *draw(st.lists(st.sampled_from(free), min_size=1, max_size=3, unique=True)),
                )
        if len({(p.protocol, p.host_port) for p in ports}) != len(ports):
            continue
        state = replace(state, ports=ports)
        walk.append(state)
    return walk


@settings(max_examples=200, deadline=None)
@given(derived_walks())
def test_engine_like_walks_end_where_render_would(walk: list[FirewallState]) -> None:
    """Each step is also undone and made again, as the engine does when an operation fails
    after the tables moved: a state used again after a delta moved on from it."""
    tables = _applied(render(walk[0]))
    for old, new in itertools.pairwise(walk):
        tables.apply(delta(old, new))  # type: ignore[arg-type]
        assert tables == _applied(render(new))
        tables.apply(delta(new, old))  # type: ignore[arg-type]
        assert tables == _applied(render(old))
        tables.apply(delta(old, new))  # type: ignore[arg-type]
        assert tables == _applied(render(new))
