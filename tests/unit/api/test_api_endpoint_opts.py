"""What a container create or a network connect says about the container's network.
EndpointSettings.DriverOpts: kept with the container (across a restart of the service too)
and shown in its inspect as Docker shows them (null or {} when none were asked for).
IPAMConfig.LinkLocalIPs: made on the interface (/16 and /64, as Docker), let through the
bridge's source checks, shown, and refused where Docker refuses them. Config.NetworkDisabled
as Docker 20.10 has it: a namespace of its own with only lo, on no network (whatever its
network mode says), nothing published, empty /etc/hosts and /etc/resolv.conf, no sandbox in
inspect; connecting it to a network is refused."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fakes import FakeKernel, FakeRuntime
from fixtures.api_world import ApiWorld
from hatoba.drivers import registry as drivers
from hatoba.errors import HatobaError
from hatoba.firewall.content import endpoint_elements
from hatoba.firewall.derive import container_items
from hatoba.model.container import Container, link_local_for
from hatoba.store.codec import decode, encode


@pytest.fixture
def world(tmp_path: Path) -> Iterator[ApiWorld]:
    w = ApiWorld(tmp_path)
    yield w
    w.close()


def call(world: ApiWorld, method: str, target: str, body: Any = None) -> Any:
    answer = asyncio.run(world.call(method, target, body))
    assert answer.status < 300, answer.body
    return json.loads(answer.body) if answer.body.startswith((b"{", b"[")) else None


def test_driver_opts_are_kept_and_shown(world: ApiWorld) -> None:
    for name in ("front", "back"):
        call(world, "POST", "/networks/create", {"Name": name})
    opts = {"com.example.mtu-hint": "1400"}
    made = call(
        world,
        "POST",
        "/containers/create?name=web",
        {
            "Image": "hostfs",
            "Cmd": ["true"],
            "HostConfig": {"NetworkMode": "front"},
            "NetworkingConfig": {"EndpointsConfig": {"front": {"DriverOpts": opts}}},
        },
    )
    call(world, "POST", "/networks/back/connect", {"Container": "web", "EndpointConfig": {}})
    networks = call(world, "GET", f"/containers/{made['Id']}/json")["NetworkSettings"]["Networks"]
    assert networks["front"]["DriverOpts"] == opts
    assert networks["back"]["DriverOpts"] == {}  # joined later, none asked for
    call(world, "POST", "/networks/back/disconnect", {"Container": "web"})
    call(
        world,
        "POST",
        "/networks/back/connect",
        {"Container": "web", "EndpointConfig": {"DriverOpts": {"a": "b"}}},
    )
    container = world.engine.state.container("web")
    # as the state database keeps it
    kept = decode(Container, json.loads(json.dumps(encode(container))))
    assert dict(kept.networks[1].driver_opts) == {"a": "b"}
    assert kept == container


def _create(world: ApiWorld, network: str, ipam: dict[str, Any]) -> Any:
    body = {
        "Image": "hostfs",
        "Cmd": ["true"],
        "HostConfig": {"NetworkMode": network},
        "NetworkingConfig": {"EndpointsConfig": {network: {"IPAMConfig": ipam}}},
    }
    return asyncio.run(world.call("POST", "/containers/create?name=web", body))


def test_link_local_addresses_are_made_allowed_and_shown(world: ApiWorld) -> None:
    call(world, "POST", "/networks/create", {"Name": "front"})
    ipam = {"LinkLocalIPs": ["169.254.10.1", "fe80::10:1"]}
    made = _create(world, "front", ipam)
    assert made.status == 201, made.body
    started = world.engine.start("web")
    kernel = world.engine.core.kernel
    assert isinstance(kernel, FakeKernel)
    (request,) = kernel.attached[started.netns]
    pool = started.endpoints[0].ipv4
    # the pool address first; the IPv6 one turns IPv6 on for this interface alone
    assert [str(a) for a in request.addresses] == [f"{pool}/16", "169.254.10.1/16", "fe80::10:1/64"]
    assert request.ipv6
    networks = world.engine.state.networks.values()
    fw = {n.id: f for n in networks if (f := drivers.firewall_network(n)) is not None}
    (endpoint,) = container_items(started, fw)[0]
    veth = endpoint.host_ifname
    elements = {(e.set[1], e.key) for e in endpoint_elements(endpoint, icc=True)}
    kernels_own = str(link_local_for(started.endpoints[0].mac))
    assert {
        ("port_ips", (veth, "169.254.10.1")),
        ("port_ip6s", (veth, "fe80::10:1")),
        # the kernel makes its own link-local address once IPv6 is on: it sends from it
        ("port_ip6s", (veth, kernels_own)),
    } <= elements
    doc = call(world, "GET", "/containers/web/json")["NetworkSettings"]["Networks"]["front"]
    assert doc["IPAMConfig"] == ipam


def test_link_local_addresses_at_connect_and_on_the_default_bridge(world: ApiWorld) -> None:
    call(world, "POST", "/networks/create", {"Name": "front"})
    # Docker takes them on predefined networks too (only IPv4Address/IPv6Address are
    # user-defined networks' alone: daemon/container_operations.go hasUserDefinedIPAddress)
    assert _create(world, "bridge", {"LinkLocalIPs": ["169.254.3.3"]}).status == 201
    world.engine.start("web")
    body = {"Container": "web", "EndpointConfig": {"IPAMConfig": {"LinkLocalIPs": ["169.254.4.4"]}}}
    call(world, "POST", "/networks/front/connect", body)
    kernel = world.engine.core.kernel
    assert isinstance(kernel, FakeKernel)
    container = world.engine.state.container("web")
    asked = [str(a) for r in kernel.attached[container.netns] for a in r.addresses[1:]]
    assert asked == ["169.254.3.3/16", "169.254.4.4/16"]
    networks = call(world, "GET", "/containers/web/json")["NetworkSettings"]["Networks"]
    assert networks["front"]["IPAMConfig"] == {"LinkLocalIPs": ["169.254.4.4"]}


@pytest.mark.parametrize(
    ("address", "message"),
    [
        # Docker 20.10's two texts: daemon/network.go, then libnetwork's network.go
        ("169.254.1.x", "Invalid link-local IP address: [169.254.1.1 169.254.1.x]"),
        ("fe80::1%eth0", "Invalid link-local IP address: [169.254.1.1 fe80::1%eth0]"),
        ("10.0.0.1", "invalid link local IP address: 10.0.0.1"),
        ("fd00::1", "invalid link local IP address: fd00::1"),
    ],
)
def test_link_local_addresses_refused(world: ApiWorld, address: str, message: str) -> None:
    call(world, "POST", "/networks/create", {"Name": "front"})
    with pytest.raises(HatobaError, match=re.escape(message)):
        _create(world, "front", {"LinkLocalIPs": ["169.254.1.1", address]})
    assert not world.engine.state.containers


def _create_quiet(world: ApiWorld, name: str, **more: Any) -> Any:
    body = {"Image": "hostfs", "Cmd": ["true"], "NetworkDisabled": True, **more}
    return call(world, "POST", f"/containers/create?name={name}", body)


@pytest.mark.parametrize("mode", ["default", "host", "front"])
def test_a_network_disabled_container_has_a_namespace_with_nothing_in_it(
    world: ApiWorld, mode: str
) -> None:
    call(world, "POST", "/networks/create", {"Name": "front"})
    ports = {"80/tcp": [{"HostPort": "8080"}]}
    _create_quiet(
        world,
        "quiet",
        HostConfig={"NetworkMode": mode, "PortBindings": ports},
        ExposedPorts={"80/tcp": {}},
        NetworkingConfig={"EndpointsConfig": {mode: {"Aliases": ["q"]}}},
    )
    started = world.engine.start("quiet")
    kernel, runtime = world.engine.core.kernel, world.engine.core.runtime
    assert isinstance(kernel, FakeKernel) and isinstance(runtime, FakeRuntime)
    # its own namespace (`--network host` too: Docker's spec keeps a new one), no interface
    assert started.netns in kernel.netns and not kernel.attached.get(started.netns)
    assert (started.networks, started.endpoints, started.published) == ((), (), ())
    (launch,) = runtime.launched
    assert launch.netns == started.netns
    hostname = started.id[:12]
    assert launch.files == {
        "/etc/hostname": hostname + "\n",
        "/etc/hosts": "",
        "/etc/resolv.conf": "",
    }
    doc = call(world, "GET", "/containers/quiet/json")
    settings = doc["NetworkSettings"]
    assert (settings["Networks"], settings["Ports"]) == ({}, {})
    assert (settings["SandboxID"], settings["SandboxKey"], settings["IPAddress"]) == ("", "", "")
    assert (doc["HostsPath"], doc["ResolvConfPath"]) == ("", "")
    assert doc["Config"]["NetworkDisabled"] is True
    assert doc["HostConfig"]["NetworkMode"] == mode
    summary = call(world, "GET", "/containers/json")[0]
    assert (summary["NetworkSettings"]["Networks"], summary["Ports"]) == ({}, [])
    front = call(world, "GET", "/networks/front")
    assert front["Containers"] == {}


def test_a_network_disabled_container_is_not_connected_and_has_nothing_to_disconnect(
    world: ApiWorld,
) -> None:
    call(world, "POST", "/networks/create", {"Name": "front"})
    _create_quiet(world, "quiet")
    for running in (False, True):
        if running:
            world.engine.start("quiet")
        body = {"Container": "quiet", "EndpointConfig": {}}
        with pytest.raises(HatobaError, match="has its network disabled") as refused:
            asyncio.run(world.call("POST", "/networks/front/connect", body))
        assert refused.value.status == 403
        assert world.engine.state.container("quiet").networks == ()
    with pytest.raises(HatobaError, match="is not connected to network front"):
        asyncio.run(world.call("POST", "/networks/front/disconnect", {"Container": "quiet"}))


def test_network_disabled_is_refused_with_what_it_cannot_honour(world: ApiWorld) -> None:
    _create_quiet(world, "other")
    for more, message in (
        ({"HostConfig": {"NetworkMode": "container:other"}}, "with network mode container"),
        ({"HostConfig": {"Links": ["other:o"]}}, "HostConfig.Links with Config.NetworkDisabled"),
    ):
        with pytest.raises(HatobaError, match=message):
            _create_quiet(world, "quiet", **more)
    assert world.engine.state.container_named("quiet") is None
    # a network mode naming no network is never looked at, as in Docker
    _create_quiet(world, "quiet", HostConfig={"NetworkMode": "nowhere"})
