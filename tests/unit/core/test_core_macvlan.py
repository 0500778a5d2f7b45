"""macvlan through the engine, on the fake kernel: interfaces made and deleted inside the
container's namespace, DNS between its containers, ports refused, and repair inside the
namespaces (a lost macvlan made again, a leftover deleted, a lost parent reported)."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from pathlib import Path
from types import MappingProxyType

import pytest

from fakes import FakeHost
from hatoba.engine.containers import CreateRequest, EndpointRequest
from hatoba.engine.engine import Engine
from hatoba.engine.resolver import records
from hatoba.errors import InvalidArgument
from hatoba.model.container import ContainerConfig
from hatoba.model.host import HostLink, MacvlanRequest
from hatoba.model.network import IpamRequest, NetworkSpec
from hatoba.model.ports import PortMapping

LAN = IPv4Network("192.0.2.0/24")


class World(FakeHost):
    def __init__(self, tmp_path: Path) -> None:
        super().__init__(tmp_path)
        self.kernel.host_links["lan0"] = HostLink("lan0", "veth", 1500)
        self.engine = self.restart()
        self.engine.create_network(
            NetworkSpec(
                name="lan",
                driver="macvlan",
                ipam=(IpamRequest(LAN, IPv4Address("192.0.2.254")),),
                options=MappingProxyType({"parent": "lan0"}),
            )
        )

    def restart(self) -> Engine:
        self.engine = self.start()
        return self.engine

    def run(self, name: str, net: str = "lan", *extra: str, **cfg: object) -> str:
        config = ContainerConfig(
            image="hostfs",
            cmd=("sleep", "infinity"),
            network_mode=net,
            **cfg,  # type: ignore[arg-type]
        )
        endpoints = tuple(EndpointRequest(n) for n in extra)
        created = self.engine.create_container(
            CreateRequest(config, name=name, endpoints=endpoints)
        )
        return self.engine.start(created.id).id

    def inside(self, cid: str) -> dict[str, MacvlanRequest]:
        return self.kernel.inside.get(self.engine.container(cid).netns, {})


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def test_a_container_gets_a_macvlan_in_its_namespace_and_names_of_its_peers(world: World) -> None:
    a, b = world.run("web"), world.run("db")
    (ep,) = world.engine.container(a).endpoints
    assert (ep.ifname, ep.host_ifname, str(ep.ipv4), ep.mac) == (
        "eth0",
        None,
        "192.0.2.1",
        "02:42:c0:00:02:01",
    )
    request = world.inside(a)["eth0"]
    assert (request.parent, request.mode, request.default_gateways) == (
        "lan0",
        "bridge",
        (IPv4Address("192.0.2.254"),),
    )
    assert world.kernel.attached == {} and world.kernel.links.keys() == {"hatoba0"}
    found, gateways = records(world.engine.state)
    assert sorted((r.names[0], str(r.ipv4)) for r in found) == [
        ("db", "192.0.2.2"),
        ("web", "192.0.2.1"),
    ]
    # host.docker.internal: the host has no address on the segment
    assert gateways == {}
    world.engine.disconnect("lan", b)
    assert world.inside(b) == {} and world.kernel.calls.count("delete_inside") == 1
    world.engine.exited(a)
    assert world.kernel.calls.count("delete_inside") == 2


def test_ports_are_refused_unless_another_network_takes_them(world: World) -> None:
    ports = (PortMapping(80, host_port=8080),)
    before = dict(world.engine.state.containers)
    with pytest.raises(InvalidArgument, match="^cannot publish ports on macvlan network lan:"):
        world.run("web", ports=ports)
    assert dict(world.engine.state.containers) == before
    cid = world.run("both", "lan", "bridge", ports=ports)
    assert world.engine.container(cid).config.ports == ports


def test_a_user_mac_and_mode_reach_the_kernel(world: World) -> None:
    world.engine.create_network(
        NetworkSpec(
            name="quiet",
            driver="macvlan",
            ipam=(IpamRequest(IPv4Network("198.51.100.0/24")),),
            options=MappingProxyType({"parent": "lan0", "macvlan_mode": "private"}),
        )
    )
    cid = world.run("solo", "quiet", mac_address="02:00:00:00:00:01")
    request = world.inside(cid)["eth0"]
    assert (request.mode, request.mac, request.default_gateways) == (
        "private",
        "02:00:00:00:00:01",
        (IPv4Address("198.51.100.1"),),
    )


def test_repair_makes_lost_macvlans_again_and_deletes_leftovers(world: World) -> None:
    a = world.run("web")
    netns = world.engine.container(a).netns
    kept = world.inside(a)["eth0"]
    # lost by hand; and the macvlan of a connect that crashed before its record was written
    del world.kernel.inside[netns]["eth0"]
    world.kernel.inside[netns]["eth1"] = kept
    assert world.engine.repair() == []
    assert world.inside(a) == {"eth0": kept}
    world.restart()
    assert world.inside(a) == {"eth0": kept}


def test_a_lost_parent_is_reported_and_the_endpoint_dropped(world: World) -> None:
    a = world.run("web")
    del world.kernel.inside[world.engine.container(a).netns]["eth0"]
    del world.kernel.host_links["lan0"]
    (damaged,) = world.engine.repair()
    assert damaged.endpoints == ()
    assert damaged.state.error == (
        "eth0 on lan lost and not made again: parent interface lan0 not found"
    )


def test_a_dual_stack_macvlan_network_gives_addresses_and_names_of_both_families(
    world: World,
) -> None:
    world.engine.create_network(
        NetworkSpec(
            name="dual",
            driver="macvlan",
            ipam=(
                IpamRequest(IPv4Network("198.51.100.0/24")),
                IpamRequest(IPv6Network("2001:db8:2::/64"), IPv6Address("2001:db8:2::fe")),
            ),
            options=MappingProxyType({"parent": "lan0"}),
        )
    )
    a, b = world.run("six", "dual"), world.run("peer", "dual")
    request = world.inside(a)["eth0"]
    assert request.ipv6 and [str(i) for i in request.addresses] == [
        "198.51.100.2/24",
        "2001:db8:2::1/64",
    ]
    assert request.default_gateways == (IPv4Address("198.51.100.1"), IPv6Address("2001:db8:2::fe"))
    found, _ = records(world.engine.state)
    assert sorted((r.names[0], str(r.ipv6)) for r in found if r.ipv6) == [
        ("peer", "2001:db8:2::2"),
        ("six", "2001:db8:2::1"),
    ]
    # a stop deletes it inside at once
    world.engine.exited(b)
    assert "eth0" not in world.inside(b)
