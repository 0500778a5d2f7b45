"""Reconcile and repair from the kernel (engine/repair.py), on the fake kernel: every owned
link matches a record or goes; lost links come back the same; what cannot is reported."""

from __future__ import annotations

from ipaddress import IPv4Interface, IPv4Network
from pathlib import Path

import pytest

from fakes import FakeImages, FakeKernel, FakeRuntime, MemoryStore
from hatoba.api.docker_json import container_summary
from hatoba.engine.containers import CreateRequest
from hatoba.engine.core import Paths
from hatoba.engine.engine import Engine
from hatoba.engine.state import State
from hatoba.model.container import ContainerConfig
from hatoba.model.host import AttachRequest, OwnedLink
from hatoba.model.network import IpamRequest, NetworkSpec


class World:
    def __init__(self, tmp_path: Path) -> None:
        resolv = tmp_path / "resolv.conf"
        resolv.write_text("nameserver 198.51.100.53\n")
        self.paths = Paths(tmp_path / "root", tmp_path / "run", resolv)
        self.kernel, self.store, self.runtime = FakeKernel(), MemoryStore(), FakeRuntime()
        self.engine = self.restart()
        spec = NetworkSpec(name="n", ipam=(IpamRequest(IPv4Network("10.9.0.0/29")),))
        self.bridge = self.engine.create_network(spec).bridge or ""

    def restart(self) -> Engine:
        """A new service process over the same store and kernel."""
        state = State(networks=dict(self.store.networks), containers=dict(self.store.containers))
        engine = Engine.open(self.paths, self.store, self.kernel, self.runtime, FakeImages(), state)
        engine.bootstrap()
        self.engine = engine
        return engine

    def run(self, name: str) -> str:
        cfg = ContainerConfig(image="hostfs", cmd=("sleep", "infinity"), network_mode="n")
        created = self.engine.create_container(CreateRequest(cfg, name=name))
        return self.engine.start(created.id).id

    def veths(self) -> set[str]:
        return {name for name, link in self.kernel.links.items() if link.kind == "veth"}

    def veth_of(self, cid: str) -> str:
        return self.engine.container(cid).endpoints[0].host_ifname or ""


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def test_a_veth_no_record_owns_goes_and_its_address_is_not_handed_out_twice(world: World):
    a = world.run("c-a")
    # a connect of `a` was killed after its veth existed, before its record was written:
    # the kernel has 10.9.0.3 on a's eth1, and the allocator never saw it
    stray = AttachRequest(
        world.bridge, "vethstray", "eth1", 3, "02:42:0a:09:00:03", 1500,
        IPv4Interface("10.9.0.3/29"), None, a,
    )  # fmt: skip
    world.kernel.attach(world.engine.container(a).netns, stray)
    engine = world.restart()
    assert world.veths() == {world.veth_of(a)}
    b = world.run("c-b")
    assert str(engine.container(b).endpoints[0].ipv4) == "10.9.0.3"  # free again, and only once


def test_a_deleted_veth_is_made_again_the_same(world: World):
    a = world.run("c-a")
    endpoint = world.engine.container(a).endpoints[0]
    first = world.kernel.attached[world.engine.container(a).netns][0]
    world.kernel.delete_link(endpoint.host_ifname or "")  # `ip link del vethXXXX` by hand
    assert world.engine.repair() == []
    again = world.kernel.attached[world.engine.container(a).netns][-1]
    assert again == first  # same names, ifindex, MAC, address and default route
    assert world.engine.container(a).endpoints == (endpoint,)


def test_veths_join_a_recreated_bridge(world: World):
    a, b = world.run("c-a"), world.run("c-b")
    # `ip link del br-…` by hand: the bridge goes, its ports stay, unattached
    world.kernel.links.pop(world.bridge)
    for name in (world.veth_of(a), world.veth_of(b)):
        world.kernel.links[name] = OwnedLink(name, "veth", world.kernel.links[name].owner, "")
    world.engine.repair()
    assert world.kernel.links[world.bridge].kind == "bridge"
    assert {world.kernel.links[world.veth_of(c)].master for c in (a, b)} == {world.bridge}


def test_an_unmounted_namespace_handle_is_mounted_again_at_start(world: World):
    a = world.run("c-a")
    world.kernel.netns.discard(world.engine.container(a).netns)  # `umount` of the handle
    engine = world.restart()
    assert engine.container(a).netns in world.kernel.netns
    assert engine.container(a).state.running and not engine.container(a).state.error


def test_what_cannot_be_repaired_is_dropped_and_reported(world: World):
    a = world.run("c-a")
    endpoint = world.engine.container(a).endpoints[0]
    world.kernel.delete_link(endpoint.host_ifname or "")
    world.kernel.fail_on = "attach"
    world.engine.repair()
    damaged = world.engine.container(a)
    assert damaged.state.running and damaged.endpoints == ()
    assert "eth0 on n lost and not made again" in damaged.state.error
    assert world.store.containers[a].state.error == damaged.state.error
    summary = container_summary(damaged, world.engine.state, str, ())
    assert summary["Status"].endswith("(network damaged)")
