"""derive(): the engine's records → FirewallState, reusing what did not change."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from ipaddress import IPv4Network, IPv6Address, IPv6Network
from types import MappingProxyType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nft_model import Tables

from hatoba.drivers.registry import firewall_network
from hatoba.firewall import FirewallState, FwNetwork, delta, plan, render
from hatoba.firewall.derive import derive as derive_with
from hatoba.firewall.derive import derive_changed
from hatoba.model.container import RUNNING, Container, ContainerConfig, Endpoint, RunState
from hatoba.model.network import OPT_ICC, OPT_MASQUERADE, IpamPool, Network
from hatoba.model.ports import PortMapping
from hatoba.model.portspec import with_publish_all


def derive(
    networks: dict[str, Network], containers: list[Container], previous: FirewallState | None = None
) -> FirewallState:
    """What the engine derives: each network's part as its driver says."""
    return derive_with(networks, containers, previous, firewall_of=firewall_network)


def _applied(document: dict[str, list[dict[str, object]]]) -> Tables:
    tables = Tables()
    tables.apply(document)  # type: ignore[arg-type]
    return tables


def bridge(name: str, third: int, *, internal: bool = False, **options: str) -> Network:
    subnet = IPv4Network(f"172.{third}.0.0/16")
    return Network(
        id=name * 8,
        name=name,
        driver="bridge",
        created="",
        ipam=(IpamPool(subnet, subnet.network_address + 1),),
        bridge=f"br-{name}",
        internal=internal,
        options=MappingProxyType(options),
    )


HOST = Network("h" * 64, "host", "host", "", predefined=True)
WEB, SECRET = bridge("web", 18), bridge("secret", 19, internal=True)
NETWORKS = {n.id: n for n in (HOST, WEB, SECRET)}


def container(name: str, *nets: tuple[Network, int], ports: tuple[int, ...] = ()) -> Container:
    eps = []
    for i, (net, host) in enumerate(nets):
        assert net.pool is not None
        ip = net.pool.subnet.network_address + host
        veth = f"veth{name}{i}"
        eps.append(Endpoint(net.id, f"ep-{name}-{i}", f"eth{i}", veth, ip, 16, f"mac-{ip}", None))
    return Container(
        id=f"{name}-id",
        name=name,
        created="",
        config=ContainerConfig(image="hostfs"),
        state=RunState(status=RUNNING),
        endpoints=tuple(eps),
        published=tuple(PortMapping(80, "tcp", None, p) for p in ports),
    )


def test_bridge_networks_with_their_options_and_nothing_else() -> None:
    quiet = bridge("quiet", 20, **{OPT_ICC: "false", OPT_MASQUERADE: "false"})
    assert firewall_network(HOST) is None
    assert firewall_network(quiet) == FwNetwork(
        quiet.id,
        "quiet",
        "br-quiet",
        (IPv4Network("172.20.0.0/16"),),
        icc=False,
        masquerade=False,
    )
    state = derive({**NETWORKS, quiet.id: quiet}, [])
    assert [n.name for n in state.networks] == ["web", "secret", "quiet"]


def test_ports_go_to_the_first_endpoint_with_a_way_out() -> None:
    c = container("c", (SECRET, 2), (WEB, 3), ports=(8000, 8001))
    state = derive(NETWORKS, [c])
    assert [e.host_ifname for e in state.endpoints] == ["vethc0", "vethc1"]
    assert [(p.network_id, str(p.container_ip), p.host_port) for p in state.ports] == [
        (WEB.id, "172.18.0.3", 8000),
        (WEB.id, "172.18.0.3", 8001),
    ]
    # only internal networks: the ports have nowhere to go
    assert derive(NETWORKS, [container("i", (SECRET, 3), ports=(8000,))]).ports == ()
    # stopped (no endpoints): nothing at all
    assert derive(NETWORKS, [dataclasses.replace(c, endpoints=())]).endpoints == ()


def test_unchanged_containers_give_back_the_very_same_values() -> None:
    many = [container(f"c{i}", (WEB, i + 2), ports=(10000 + i,)) for i in range(50)]
    first = derive(NETWORKS, many)
    new = container("new", (WEB, 100), ports=(9000,))
    second = derive(NETWORKS, [*many, new], first)
    assert all(a is b for a, b in zip(first.endpoints, second.endpoints, strict=False))
    assert all(a is b for a, b in zip(first.ports, second.ports, strict=False))
    assert second.ports[-1].host_port == 9000
    # the delta between them is the new container's elements alone
    commands = delta(first, second)["nftables"]
    assert all(list(c) == ["add"] for c in commands)
    assert sorted(c["add"]["element"]["name"] for c in commands) == [
        "dnat_any_addr",
        "dnat_any_port",
        "own_port",
        "port_ips",
        "port_macs",
        "ports",
        "published",
    ]
    # a changed container is made again; the others still reused
    moved = dataclasses.replace(many[3], published=(PortMapping(80, "tcp", None, 7000),))
    third = derive(NETWORKS, [*many[:3], moved, *many[4:], new], second)
    assert third.ports[3].host_port == 7000 and third.ports[4] is second.ports[4]


def test_publish_all_adds_every_exposed_port_without_a_binding() -> None:
    bound = (PortMapping(80, "tcp", None, 8080),)
    exposed = ("53/udp", "80/tcp", "443")
    assert with_publish_all(bound, exposed, False) == bound
    assert with_publish_all(bound, exposed, True) == (
        PortMapping(53, "udp"),
        PortMapping(80, "tcp", None, 8080),
        PortMapping(443, "tcp"),
    )


def test_a_dual_stack_endpoint_owns_its_ipv6_and_link_local_addresses_and_publishes_both() -> None:
    v6 = IPv6Network("fd00:7::/64")
    dual = dataclasses.replace(
        WEB, id="d" * 64, name="dual", bridge="br-dual", ipam=(*WEB.ipam, IpamPool(v6, v6[1]))
    )
    plain = container("c", (dual, 2), ports=(8000,))
    ep = dataclasses.replace(
        plain.endpoints[0], mac="02:42:ac:12:00:02", ipv6=v6[2], prefixlen6=64, gateway6=v6[1]
    )
    c = dataclasses.replace(plain, endpoints=(ep,))
    state = derive({dual.id: dual}, [c])
    assert state.networks[0].subnets == (IPv4Network("172.18.0.0/16"), v6)
    (fw_ep,) = state.endpoints
    assert (fw_ep.ipv6, fw_ep.link_local) == (v6[2], IPv6Address("fe80::42:acff:fe12:2"))
    (port,) = state.ports
    assert (str(port.container_ip), port.container_ip6) == ("172.18.0.2", v6[2])


# --- derive_changed: a change costs what the changed containers cost ----------------------


def _changes() -> st.SearchStrategy[list[tuple[int, str]]]:
    """Steps on containers c0–c5: which one, and what happens to it."""
    what = st.sampled_from(["start", "stop", "republish", "rename", "remove", "second network"])
    return st.lists(st.tuples(st.integers(0, 5), what), min_size=1, max_size=15)


def _after(step: str, i: int, current: Container | None) -> Container | None:
    if step == "remove":
        return None
    if step == "stop":
        return None if current is None else dataclasses.replace(current, endpoints=())
    if current is None or step == "start":
        return container(f"c{i}", (WEB, i + 2), ports=(8000 + i,))
    if step == "republish":
        return dataclasses.replace(current, published=(PortMapping(80, "tcp", None, 9000 + i),))
    if step == "rename":
        return dataclasses.replace(current, name=current.name + "x")
    return container(current.name, (WEB, i + 2), (SECRET, i + 2), ports=(8000 + i,))


@settings(max_examples=150, deadline=None)
@given(_changes())
def test_a_state_made_from_the_changes_alone_is_the_full_derivation(
    steps: list[tuple[int, str]],
) -> None:
    """And each delta, between states made so, ends where a render would, undone too."""
    records: dict[str, Container] = {}
    state = derive(NETWORKS, [])
    tables = _applied(render(state))
    for i, step in steps:
        cid = f"c{i}-id"
        changed = _after(step, i, records.get(cid))
        if changed is None:
            records.pop(cid, None)
        else:
            records[cid] = changed
        new = derive_changed(NETWORKS, {cid: changed}, state)
        assert new is not None
        full = derive(NETWORKS, list(records.values()))
        assert set(new.endpoints) == set(full.endpoints)
        assert set(new.ports) == set(full.ports)
        tables.apply(delta(state, new))  # type: ignore[arg-type]
        assert tables == _applied(render(new))
        tables.apply(delta(new, state))  # type: ignore[arg-type]
        assert tables == _applied(render(state))
        tables.apply(delta(state, new))  # type: ignore[arg-type]
        state = new


def test_a_delta_between_derived_changes_compares_no_unchanged_item(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    many = [container(f"c{i}", (WEB, i + 2), ports=(10000 + i,)) for i in range(50)]
    first = derive(NETWORKS, many)
    moved = dataclasses.replace(many[7], published=(PortMapping(80, "tcp", None, 7000),))
    second = derive_changed(NETWORKS, {moved.id: moved}, first)
    assert second is not None and len(second.ports) == 50
    compared: list[int] = []
    real_diff = plan._diff

    def counting(old: Sequence[object], new: Sequence[object]) -> object:
        compared.append(len(new))
        return real_diff(old, new)

    monkeypatch.setattr(plan, "_diff", counting)
    commands = delta(first, second)["nftables"]
    back = delta(second, first)["nftables"]  # from the same record
    assert compared == [2, 2]  # the networks alone (host has no part in the tables)
    monkeypatch.undo()
    # what comparing every item finds
    plain = FirewallState(second.networks, second.endpoints, second.ports)
    assert commands == delta(first, plain)["nftables"]
    assert back == delta(plain, first)["nftables"]


def test_other_networks_than_the_state_was_made_from_need_the_full_derivation() -> None:
    state = derive(NETWORKS, [container("a", (WEB, 2))])
    assert derive_changed({WEB.id: WEB}, {}, state) is None
    renamed = dataclasses.replace(WEB, name="web2")
    assert derive_changed({**NETWORKS, WEB.id: renamed}, {}, state) is None
