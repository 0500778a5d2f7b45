"""The engine and the embedded resolver, on fakes: what is published, attached and written."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from fakes import FakeImages, FakeKernel, FakeRuntime, MemoryStore
from hatoba.dns import DnsAttachment, DnsRecord, Upstream
from hatoba.engine.containers import CreateRequest, EndpointRequest
from hatoba.engine.core import Paths
from hatoba.engine.engine import Engine
from hatoba.engine.ports import NO_DNS, Resolver
from hatoba.engine.state import State
from hatoba.errors import HatobaError, KernelError
from hatoba.model.container import ContainerConfig
from hatoba.model.launch import Started
from hatoba.model.network import NetworkSpec

HOST_RESOLV = (
    "search corp.example\nnameserver 198.51.100.53\nnameserver 127.0.0.53\noptions edns0\n"
)
EMBEDDED = "search corp.example\nnameserver 127.0.0.11\noptions edns0 ndots:0\n"
HOSTS_COPY = "search corp.example\nnameserver 198.51.100.53\noptions edns0\n"


class FakeResolver:
    """Records what the engine tells the resolver; `log` is shared with the runtime."""

    serves_containers = True

    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.by_container: dict[str, tuple[DnsRecord, ...]] = {}
        self.gateways: dict[str, IPv4Address] = {}
        self.attached: dict[str, tuple[str, tuple[Upstream, ...], bool]] = {}
        self.fail_attach = False

    def update(
        self, changes: Mapping[str, Sequence[DnsRecord]], gateways: Mapping[str, IPv4Address]
    ) -> None:
        self.by_container.update((cid, tuple(records)) for cid, records in changes.items())
        self.gateways = dict(gateways)

    @property
    def records(self) -> list[DnsRecord]:
        return [r for records in self.by_container.values() for r in records]

    def attach(
        self,
        container_id: str,
        netns_path: str,
        upstreams: Sequence[Upstream],
        forward: bool,
        *,
        fresh: bool = False,
    ) -> None:
        if self.fail_attach:
            raise KernelError("cannot start the DNS resolver (injected)")
        self.log.append(f"dns attach {container_id[:4]}")
        self.attached[container_id] = (netns_path, tuple(upstreams), forward)

    def restore(self, attachments: Sequence[DnsAttachment]) -> list[tuple[str, HatobaError]]:
        failed: list[tuple[str, HatobaError]] = []
        for a in attachments:
            try:
                self.attach(a.container_id, a.netns_path, a.upstreams, a.forward)
            except HatobaError as exc:
                failed.append((a.container_id, exc))
        return failed

    def detach(self, container_id: str) -> None:
        self.log.append(f"dns detach {container_id[:4]}")
        self.attached.pop(container_id, None)

    def names(self, network: str | None = None) -> dict[str, list[str]]:
        """name → addresses, as published (first record per name wins, like the table)."""
        found: dict[str, list[str]] = {}
        for r in self.records:
            if network is None or r.network_name == network:
                for name in r.names:
                    found.setdefault(name, []).append(str(r.ipv4))
        return found


class LoggingRuntime(FakeRuntime):
    def __init__(self, log: list[str]) -> None:
        super().__init__()
        self.log = log

    def start(self, container_id: str) -> Started:
        self.log.append(f"launch {container_id[:4]}")
        return super().start(container_id)


class World:
    def __init__(self, tmp_path: Path, *, dns: bool = True) -> None:
        self.resolv = tmp_path / "resolv.conf"
        self.resolv.write_text(HOST_RESOLV)
        self.log: list[str] = []
        self.kernel, self.store = FakeKernel(), MemoryStore()
        self.runtime = LoggingRuntime(self.log)
        self.dns = FakeResolver(self.log)
        self.paths = Paths(tmp_path / "root", tmp_path / "run", self.resolv)
        self.engine = self.open(self.dns if dns else NO_DNS)

    def open(self, dns: Resolver, state: State | None = None) -> Engine:
        engine = Engine.open(
            self.paths,
            self.store,
            self.kernel,
            self.runtime,
            FakeImages(),
            state or State(),
            dns=dns,
        )
        engine.bootstrap()
        return engine

    def run(self, name: str, net: str = "default", **kw: object) -> str:
        config = kw.pop("config", {})
        cfg = ContainerConfig(image="hostfs", cmd=("sleep", "infinity"), network_mode=net, **config)
        c = self.engine.create_container(CreateRequest(cfg, name=name, **kw))
        return self.engine.start(c.id).id

    def resolv_conf(self, cid: str) -> str:
        return self.runtime.files[(cid, "/etc/resolv.conf")]


@pytest.fixture
def world(tmp_path: Path) -> World:
    w = World(tmp_path)
    w.engine.create_network(NetworkSpec(name="sample"))
    return w


def test_user_network_asks_127_0_0_11_served_before_the_process_starts(world: World) -> None:
    cid = world.run("s1", "sample")
    assert world.resolv_conf(cid) == EMBEDDED
    assert world.log == [f"dns attach {cid[:4]}", f"launch {cid[:4]}"]
    netns, upstreams, forward = world.dns.attached[cid]
    assert netns == world.engine.container(cid).netns
    # the host's loopback server is asked from the host, the other from the container
    assert upstreams == (Upstream("198.51.100.53"), Upstream("127.0.0.53", from_host=True))
    assert forward is True


def test_names_are_published_as_docker_registers_them(world: World) -> None:
    world.engine.create_network(NetworkSpec(name="other"))
    req = (EndpointRequest("sample", aliases=("web", "svc")), EndpointRequest("other"))
    cid = world.run("s1", "sample", endpoints=req, config={"hostname": "zebra"})
    short = cid[:12]
    assert [(r.network_name, r.names) for r in world.dns.records] == [
        ("sample", ("s1", "web", "svc", short, "zebra")),
        ("other", ("s1", short, "zebra")),
    ]
    sample, other = world.engine.network("sample"), world.engine.network("other")
    assert world.dns.gateways == {
        sample.id: sample.pool.gateway,  # type: ignore[union-attr]
        other.id: other.pool.gateway,  # type: ignore[union-attr]
    }
    # the default bridge has no names, and is no gateway anyone resolves
    world.run("c1")
    assert [r.container_id for r in world.dns.records] == [cid, cid]


def test_default_bridge_host_and_none_keep_the_host_resolvers(world: World) -> None:
    bridge = world.run("c1")
    assert (
        world.resolv_conf(bridge)
        == "search corp.example\nnameserver 198.51.100.53\noptions edns0\n"
    )
    host = world.run("h1", "host")
    assert world.resolv_conf(host) == HOST_RESOLV
    world.run("n1", "none")
    assert world.dns.attached == {}


def test_dns_flag_servers_are_the_upstreams_at_most_three(world: World) -> None:
    servers = ("192.0.2.1", "127.0.0.1", "192.0.2.3", "192.0.2.4")
    cid = world.run("s1", "sample", config={"dns": servers, "dns_options": ("ndots:2",)})
    assert world.resolv_conf(cid) == "search corp.example\nnameserver 127.0.0.11\noptions ndots:2\n"
    # --dns servers are the container's own: asked from its namespace, loopback or not
    assert world.dns.attached[cid][1] == tuple(Upstream(s) for s in servers[:3])


def test_unusable_host_servers_are_skipped(world: World) -> None:
    world.resolv.write_text("nameserver dns.example\nnameserver 198.51.100.53\n")
    cid = world.run("s1", "sample")
    assert world.dns.attached[cid][1] == (Upstream("198.51.100.53"),)


def test_internal_only_containers_never_forward(world: World) -> None:
    world.engine.create_network(NetworkSpec(name="intnet", internal=True))
    cid = world.run("i1", "intnet")
    assert world.dns.attached[cid][2] is False
    mixed = world.run("i2", "intnet", endpoints=(EndpointRequest("bridge"),))
    assert world.dns.attached[mixed][2] is True  # the default bridge is a way out


@pytest.mark.parametrize("fail", ["attach", "launch"])
def test_failed_start_leaves_no_names_and_no_resolver(world: World, fail: str) -> None:
    world.run("s1", "sample")
    published = list(world.dns.records)
    c = world.engine.create_container(
        CreateRequest(ContainerConfig("hostfs", cmd=("true",), network_mode="sample"), name="s2")
    )
    if fail == "attach":
        world.dns.fail_attach = True
    else:
        world.runtime.fail_launch = True
    with pytest.raises(HatobaError):
        world.engine.start(c.id)
    assert world.dns.records == published
    assert c.id not in world.dns.attached
    assert not any(p.endswith(c.id) for p in world.kernel.netns)
    assert world.engine.container("s2").state.status == "created"


def test_exit_removes_names_and_stops_serving(world: World) -> None:
    cid = world.run("s1", "sample")
    other = world.run("s2", "sample")
    world.runtime.exits[cid] = type("E", (), {"code": 0, "finished_at": "2026-01-01T00:00:00Z"})()
    world.engine.exited(cid)
    assert cid not in world.dns.attached and other in world.dns.attached
    assert "s1" not in world.dns.names() and "s2" in world.dns.names()


def test_connect_to_a_first_user_network_starts_dns_and_rewrites_resolv_conf(
    world: World,
) -> None:
    cid = world.run("c1")
    assert cid not in world.dns.attached
    world.engine.connect("sample", "c1", aliases=("x",))
    assert world.resolv_conf(cid) == EMBEDDED
    assert world.dns.attached[cid][2] is True
    assert world.dns.names("sample")["x"] == [str(world.engine.container(cid).endpoints[1].ipv4)]
    world.engine.disconnect("sample", "c1")
    assert cid not in world.dns.attached
    assert world.resolv_conf(cid) == HOSTS_COPY
    assert "x" not in world.dns.names()


def test_second_network_only_adds_names(world: World) -> None:
    world.engine.create_network(NetworkSpec(name="other"))
    cid = world.run("s1", "sample")
    written = world.resolv_conf(cid)
    world.engine.connect("other", "s1", aliases=("o",))
    assert world.log.count(f"dns detach {cid[:4]}") == 0
    assert world.resolv_conf(cid) == written
    assert "o" in world.dns.names("other")
    world.engine.disconnect("sample", "s1")
    assert cid in world.dns.attached
    assert "s1" not in world.dns.names("sample") and "s1" in world.dns.names("other")


def test_forwarding_follows_the_networks(world: World) -> None:
    world.engine.create_network(NetworkSpec(name="intnet", internal=True))
    cid = world.run("i1", "intnet")
    world.engine.connect("sample", "i1")
    assert world.dns.attached[cid][2] is True
    world.engine.disconnect("sample", "i1")
    assert world.dns.attached[cid][2] is False


def test_failed_connect_restores_resolver_and_resolv_conf(world: World) -> None:
    cid = world.run("c1")
    before = world.resolv_conf(cid)
    published = list(world.dns.records)
    world.store.fail_next_commit = True
    with pytest.raises(KernelError):
        world.engine.connect("sample", "c1")
    assert cid not in world.dns.attached
    assert world.resolv_conf(cid) == before
    assert world.dns.records == published


def test_failed_disconnect_keeps_the_resolver(world: World) -> None:
    cid = world.run("s1", "sample")
    attached = world.dns.attached[cid]
    world.store.fail_next_commit = True
    with pytest.raises(KernelError):
        world.engine.disconnect("sample", "s1")
    assert world.dns.attached[cid] == attached
    assert world.resolv_conf(cid) == EMBEDDED
    assert "s1" in world.dns.names()


def test_stopped_containers_connect_without_dns_work(world: World) -> None:
    c = world.engine.create_container(CreateRequest(ContainerConfig("hostfs", cmd=("true",))))
    world.engine.connect("sample", c.id)
    world.engine.disconnect("sample", c.id)
    assert world.dns.attached == {} and world.dns.records == []


def test_restart_restores_names_and_resolvers_of_running_containers(
    world: World, tmp_path: Path
) -> None:
    s1 = world.run("s1", "sample")
    bridge = world.run("c1")
    for cid in (s1, bridge):  # the namespaces outlive the service
        Path(world.engine.container(cid).netns).parent.mkdir(parents=True, exist_ok=True)
        Path(world.engine.container(cid).netns).touch()
        world.kernel.netns.add(world.engine.container(cid).netns)
    state = State(networks=dict(world.store.networks), containers=dict(world.store.containers))
    fresh = FakeResolver([])
    world.open(fresh, state)
    assert set(fresh.attached) == {s1}
    assert fresh.attached[s1] == world.dns.attached[s1]
    assert fresh.records == world.dns.records


def test_without_a_resolver_containers_keep_the_host_resolvers(tmp_path: Path) -> None:
    world = World(tmp_path, dns=False)
    world.engine.create_network(NetworkSpec(name="sample"))
    cid = world.run("s1", "sample")
    assert world.resolv_conf(cid) == HOSTS_COPY


def test_rename_answers_to_the_new_name_only(world: World) -> None:
    cid = world.run("tmp_s1", "sample", endpoints=(EndpointRequest("sample", aliases=("s1",)),))
    world.run("other", "sample")
    with pytest.raises(HatobaError, match='The container name "/other" is already in use'):
        world.engine.rename(cid, "other")
    with pytest.raises(HatobaError, match="same name as its current name"):
        world.engine.rename(cid, "tmp_s1")
    world.engine.rename(cid, "proj-s1-1")
    assert world.engine.container("proj-s1-1").id == cid
    names = next(r.names for r in world.dns.records if r.container_id == cid)
    assert names[:2] == ("proj-s1-1", "s1") and "tmp_s1" not in names
