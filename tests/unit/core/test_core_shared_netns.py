"""`--net container:NAME` on fake adapters: Docker's checks and errors, what is shared (the
namespace, the hostname, the network files), what is never made (links, namespaces, rules,
names), and the other container's interfaces going when it stops while it is shared."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest

from fakes import FakeRuntime
from hatoba.engine.containers import CreateRequest, EndpointRequest
from hatoba.engine.engine import Engine
from hatoba.engine.resolver import records
from hatoba.errors import Conflict, Forbidden, InvalidArgument, NotFound
from hatoba.model.container import ContainerConfig
from hatoba.model.launch import ExitStatus
from hatoba.model.network import NetworkSpec
from hatoba.model.ports import PortMapping

SHARED = (
    "container sharing network namespace with another container or host cannot be connected "
    "to any other network"
)


@pytest.fixture
def world(world):
    """With a user-defined network, `app`."""
    world[0].create_network(NetworkSpec(name="app"))
    return world


def create(engine: Engine, name: str, net: str, **config: object) -> str:
    cfg = ContainerConfig(image="hostfs", cmd=("sleep", "infinity"), network_mode=net, **config)  # type: ignore[arg-type]
    return engine.create_container(CreateRequest(cfg, name=name)).id


def run(engine: Engine, name: str, net: str, **config: object) -> str:
    return engine.start(create(engine, name, net, **config)).id


def exit_of(engine: Engine, runtime: FakeRuntime, cid: str) -> None:
    runtime.exits[cid] = ExitStatus(0, "2026-01-01T00:00:00Z")
    engine.exited(cid)


def test_the_mode_keeps_the_id_of_the_container_named(world):
    engine, *_ = world
    web = run(engine, "web", "app")
    side = create(engine, "side", "container:web")
    assert engine.container(side).config.network_mode == f"container:{web}"
    assert engine.container(side).networks == ()
    # one not there yet is looked for again at start, as Docker does
    later = create(engine, "later", "container:notyet")
    assert engine.container(later).config.network_mode == "container:notyet"


def test_it_runs_in_the_other_containers_namespace_with_its_files_and_hostname(world):
    engine, kernel, _, runtime = world
    web = engine.container(run(engine, "web", "app", domainname="example.org"))
    links, namespaces = dict(kernel.links), set(kernel.netns)
    side = engine.container(run(engine, "side", "container:web"))
    launch = runtime.launched[-1]
    assert launch.netns == f"/proc/{web.state.pid}/ns/net"
    assert launch.hostname == web.hostname == side.hostname
    assert side.config.domainname == "example.org"
    assert (launch.files, launch.files_of) == ({}, web.id)
    assert f"HOSTNAME={web.hostname}" in launch.process.env
    # nothing of its own: no namespace handle, link, address or DNS name
    assert (side.netns, side.endpoints, side.netns_owner) == ("", (), web.id)
    assert kernel.links == links and kernel.netns == namespaces
    assert [r.container_id for r in records(engine.state)[0]] == [web.id]


def test_a_chain_reaches_the_namespace_through_the_process_in_it(world):
    engine, _, _, runtime = world
    web = run(engine, "web", "app")
    side = engine.container(run(engine, "side", "container:web"))
    run(engine, "third", "container:side")
    launch = runtime.launched[-1]
    assert launch.netns == f"/proc/{side.state.pid}/ns/net"
    assert launch.files_of == web
    assert engine.container("third").netns_owner == web


def test_errors_at_start_like_docker(world):
    engine, *_ = world
    stopped = create(engine, "stopped", "app")
    side = create(engine, "side", f"container:{stopped}")
    with pytest.raises(Conflict) as caught:
        engine.start(side)
    assert caught.value.message == f"cannot join network of a non running container: {stopped}"
    missing = create(engine, "missing", "container:nothere")
    with pytest.raises(NotFound, match="^No such container: nothere$"):
        engine.start(missing)
    own = create(engine, "own", "container:own")  # not there at create: itself at start
    with pytest.raises(InvalidArgument, match="^cannot join own network$"):
        engine.start(own)
    assert all(not c.state.running for c in engine.state.containers.values())


@pytest.mark.parametrize(
    ("config", "request_fields", "message"),
    [
        ({"hostname": "x"}, {}, "conflicting options: hostname and the network mode"),
        ({"domainname": "x.org"}, {}, "conflicting options: hostname and the network mode"),
        ({"dns": ("192.0.2.53",)}, {}, "conflicting options: dns and the network mode"),
        ({"dns_search": ("x.org",)}, {}, "conflicting options: dns and the network mode"),
        ({"dns_options": ("ndots:1",)}, {}, "conflicting options: dns and the network mode"),
        (
            {"extra_hosts": ("x:192.0.2.1",)},
            {},
            "conflicting options: custom host-to-IP mapping and the network mode",
        ),
        (
            {"mac_address": "02:42:ac:11:00:09"},
            {},
            "conflicting options: mac-address and the network mode",
        ),
        (
            {"ports": (PortMapping(80, "tcp", 8080),)},
            {},
            "conflicting options: port publishing and the container type network mode",
        ),
        (
            {"publish_all": True},
            {},
            "conflicting options: port publishing and the container type network mode",
        ),
        (
            {"exposed_ports": ("80/tcp",)},
            {},
            "conflicting options: port exposing and the container type network mode",
        ),
        (
            {},
            {"endpoints": (EndpointRequest("container:web", aliases=("x",)),)},
            "network-scoped aliases are only supported for user-defined networks",
        ),
        (
            {},
            {"endpoints": (EndpointRequest("container:web", ipv4=IPv4Address("172.18.0.9")),)},
            "user specified IP address is supported on user defined networks only",
        ),
        ({}, {"endpoints": (EndpointRequest("app"),)}, SHARED),
    ],
)
def test_what_the_mode_rules_out_is_refused_at_create(world, config, request_fields, message):
    engine, kernel, store, _ = world
    run(engine, "web", "app")
    before = (dict(engine.state.containers), dict(store.containers), dict(kernel.links))
    cfg = ContainerConfig(image="hostfs", cmd=("true",), network_mode="container:web", **config)
    with pytest.raises(InvalidArgument) as caught:
        engine.create_container(CreateRequest(cfg, name="side", **request_fields))
    assert caught.value.message == message
    assert (dict(engine.state.containers), dict(store.containers), dict(kernel.links)) == before


def test_an_empty_endpoint_for_the_mode_is_accepted(world):
    """The docker CLI names the mode in EndpointsConfig, with nothing in it."""
    engine, *_ = world
    run(engine, "web", "app")
    cfg = ContainerConfig(image="hostfs", cmd=("true",), network_mode="container:web")
    engine.create_container(
        CreateRequest(cfg, name="side", endpoints=(EndpointRequest("container:web"),))
    )


def test_a_bad_mode_and_a_mac_address_on_the_host_network(world):
    engine, *_ = world
    with pytest.raises(InvalidArgument) as caught:
        create(engine, "side", "container:")
    assert caught.value.message == (
        "Invalid network mode: invalid container format container:<name|id>"
    )
    cfg = ContainerConfig(
        image="hostfs", cmd=("true",), network_mode="host", mac_address="02:42:ac:11:00:09"
    )
    with pytest.raises(InvalidArgument, match="^conflicting options: mac-address and the"):
        engine.create_container(CreateRequest(cfg))


def test_network_connect_is_refused_running_or_not(world):
    engine, *_ = world
    run(engine, "web", "app")
    create(engine, "stopped", "container:web")
    run(engine, "side", "container:web")
    for name in ("stopped", "side"):
        with pytest.raises(Forbidden) as caught:
            engine.connect("app", name)
        assert caught.value.message == SHARED
    assert engine.container("side").networks == ()


def test_when_the_owner_stops_its_interfaces_go_and_the_others_keep_running(world):
    engine, kernel, _, runtime = world
    web = engine.container(run(engine, "web", "app"))
    side = run(engine, "side", "container:web")
    veth = web.endpoints[0].host_ifname
    exit_of(engine, runtime, web.id)
    # deleted now: the namespace lives on in the other container's process
    assert "detach" in kernel.calls and veth not in kernel.links
    assert engine.container(side).state.running
    assert engine.container(side).netns_owner == ""
    # its exit takes nothing else down
    calls = len(kernel.calls)
    exit_of(engine, runtime, side)
    assert kernel.calls[calls:] == []


def test_an_owner_nobody_shares_leaves_its_veth_to_the_kernel(world):
    engine, kernel, _, runtime = world
    web = run(engine, "web", "app")
    exit_of(engine, runtime, web)
    assert "detach" not in kernel.calls
