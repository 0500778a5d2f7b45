"""Engine use cases on fake adapters: behaviour, Docker's errors, and all-or-nothing."""

from __future__ import annotations

import dataclasses
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

import pytest

from fakes import FakeImages, FakeKernel, FakeRuntime, MemoryStore
from hatoba.engine import resolver
from hatoba.engine.containers import CreateRequest, EndpointRequest
from hatoba.engine.core import Paths
from hatoba.engine.endpoints import used_addresses
from hatoba.engine.engine import Engine
from hatoba.engine.ports import NoCluster
from hatoba.engine.state import State
from hatoba.errors import (
    Conflict,
    Forbidden,
    HatobaError,
    InvalidArgument,
    KernelError,
    NotFound,
    NotModified,
)
from hatoba.model.cluster import ClusterView
from hatoba.model.container import ContainerConfig
from hatoba.model.network import IpamRequest, NetworkSpec


def run(engine: Engine, name: str, net: str = "default", **kw) -> str:
    cfg = ContainerConfig(image="hostfs", cmd=("sleep", "infinity"), network_mode=net)
    c = engine.create_container(CreateRequest(cfg, name=name, **kw))
    return engine.start(c.id).id


def snapshot(engine: Engine, kernel: FakeKernel, store: MemoryStore):
    return (
        dict(engine.state.networks),
        dict(engine.state.containers),
        dict(kernel.links),
        set(kernel.netns),
        dict(store.networks),
        dict(store.containers),
    )


def test_predefined_networks(world):
    engine, kernel, *_ = world
    names = sorted((n.name, n.driver) for n in engine.state.networks.values())
    assert names == [("bridge", "bridge"), ("host", "host"), ("none", "null")]
    bridge = engine.network("bridge")
    assert bridge.bridge == "hatoba0" and str(bridge.pool.subnet) == "172.17.0.0/16"
    assert "hatoba0" in kernel.links


def test_default_bridge_skips_host_route(tmp_path):
    kernel = FakeKernel(taken=(IPv4Network("172.17.3.0/24"),))
    engine = Engine.open(
        Paths(tmp_path, tmp_path, tmp_path / "r"),
        MemoryStore(),
        kernel,
        FakeRuntime(),
        FakeImages(),
        State(),
    )
    engine.bootstrap()
    assert str(engine.network("bridge").pool.subnet) == "172.18.0.0/16"


def test_network_create_like_docker(world):
    engine, kernel, *_ = world
    n = engine.create_network(NetworkSpec(name="sample"))
    assert n.bridge == f"br-{n.id[:12]}"
    assert str(n.pool.subnet) == "172.18.0.0/16" and str(n.pool.gateway) == "172.18.0.1"
    assert n.bridge in kernel.links
    with pytest.raises(Conflict, match="^network with name sample already exists$"):
        engine.create_network(NetworkSpec(name="sample"))
    with pytest.raises(Forbidden, match='^only one instance of "host" network is allowed$'):
        engine.create_network(NetworkSpec(name="sample2", driver="host"))
    with pytest.raises(Forbidden, match='^only one instance of "null" network is allowed$'):
        engine.create_network(NetworkSpec(name="sample3", driver="null"))


def test_a_network_without_ipv6_is_planned_without_the_hosts_ipv6_routes(world):
    """The host's IPv6 routes and addresses are two netlink dumps of every network create:
    looked at only for a network that may have IPv6 subnets."""
    engine, kernel, *_ = world
    kernel.facts_asked.clear()
    engine.create_network(NetworkSpec(name="v4"))
    engine.create_network(NetworkSpec(name="dual", enable_ipv6=True))
    engine.create_network(NetworkSpec(name="v6", ipam=(IpamRequest(IPv6Network("fd00:9::/64")),)))
    assert kernel.facts_asked == [False, True, True]


def test_network_options(world):
    engine, *_ = world
    n = engine.create_network(
        NetworkSpec(
            name="named",
            options={
                "com.docker.network.bridge.name": "mybr0",
                "com.docker.network.driver.mtu": "1400",
            },
        )
    )
    assert n.bridge == "mybr0" and n.mtu == 1400
    with pytest.raises(InvalidArgument):
        engine.create_network(
            NetworkSpec(name="x", options={"com.docker.network.driver.mtu": "abc"})
        )


def test_sequential_addresses_and_macs(world):
    engine, kernel, *_ = world
    engine.create_network(NetworkSpec(name="sample"))
    s1 = engine.container(run(engine, "s1", "sample"))
    s2 = engine.container(run(engine, "s2", "sample"))
    assert str(s1.endpoints[0].ipv4) == "172.18.0.2" and s1.endpoints[0].mac == "02:42:ac:12:00:02"
    assert str(s2.endpoints[0].ipv4) == "172.18.0.3"
    req = kernel.attached[s1.netns][0]
    assert req.ifname == "eth0" and req.default_gateways == (IPv4Address("172.18.0.1"),)


def test_mac_address_and_domainname_as_asked(world):
    """Config.MacAddress is the MAC of the interface on the network of the network mode (also
    after a disconnect and a connect, as Docker applies it); Domainname is the UTS domain."""
    engine, kernel, _store, runtime = world
    engine.create_network(NetworkSpec(name="front"))
    engine.create_network(NetworkSpec(name="back"))
    cfg = ContainerConfig(
        image="hostfs",
        cmd=("true",),
        network_mode="front",
        mac_address="02:00:00:00:00:01",
        domainname="example.org",
    )
    created = engine.create_container(CreateRequest(cfg, name="m1"))
    engine.disconnect("front", "m1")
    engine.connect("back", "m1")
    engine.connect("front", "m1")
    started = engine.start(created.id)
    macs = {engine.state.networks[e.network_id].name: e.mac for e in started.endpoints}
    assert macs == {"back": "02:42:ac:13:00:02", "front": "02:00:00:00:00:01"}
    assert {r.mac for r in kernel.attached[started.netns]} == set(macs.values())
    assert runtime.launched[-1].domainname == "example.org"


def test_failed_bridge_creation_changes_nothing(world):
    engine, kernel, store, _ = world
    before = snapshot(engine, kernel, store)
    kernel.fail_on = "create_bridge"
    with pytest.raises(KernelError):
        engine.create_network(NetworkSpec(name="sample"))
    assert snapshot(engine, kernel, store) == before


def test_failed_store_commit_removes_the_bridge(world):
    engine, kernel, store, _ = world
    before = snapshot(engine, kernel, store)
    store.fail_next_commit = True
    with pytest.raises(KernelError):
        engine.create_network(NetworkSpec(name="sample"))
    assert snapshot(engine, kernel, store) == before


@pytest.mark.parametrize("fail", ["create_netns", "attach", "launch"])
def test_failed_start_changes_nothing(world, fail):
    engine, kernel, store, runtime = world
    c = engine.create_container(CreateRequest(ContainerConfig("hostfs", cmd=("true",)), name="xx"))
    before = snapshot(engine, kernel, store)
    if fail == "launch":
        runtime.fail_launch = True
    else:
        kernel.fail_on = fail
    with pytest.raises(HatobaError):
        engine.start(c.id)
    assert snapshot(engine, kernel, store) == before
    assert engine.container("xx").state.status == "created"


def test_a_single_create_and_start_hold_the_runtime_s_window_and_a_batch_does_not(world):
    engine, _, _, runtime = world
    one = engine.create_container(CreateRequest(ContainerConfig("hostfs", cmd=("true",))))
    assert runtime.windows_opened == 1
    engine.start(one.id)
    assert runtime.spawned_in_window == [True]
    two = engine.create_containers(
        [CreateRequest(ContainerConfig("hostfs", cmd=("true",))) for _ in range(2)]
    )
    engine.start_many([(c.id, 0) for c in two])
    assert runtime.windows_opened == 2
    assert runtime.spawned_in_window == [True, False, False]


def test_a_start_refused_after_its_namespace_was_begun_leaves_none(world):
    """The namespace is made while the start is planned: a user the container does not
    know, found after that, leaves no namespace behind."""
    engine, kernel, store, _ = world
    config = ContainerConfig("hostfs", cmd=("true",), user="nobody-such")
    c = engine.create_container(CreateRequest(config, name="xx"))
    before = snapshot(engine, kernel, store)
    with pytest.raises(HatobaError, match="unable to find user nobody-such"):
        engine.start(c.id)
    assert "create_netns" in kernel.calls
    assert snapshot(engine, kernel, store) == before


def test_address_held_until_veth_is_gone(world):
    engine, kernel, _, runtime = world
    engine.create_network(NetworkSpec(name="n", ipam=(IpamRequest(IPv4Network("10.9.0.0/29")),)))
    cid = run(engine, "aa", "n")
    ep = engine.container(cid).endpoints[0]
    # the container exits; the kernel has not reaped its veth yet
    runtime.exits[cid] = type("E", (), {"code": 0, "finished_at": "2026-01-01T00:00:00Z"})()
    kernel.links[ep.host_ifname] = kernel.links.get(ep.host_ifname) or None  # still there
    engine.exited(cid)
    assert str(ep.ipv4) in engine.core.addresses.pending[engine.network("n").id]
    assert ep.ipv4 in used_addresses(engine.core, engine.network("n").id)
    kernel.links.pop(ep.host_ifname, None)
    run(engine, "bb", "n")
    assert engine.network("n").id not in engine.core.addresses.pending


def test_errors_like_docker(world):
    engine, *_ = world
    engine.create_network(NetworkSpec(name="sample"))
    run(engine, "dupname")
    with pytest.raises(
        Conflict, match=r'^Conflict. The container name "/dupname" is already in use'
    ):
        run(engine, "dupname")
    with pytest.raises(InvalidArgument, match="^network doesnotexist not found$"):
        run(engine, "xx", "doesnotexist")
    with pytest.raises(InvalidArgument, match="supported on user defined networks only"):
        run(
            engine,
            "yy",
            "bridge",
            endpoints=(EndpointRequest("bridge", ipv4=IPv4Address("172.17.0.50")),),
        )
    with pytest.raises(
        InvalidArgument, match="only when connecting to networks with user configured"
    ):
        run(
            engine,
            "zz",
            "sample",
            endpoints=(EndpointRequest("sample", ipv4=IPv4Address("172.18.0.50")),),
        )
    with pytest.raises(InvalidArgument, match="network-scoped aliases are only supported"):
        run(engine, "ww", "bridge", endpoints=(EndpointRequest("bridge", aliases=("foo",)),))
    assert {c.name for c in engine.state.containers.values()} == {"dupname"}


def test_network_rm_rules(world):
    engine, *_ = world
    n = engine.create_network(NetworkSpec(name="sample"))
    run(engine, "s1", "sample")
    with pytest.raises(Forbidden, match=f"network sample id {n.id} has active endpoints"):
        engine.remove_network("sample")
    for name in ("bridge", "host", "none"):
        with pytest.raises(
            Forbidden, match=f"^{name} is a pre-defined network and cannot be removed$"
        ):
            engine.remove_network(name)
    with pytest.raises(NotFound):
        engine.remove_network("doesnotexist")


def test_network_rm_answers_before_the_kernel_deleted_the_bridge(world):
    """The bridge goes on the reaper; until it is gone its name, subnet and bridge name are
    held: a create asking for one of them waits for the deletion, a pool create goes around
    the subnet, and once it is gone the subnet is free again."""
    engine, kernel, *_ = world
    kernel.slow_reaper = True
    old = engine.create_network(NetworkSpec(name="sample"))
    engine.remove_network("sample")
    assert old.bridge in kernel.links and "settle" not in kernel.calls
    other = engine.create_network(NetworkSpec(name="other"))
    assert str(other.pool.subnet) == "172.19.0.0/16"  # 172.18 is held
    assert old.bridge in kernel.links and "settle" not in kernel.calls
    again = engine.create_network(NetworkSpec(name="sample"))  # the same name: waits
    assert old.bridge not in kernel.links and again.bridge in kernel.links
    assert str(again.pool.subnet) == "172.18.0.0/16"

    engine.remove_network("other")
    subnet = IPv4Network("172.19.0.0/16")
    same = engine.create_network(NetworkSpec(name="third", ipam=(IpamRequest(subnet),)))
    assert other.bridge not in kernel.links and same.pool.subnet == subnet

    named = {"com.docker.network.bridge.name": "mybr0"}
    engine.create_network(NetworkSpec(name="named", options=named))
    engine.remove_network("named")
    engine.create_network(NetworkSpec(name="renamed", options=named))  # the same bridge name
    assert kernel.links["mybr0"].owner == engine.network("renamed").id

    engine.remove_network("third")
    kernel.reap()
    assert not kernel.deleting
    assert str(engine.create_network(NetworkSpec(name="fourth")).pool.subnet) == "172.19.0.0/16"
    assert not engine.core.held_networks


def test_held_networks_are_looked_up_in_the_reapers_account_not_the_kernel(world, monkeypatch):
    """While rms outpace the reaper, a create asked the kernel about every held bridge (a
    netlink round trip each, twice per create: most of a create's time in the service)."""
    engine, kernel, *_ = world
    kernel.slow_reaper = True
    held = set()
    for i in range(5):
        held.add(engine.create_network(NetworkSpec(name=f"n{i}")).bridge)
        engine.remove_network(f"n{i}")
    asked: list[str] = []
    exists = kernel.link_exists
    monkeypatch.setattr(kernel, "link_exists", lambda name: asked.append(name) or exists(name))
    engine.create_network(NetworkSpec(name="new"))
    assert not held & set(asked) and len(engine.core.held_networks) == 5
    kernel.reap()
    engine.create_network(NetworkSpec(name="newer"))
    assert not held & set(asked) and not engine.core.held_networks


def test_a_kept_bridge_holds_nothing_and_is_made_into_the_next_one(world):
    """A removed network's bridge the kernel keeps for the next one is out of service at once:
    its name and subnet are free for the next create, which waits for no deletion."""
    engine, kernel, *_ = world
    kernel.slow_reaper = kernel.keeps_bridges = True
    old = engine.create_network(NetworkSpec(name="sample"))
    engine.remove_network("sample")
    assert "retire_bridge" in kernel.calls and not engine.core.held_networks
    assert old.bridge not in kernel.links and not kernel.deleting
    again = engine.create_network(NetworkSpec(name="sample"))
    assert str(again.pool.subnet) == str(old.pool.subnet)
    assert "remake" in kernel.calls and "settle" not in kernel.calls
    # one is kept at a time: the next removed network's bridge is deleted and held
    other = engine.create_network(NetworkSpec(name="other"))
    engine.remove_network("sample")
    engine.remove_network("other")
    assert kernel.deleting == {other.bridge} and list(engine.core.held_networks) == [other.id]


def test_a_bridge_whose_ports_are_still_being_deleted_is_not_kept(world):
    engine, kernel, *_ = world
    kernel.slow_reaper = kernel.keeps_bridges = True
    network = engine.create_network(NetworkSpec(name="sample"))
    c = engine.create_container(
        CreateRequest(ContainerConfig("hostfs", cmd=("sleep", "1d"), network_mode="sample"))
    )
    engine.start(c.id)
    engine.disconnect("sample", c.id)
    engine.remove_network("sample")
    assert "retire_bridge" not in kernel.calls and network.bridge in kernel.deleting


def test_pools_full_of_held_subnets_wait_for_them(world):
    engine, kernel, *_ = world
    kernel.slow_reaper = True
    made = [engine.create_network(NetworkSpec(name=f"n{i}")) for i in range(30)]
    with pytest.raises(
        Conflict, match="could not find an available, non-overlapping IPv4 address pool"
    ):
        engine.create_network(NetworkSpec(name="full"))
    engine.remove_network("n7")
    assert str(engine.create_network(NetworkSpec(name="full")).pool.subnet) == str(
        made[7].pool.subnet
    )


def test_connect_disconnect(world):
    engine, kernel, *_ = world
    engine.create_network(NetworkSpec(name="netB"))
    cid = run(engine, "a1")
    c = engine.connect("netB", "a1", aliases=("a1alias",))
    ep = c.endpoint_on(engine.network("netB").id)
    assert ep.ifname == "eth1" and not ep.default_route
    with pytest.raises(Forbidden, match="^endpoint with name a1 already exists in network netB$"):
        engine.connect("netB", "a1")
    with pytest.raises(Forbidden, match="connected to host network"):
        engine.connect("host", "a1")
    engine.disconnect("netB", "a1")
    assert "detach" in kernel.calls
    with pytest.raises(Forbidden, match=f"^container {cid} is not connected to network netB$"):
        engine.disconnect("netB", "a1")
    # names are never reused within a sandbox
    c = engine.connect("netB", "a1")
    assert c.endpoint_on(engine.network("netB").id).ifname == "eth2"


def test_host_and_none(world):
    engine, kernel, _, runtime = world
    cid = run(engine, "hh", "host")
    launch = runtime.launched[-1]
    assert launch.netns is None and launch.hostname is None
    assert not any(p.endswith(cid) for p in kernel.netns)
    nid = run(engine, "nn", "none")
    assert runtime.launched[-1].netns == engine.container(nid).netns
    assert kernel.attached.get(engine.container(nid).netns) is None


def test_reconcile_removes_orphans_and_marks_dead(world, tmp_path):
    engine, kernel, _, runtime = world
    cid = run(engine, "s1")
    runtime.alive.clear()  # the shim died while the service was down
    kernel.netns.add(str(tmp_path / "run" / "netns" / "orphan"))
    kernel.links["vethdead"] = type(kernel.links["hatoba0"])("vethdead", "veth", "nobody")
    running = engine.bootstrap()
    assert running == []
    assert engine.container(cid).state.status == "exited"
    assert kernel.netns == set() and "vethdead" not in kernel.links


def test_a_snapshot_stays_whole_while_the_engine_commits(world):
    """Readers on other threads (the API's loop) iterate what they took while commits go on."""
    engine, *_ = world
    run(engine, "first")
    snapshot = engine.state
    seen = []
    for container in snapshot.containers.values():
        seen.append(container.name)
        run(engine, "second")  # a commit in the middle of the iteration
        engine.create_network(NetworkSpec(name="meanwhile"))
    assert seen == ["first"]
    assert snapshot.network_by_name("meanwhile") is None
    assert engine.state.network_by_name("meanwhile") is not None
    assert {c.name for c in engine.state.containers.values()} == {"first", "second"}
    with pytest.raises(TypeError):
        snapshot.networks["x"] = snapshot.network("bridge")  # type: ignore[index]


def reopened(engine: Engine, kernel: FakeKernel, store: MemoryStore, runtime: FakeRuntime):
    """The engine of a new service process over the same store and kernel."""
    state = State(networks=dict(store.networks), containers=dict(store.containers))
    again = Engine.open(engine.core.paths, store, kernel, runtime, FakeImages(), state)
    again.bootstrap()
    return again


def test_a_run_interrupted_before_its_start_leaves_nothing_after_a_restart(world):
    engine, kernel, store, runtime = world
    cfg = ContainerConfig(image="hostfs", cmd=("sleep", "infinity"))
    half = engine.create_container(CreateRequest(cfg, name="half", run_pending=True))
    done = engine.create_container(CreateRequest(cfg, name="done", run_pending=True))
    engine.start(done.id)
    plain = engine.create_container(CreateRequest(cfg, name="plain"))  # docker create: stays
    assert engine.container("half").run_pending and not engine.container("done").run_pending
    # the service is killed here: the client of "half" got an error for its run
    again = reopened(engine, kernel, store, runtime)
    assert {c.name for c in again.state.containers.values()} == {"done", "plain"}
    assert half.id not in store.containers and plain.id in store.containers
    # and the name is free for the retry
    again.create_container(CreateRequest(cfg, name="half", run_pending=True))


def test_rename_like_docker(world):
    engine, *_ = world
    engine.create_network(NetworkSpec(name="front"))
    cid = run(engine, "old", "front")
    run(engine, "taken", "front")
    with pytest.raises(InvalidArgument, match="^Neither old nor new names may be empty$"):
        engine.rename("old", "")
    with pytest.raises(InvalidArgument, match="^Renaming a container with the same name as its"):
        engine.rename("old", "/old")
    with pytest.raises(InvalidArgument, match=r"^Invalid container name \(b@d\)"):
        engine.rename("old", "b@d")
    with pytest.raises(Conflict, match="^Error when allocating new name: Conflict. The container"):
        engine.rename("old", "taken")
    assert engine.rename(cid[:12], "/new").name == "new"
    assert engine.container("new").id == cid
    with pytest.raises(NotFound):
        engine.container("old")
    # the embedded DNS answers the new name at once, and no longer the old one
    names = {r.names[0] for r in resolver.records(engine.state)[0]}
    assert names == {"new", "taken"}


def test_dual_stack_endpoints_get_one_address_of_each_family(world):
    engine, kernel, *_ = world
    subnets = (IpamRequest(IPv6Network("fd00:5::/64")), IpamRequest(IPv4Network("10.5.0.0/24")))
    engine.create_network(NetworkSpec(name="dual", ipam=subnets))
    first = engine.container(run(engine, "a1", "dual"))
    (ep,) = first.endpoints
    assert (str(ep.ipv4), str(ep.ipv6), str(ep.gateway6)) == ("10.5.0.2", "fd00:5::2", "fd00:5::1")
    req = kernel.attached[first.netns][0]
    assert [str(a) for a in req.addresses] == ["10.5.0.2/24", "fd00:5::2/64"]
    assert [str(g) for g in req.default_gateways] == ["10.5.0.1", "fd00:5::1"]
    bridge = engine.network("dual").bridge
    assert [str(g) for g in kernel.gateways[bridge]] == ["10.5.0.1/24", "fd00:5::1/64"]
    # --ip6 is held for its container even while it is stopped, as --ip is
    cfg = ContainerConfig(image="hostfs", cmd=("true",), network_mode="dual")
    wanted = EndpointRequest("dual", ipv6=IPv6Address("fd00:5::9"))
    engine.create_container(CreateRequest(cfg, name="fixed", endpoints=(wanted,)))
    with pytest.raises(Conflict, match="^Address already in use$"):
        engine.create_container(CreateRequest(cfg, name="twin", endpoints=(wanted,)))
    # the network's IPv6 subnet was chosen by hatoba
    engine.create_network(NetworkSpec(name="auto", enable_ipv6=True))
    auto = dataclasses.replace(cfg, network_mode="auto")
    other = EndpointRequest("auto", ipv6=IPv6Address("fd00::8"))
    with pytest.raises(InvalidArgument, match="user specified IP address is supported only"):
        engine.create_container(CreateRequest(auto, endpoints=(other,)))


def test_both_addresses_are_held_until_the_veth_is_gone(world):
    engine, kernel, _, runtime = world
    engine.create_network(NetworkSpec(name="only6", enable_ipv6=True, enable_ipv4=False))
    engine.create_network(NetworkSpec(name="dual", enable_ipv6=True))
    cid = run(engine, "aa", "dual")
    (ep,) = engine.container(cid).endpoints
    runtime.exits[cid] = type("E", (), {"code": 0, "finished_at": "2026-01-01T00:00:00Z"})()
    engine.exited(cid)
    held = used_addresses(engine.core, engine.network("dual").id)
    assert ep.ipv4 in held and ep.ipv6 in held
    kernel.links.pop(ep.host_ifname, None)
    run(engine, "bb", "dual")
    assert engine.network("dual").id not in engine.core.addresses.pending
    # IPv6 only: no IPv4 address at all, a MAC from the IPv6 address
    (alone,) = engine.container(run(engine, "cc", "only6")).endpoints
    assert (alone.ipv4, str(alone.ipv6), alone.mac) == (None, "fd00::2", "02:42:00:00:00:02")


def test_a_batch_start_naming_one_container_twice_starts_it_once(world):
    """The batch route resolves names and short ids to full ids: one container asked for
    twice (found by the API fuzzer: the second start's work crashed the first's)."""
    engine, _, _, runtime = world
    one, other = engine.create_containers(
        [CreateRequest(ContainerConfig("hostfs", cmd=("true",))) for _ in range(2)]
    )
    outcomes = engine.start_many([(one.id, 0), (other.id, 0), (one.id, 0)])
    assert [getattr(o, "id", None) for o in outcomes[:2]] == [one.id, other.id]
    assert isinstance(outcomes[2], NotModified)
    assert len(runtime.spawned_in_window) == 2
    assert engine.container(one.id).state.running


def test_after_a_reset_the_engine_follows_no_cluster(world):
    """The service stops after a reset; a cluster sync before it stops must make no cluster
    network here again (one that did left an overlay segment behind)."""
    engine, *_ = world
    looked: list[str] = []

    class Watched(NoCluster):
        def view(self) -> ClusterView:
            looked.append("view")
            return super().view()

    engine.core.cluster = Watched()
    engine.follow_cluster()
    assert looked
    engine.reset()
    before = len(looked)
    engine.follow_cluster()
    assert len(looked) == before
