"""A snapshot's lookups (containers by name, addresses in use and asked for by network, live
veths) are carried from one snapshot to the next, changed only where containers changed: they
must always say what a walk over every container says, and the snapshot they came from keeps
its own."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hatoba.engine import state as state_module
from hatoba.engine.state import Addresses, State
from hatoba.model.container import Container, ContainerConfig, Endpoint, EndpointConfig

NETWORKS = ("n1", "n2")
IDS = [f"{i:064x}" for i in range(5)]


@st.composite
def containers(draw: st.DrawFn) -> Container:
    cid = draw(st.sampled_from(IDS))
    nets = draw(st.lists(st.sampled_from(NETWORKS), unique=True, max_size=2))
    address = st.builds(lambda n: IPv4Address(f"10.0.0.{n}"), st.integers(2, 6))
    configs = tuple(EndpointConfig(n, ipv4=draw(st.none() | address)) for n in nets)
    running = draw(st.booleans())
    endpoints = tuple(
        Endpoint(n, f"ep{n}", f"eth{i}", draw(st.sampled_from(["va", "vb", "vc"])),
                 draw(address), 24, "02:42:0a:00:00:02", None)
        for i, n in enumerate(nets)
    ) if running else ()  # fmt: skip
    name = draw(st.sampled_from(["web", "db", "cache"]))
    config = ContainerConfig(image="hostfs")
    return Container(cid, name, "2026-01-01T00:00:00Z", config, configs, endpoints=endpoints)


def walked(state: State) -> tuple[object, ...]:
    """The lookups as a walk over every container makes them."""
    every = list(state.containers.values())
    return (
        {n: {ep.ipv4 for c in every for ep in c.endpoints if ep.network_id == n} for n in NETWORKS},
        {n: {cfg.ipv4 for c in every for cfg in c.networks if cfg.network_id == n and cfg.ipv4}
         for n in NETWORKS},
        {ep.host_ifname for c in every for ep in c.endpoints},
        {name: [c.id for c in every if c.name == name] for name in ("web", "db", "cache")},
    )  # fmt: skip


def looked_up(state: State) -> tuple[object, ...]:
    return (
        {n: set(state.addresses_in_use(n)) for n in NETWORKS},
        {n: state.reserved_static(n) for n in NETWORKS},
        set(state.endpoint_host_ifnames),
        {
            name: [c.id] if (c := state.container_named(name)) else []
            for name in ("web", "db", "cache")
        },
    )


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.booleans(), containers()), max_size=12))
def test_lookups_carried_from_snapshot_to_snapshot_match_a_walk(
    steps: list[tuple[bool, Container]],
) -> None:
    state = State()
    looked_up(state)  # made now, then carried along
    for remove, container in steps:
        previous, seen = state, looked_up(state)
        if remove:
            state = state.changed(removed_containers=[container.id])
        else:
            # names and addresses are unique in a real engine: skip what would clash
            others = [c for c in state.containers.values() if c.id != container.id]
            if any(c.name == container.name for c in others):
                continue
            taken = {(ep.network_id, ep.ipv4) for c in others for ep in c.endpoints}
            taken |= {(ep.host_ifname, None) for c in others for ep in c.endpoints}
            mine = {(ep.network_id, ep.ipv4) for ep in container.endpoints}
            mine |= {(ep.host_ifname, None) for ep in container.endpoints}
            static = {(cfg.network_id, cfg.ipv4) for c in others for cfg in c.networks}
            if (
                taken & mine
                or {(c.network_id, c.ipv4) for c in container.networks if c.ipv4} & static
            ):
                continue
            state = state.changed(containers=[container])
        assert looked_up(state) == walked(state)
        # the next snapshot's lookups share the last one's, which stay as they were
        assert looked_up(previous) == seen


def test_held_addresses_are_read_once_however_often_they_are_asked_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After 1000 detaches every allocation asked for the 1000 addresses held until their
    veths are gone, and parsed them all again, twice."""
    held = {f"10.0.{i // 250}.{i % 250 + 2}": f"veth{i}" for i in range(500)}
    book = Addresses(pending={"n": held})
    assert len(book.held("n")) == 500
    parsed: list[str] = []
    monkeypatch.setattr(state_module, "ip_address", lambda text: parsed.append(text))
    for _ in range(3):
        assert len(book.held("n")) == 500
    assert parsed == []


def test_a_snapshot_knows_the_containers_touched_since_an_earlier_one() -> None:
    config = ContainerConfig(image="hostfs")
    made = [Container(cid, f"c{i}", "2026-01-01T00:00:00Z", config, ()) for i, cid in
            enumerate(IDS)]  # fmt: skip
    first = State()
    second = first.changed(containers=made[:2])
    third = second.changed(containers=[made[3]], removed_containers=[made[0].id, "not-there"])
    fourth = third.changed(containers=[made[1]])
    assert fourth.containers_touched_since(fourth) == []
    assert fourth.containers_touched_since(first) == [IDS[0], IDS[1], IDS[3]]
    assert fourth.containers_touched_since(second) == [IDS[3], IDS[0], IDS[1]]
    # not an ancestor: another snapshot, even of the same content
    assert first.containers_touched_since(fourth) is None
    assert fourth.containers_touched_since(State(second.networks, second.containers)) is None
    # only the last HISTORY changes are remembered
    last = fourth
    for _ in range(state_module.HISTORY):
        last = last.changed(containers=[made[4]])
    assert last.containers_touched_since(fourth) == [IDS[4]]
    assert last.changed(containers=[made[4]]).containers_touched_since(fourth) is None
