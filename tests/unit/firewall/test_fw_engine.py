"""The engine and the firewall, on fakes: every operation leaves the tables a fresh render of
the records would make, in one transaction, and a failed operation leaves them as they were."""

from __future__ import annotations

from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest
from fw_fakes import FakePorts, ModelFirewall
from nft_model import Tables

from fakes import FakeImages, FakeKernel, FakeRuntime, MemoryStore
from hatoba.drivers.registry import firewall_network
from hatoba.engine.containers import CreateRequest
from hatoba.engine.core import Paths
from hatoba.engine.engine import Engine
from hatoba.engine.ports import NO_DNS, Resolver
from hatoba.engine.state import State
from hatoba.errors import Conflict, HatobaError, InvalidArgument, KernelError
from hatoba.firewall import FirewallState, render
from hatoba.firewall.derive import derive
from hatoba.model.container import ContainerConfig
from hatoba.model.image import ImageInfo
from hatoba.model.network import OPT_HOST_BINDING, OPT_ICC, NetworkSpec
from hatoba.model.ports import PortMapping

INTERNAL_ERROR = (
    "cannot publish ports on internal network secret: it has no connectivity outside the network"
)
HTTPD = ImageInfo("f" * 64, "httpd:latest", cmd=("httpd",), exposed_ports=("80/tcp", "53/udp"))


class World:
    def __init__(self, tmp_path: Path, dns: Resolver = NO_DNS) -> None:
        self.dns = dns
        resolv = tmp_path / "resolv.conf"
        resolv.write_text("nameserver 198.51.100.53\n")
        self.paths = Paths(tmp_path / "root", tmp_path / "run", resolv)
        self.kernel, self.store, self.runtime = FakeKernel(), MemoryStore(), FakeRuntime()
        self.fw, self.ports = ModelFirewall(), FakePorts()
        self.images = FakeImages({"httpd:latest": HTTPD})
        self.engine = self.open(State())

    def open(self, state: State) -> Engine:
        engine = Engine.open(
            self.paths,
            self.store,
            self.kernel,
            self.runtime,
            self.images,
            state,
            dns=self.dns,
            firewall=self.fw,
            ports=self.ports,
        )
        engine.bootstrap()
        return engine

    def create(self, name: str, net: str = "default", *ports: PortMapping, **kw: object) -> str:
        cfg = ContainerConfig(
            image=str(kw.pop("image", "hostfs")),
            cmd=("sleep", "infinity"),
            network_mode=net,
            ports=ports,
            **kw,  # type: ignore[arg-type]
        )
        return self.engine.create_container(CreateRequest(cfg, name=name)).id

    def run(self, name: str, net: str = "default", *ports: PortMapping, **kw: object) -> str:
        return self.engine.start(self.create(name, net, *ports, **kw)).id

    def exit(self, cid: str) -> None:
        self.engine.exited(cid)

    def expected(self) -> Tables:
        """The tables a fresh render of the records makes."""
        state = self.engine.state
        tables = Tables()
        fresh = derive(state.networks, state.containers.values(), firewall_of=firewall_network)
        tables.apply(render(fresh))  # type: ignore[arg-type]
        return tables

    def transactions_of(self, operation: object) -> int:
        before = self.fw.transactions
        operation()  # type: ignore[operator]
        return self.fw.transactions - before


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def tcp(container_port: int, host_port: int = 0, host_ip: str | None = None) -> PortMapping:
    return PortMapping(container_port, "tcp", IPv4Address(host_ip) if host_ip else None, host_port)


def test_bootstrap_syncs_once_and_readies_the_default_bridge(world: World) -> None:
    assert world.fw.transactions == 1
    assert set(world.fw.ready) == {"hatoba0"}
    assert world.fw.tables == world.expected()


def test_each_operation_is_one_transaction_ending_where_a_render_would(world: World) -> None:
    e = world.engine
    steps = {
        "network create": lambda: e.create_network(NetworkSpec(name="web")),
        "run": lambda: world.run("w1", "web", tcp(80, 8000)),
        "run default": lambda: world.run("d1", "default", tcp(80, 8001)),
        "connect": lambda: e.connect("web", "d1"),
        "disconnect": lambda: e.disconnect("web", "d1"),
        "exit": lambda: world.exit(e.container("w1").id),
        "start": lambda: e.start("w1"),
        "network create quiet": lambda: e.create_network(
            NetworkSpec(name="quiet", options={OPT_ICC: "false"})
        ),
        "connect quiet": lambda: e.connect("quiet", "w1"),
    }
    for what, step in steps.items():
        assert world.transactions_of(step) == 1, what
        assert world.fw.tables == world.expected(), what
    world.exit(e.container("w1").id)
    assert world.transactions_of(lambda: e.remove("w1")) == 0  # stopped: nothing in the tables
    world.exit(e.container("d1").id)
    e.remove("d1")
    assert world.transactions_of(lambda: e.remove_network("web")) == 1
    assert world.fw.tables == world.expected()
    assert world.ports.held == {}


def test_ports_are_held_from_start_to_exit_and_recorded_on_the_container(world: World) -> None:
    cid = world.create("web", "default", tcp(80, 8000), tcp(81), tcp(82, 9000, "127.0.0.1"))
    assert world.engine.container(cid).published == ()
    world.engine.start(cid)
    published = world.engine.container(cid).published
    assert published == (
        tcp(80, 8000),
        tcp(81, 32768),
        tcp(82, 9000, "127.0.0.1"),
    )
    assert world.ports.held == {cid: published}
    assert world.store.containers[cid].published == published
    ports = world.engine.firewall_state().ports
    container_ip = world.engine.container(cid).endpoints[0].ipv4
    assert [(p.host_port, p.container_ip, p.container_port) for p in ports] == [
        (8000, container_ip, 80),
        (32768, container_ip, 81),
        (9000, container_ip, 82),
    ]
    world.exit(cid)
    assert world.engine.container(cid).published == ()
    assert world.ports.held == {}
    assert world.engine.firewall_state().ports == ()


def test_a_port_without_an_address_binds_to_the_networks_host_binding(world: World) -> None:
    options = {OPT_HOST_BINDING: "127.0.0.1"}
    world.engine.create_network(NetworkSpec(name="local", options=options))
    cid = world.run("web", "local", tcp(80, 8000), tcp(81, 8001, "0.0.0.0"))
    assert world.engine.container(cid).published == (
        tcp(80, 8000, "127.0.0.1"),
        tcp(81, 8001, "0.0.0.0"),
    )
    assert [p.host_ip for p in world.engine.firewall_state().ports] == [
        IPv4Address("127.0.0.1"),
        IPv4Address("0.0.0.0"),
    ]
    assert world.fw.tables == world.expected()


def test_a_taken_host_port_fails_the_start_and_changes_nothing(world: World) -> None:
    world.run("first", "default", tcp(80, 8000))
    tables, held = world.fw.tables, dict(world.ports.held)
    late = world.create("late", "default", tcp(81, 8001), tcp(80, 8000))
    with pytest.raises(Conflict, match="Bind for 0.0.0.0:8000 failed: port is already allocated"):
        world.engine.start(late)
    world.ports.host_busy.add(("tcp", 8002))
    busy = world.create("busy", "default", tcp(80, 8002))
    with pytest.raises(HatobaError, match="address already in use"):
        world.engine.start(busy)
    assert world.fw.tables == tables and world.ports.held == held
    assert world.engine.container(late).state.status == "created"
    assert not any(p.endswith((late, busy)) for p in world.kernel.netns)


def test_a_failure_after_the_tables_changed_puts_them_back(world: World) -> None:
    tables = world.fw.tables
    world.runtime.fail_launch = True
    cid = world.create("web", "default", tcp(80, 8000))
    with pytest.raises(KernelError):
        world.engine.start(cid)
    assert world.fw.tables == tables
    assert world.ports.held == {}
    assert world.engine.firewall_state() == derive(
        world.engine.state.networks,
        world.engine.state.containers.values(),
        firewall_of=firewall_network,
    )


def test_a_failed_firewall_change_fails_the_operation_and_changes_nothing(world: World) -> None:
    cid = world.create("web", "default", tcp(80, 8000))
    world.fw.fail_next_apply = True
    with pytest.raises(KernelError):
        world.engine.start(cid)
    assert world.ports.held == {}
    world.fw.fail_next_apply = True
    with pytest.raises(KernelError):
        world.engine.create_network(NetworkSpec(name="web"))
    assert world.engine.state.network_by_name("web") is None
    assert world.fw.tables == world.expected()


def _bridges_in(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bridge's creation shows among the firewall's events."""
    create_bridge = world.kernel.create_bridge

    def noted(*args: Any) -> None:
        world.fw.events.append("bridge")
        create_bridge(*args)

    monkeypatch.setattr(world.kernel, "create_bridge", noted)


def test_a_networks_bridge_is_made_while_its_transaction_runs(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    _bridges_in(world, monkeypatch)
    world.fw.events.clear()
    network = world.engine.create_network(NetworkSpec(name="web"))
    assert world.fw.events == ["sent", "bridge", "answered"]
    assert network.bridge in world.kernel.links
    assert world.fw.tables == world.expected()


def test_a_failed_transaction_after_the_bridge_was_made_deletes_the_bridge(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    _bridges_in(world, monkeypatch)
    links = dict(world.kernel.links)
    world.fw.events.clear()
    world.fw.fail_next_apply = True
    with pytest.raises(KernelError, match="injected"):
        world.engine.create_network(NetworkSpec(name="web"))
    assert world.fw.events == ["sent", "bridge", "answered"]
    assert world.kernel.calls[-1] == "delete_link"
    assert world.kernel.links == links
    assert world.engine.state.network_by_name("web") is None
    assert world.fw.tables == world.expected()


def test_a_failed_bridge_after_the_transaction_was_sent_undoes_the_transaction(
    world: World,
) -> None:
    links = dict(world.kernel.links)
    world.fw.events.clear()
    world.kernel.fail_on = "create_bridge"
    with pytest.raises(KernelError, match="create_bridge failed"):
        world.engine.create_network(NetworkSpec(name="web"))
    assert world.fw.events == ["sent", "answered", "undone"]
    assert world.kernel.links == links
    assert world.engine.state.network_by_name("web") is None
    assert world.fw.tables == world.expected()
    # and the next create goes through
    world.engine.create_network(NetworkSpec(name="web"))
    assert world.fw.tables == world.expected()


def test_publishing_on_an_internal_network_is_refused_and_changes_nothing(world: World) -> None:
    world.engine.create_network(NetworkSpec(name="secret", internal=True))
    containers = dict(world.engine.state.containers)
    with pytest.raises(InvalidArgument) as refused:
        world.create("s1", "secret", tcp(80, 8000))
    assert refused.value.message == INTERNAL_ERROR
    with pytest.raises(InvalidArgument, match="internal network secret"):
        world.create("s2", "secret", image="httpd", publish_all=True)
    assert world.engine.state.containers == containers
    # a stopped container moved onto the internal network is refused at start
    cid = world.create("s3", "default", tcp(80, 8000))
    world.engine.disconnect("bridge", cid)
    world.engine.connect("secret", cid)
    with pytest.raises(InvalidArgument, match="internal network secret"):
        world.engine.start(cid)
    # with a way out as well, ports are published there, never on the internal network
    world.engine.connect("bridge", cid)
    world.engine.start(cid)
    (port,) = world.engine.firewall_state().ports
    assert port.network_id == world.engine.network("bridge").id


def test_publish_all_publishes_the_images_exposed_ports_on_random_host_ports(
    world: World,
) -> None:
    cid = world.run("web", "default", tcp(80, 8080), image="httpd", publish_all=True)
    assert world.engine.container(cid).published == (
        PortMapping(53, "udp", None, 32768),
        tcp(80, 8080),
    )


def test_ports_follow_the_containers_way_out_and_udp_flows_are_forgotten(
    world: World,
) -> None:
    e = world.engine
    e.create_network(NetworkSpec(name="web"))
    cid = world.run("dns", "web", PortMapping(53, "udp", None, 5353))
    e.connect("bridge", cid)
    (before,) = e.firewall_state().ports
    e.disconnect("web", cid)
    (after,) = e.firewall_state().ports
    assert (before.network_id, after.network_id) == (e.network("web").id, e.network("bridge").id)
    assert world.fw.cleared == [before]
    world.exit(cid)
    assert world.fw.cleared == [before, after]


def test_host_and_none_publish_nothing(world: World) -> None:
    world.run("on-host", "host", tcp(80, 8000))
    world.run("on-none", "none", tcp(80, 8001))
    assert world.engine.firewall_state().ports == () and world.ports.held == {}


def test_restart_holds_ports_again_and_drops_containers_that_died(world: World) -> None:
    alive = world.run("alive", "default", tcp(80, 8000))
    dead = world.run("dead", "default", tcp(80, 8001), PortMapping(53, "udp", None, 5353))
    world.runtime.alive.discard(world.engine.container(dead).state.shim_pid)
    netns = Path(world.engine.container(alive).netns)  # the handle a live container keeps
    netns.parent.mkdir(parents=True)
    netns.touch()
    # a new service process: the kernel kept the tables, the reservations died with the old
    world.fw.ready.clear()
    world.ports.held.clear()
    state = State(
        networks=dict(world.engine.state.networks),
        containers=dict(world.engine.state.containers),
    )
    engine = world.engine = world.open(state)
    assert engine.container(dead).state.status == "exited"
    assert world.ports.held == {alive: (tcp(80, 8000),)}
    assert world.fw.ready == ["hatoba0"]
    assert world.fw.tables == world.expected()
    assert [p.host_port for p in engine.firewall_state().ports] == [8000]
    assert [p.host_port for p in world.fw.cleared] == [5353]


def test_reload_rebuilds_and_reset_removes_the_tables(world: World) -> None:
    world.run("web", "default", tcp(80, 8000))
    world.fw.tables = Tables()  # flushed behind our back
    assert world.transactions_of(world.engine.firewall_reload) == 1
    assert world.fw.tables == world.expected()
    world.engine.reset()
    assert world.fw.tables == Tables()
    assert world.ports.held == {}


def test_a_containers_change_derives_that_container_alone(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 1000 containers a walk over all of them at every start cost milliseconds: only a
    change of networks derives everything again."""
    e = world.engine
    e.create_network(NetworkSpec(name="web"))
    whole: list[str] = []

    def counting(*args: Any, **kwargs: Any) -> FirewallState:
        whole.append("derive")
        return derive(*args, **kwargs)

    monkeypatch.setattr("hatoba.engine.firewall.derive", counting)
    world.run("w1", "web", tcp(80, 8000))
    world.run("w2", "default", tcp(80, 8001))
    e.connect("web", "w2")
    e.disconnect("web", "w2")
    world.exit(e.container("w1").id)
    e.start("w1")
    assert whole == []
    assert world.fw.tables == world.expected()
    e.create_network(NetworkSpec(name="more"))
    assert whole == ["derive"]


def test_a_change_the_tables_did_not_follow_reaches_them_with_the_next_one(world: World) -> None:
    """A rename is committed without a firewall change (the elements' comments name the
    container); the next change of any container brings them up to date."""
    e = world.engine
    world.run("w1", "default", tcp(80, 8000))
    e.rename("w1", "renamed")
    world.run("w2", "default", tcp(80, 8001))
    assert world.fw.tables == world.expected()
