"""/networks as Docker answers it: every option of a create applied or refused by name,
names as Docker allows them, filters as Docker accepts them, an endpoint's MAC address."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from fakes import FakeKernel
from fixtures.api_world import ApiWorld
from hatoba.errors import Conflict, Forbidden, HatobaError, InvalidArgument


@pytest.fixture
def world(tmp_path: Path) -> Iterator[ApiWorld]:
    w = ApiWorld(tmp_path)
    yield w
    w.close()


def call(world: ApiWorld, method: str, target: str, body: Any = None) -> Any:
    answer = asyncio.run(world.call(method, target, body))
    return (
        json.loads(answer.body) if answer.body and answer.content_type.startswith("app") else None
    )


def create(world: ApiWorld, name: str, **body: Any) -> str:
    return str(call(world, "POST", "/networks/create", {"Name": name, **body})["Id"])


def names(world: ApiWorld, filters: dict[str, list[str]], verb: str = "GET") -> list[str]:
    query = "filters=" + json.dumps(filters)
    if verb == "POST":
        return list(call(world, "POST", "/networks/prune?" + query)["NetworksDeleted"])
    return [n["Name"] for n in call(world, "GET", "/networks?" + query)]


def run(world: ApiWorld, name: str, network: str, **body: Any) -> str:
    request = {"Image": "hostfs", "Cmd": ["sleep", "1d"], **body}
    request.setdefault("HostConfig", {})["NetworkMode"] = network
    cid = call(world, "POST", f"/containers/create?name={name}", request)["Id"]
    return world.engine.start(cid).id


def test_aux_addresses_are_shown_and_never_handed_out(world: ApiWorld) -> None:
    ipam = {
        "Config": [
            {
                "Subnet": "10.20.0.0/29",
                "Gateway": "10.20.0.1",
                "AuxiliaryAddresses": {"router": "10.20.0.2", "nas": "10.20.0.4"},
            }
        ]
    }
    create(world, "lan", IPAM=ipam)
    shown = call(world, "GET", "/networks/lan")["IPAM"]["Config"]
    assert shown == ipam["Config"]
    given = [world.engine.container(run(world, f"c{n}", "lan")).endpoints[0].ipv4 for n in range(3)]
    assert [str(a) for a in given] == ["10.20.0.3", "10.20.0.5", "10.20.0.6"]
    with pytest.raises(Conflict, match="^Address already in use$"):
        run(
            world,
            "static",
            "lan",
            NetworkingConfig={
                "EndpointsConfig": {"lan": {"IPAMConfig": {"IPv4Address": "10.20.0.4"}}}
            },
        )


@pytest.mark.parametrize(
    ("config", "error", "message"),
    [
        (
            {"Subnet": "10.20.0.0/24", "AuxiliaryAddresses": {"r": "10.30.0.2"}},
            Forbidden,
            "auxiliary address: (r:10.30.0.2) must belong to the master pool: 10.20.0.0/24",
        ),
        (
            {"Subnet": "10.20.0.0/24", "AuxiliaryAddresses": {"r": "10.20.0.1"}},
            Conflict,
            "failed to allocate secondary ip address (r:10.20.0.1): Address already in use",
        ),
        (
            {"Subnet": "10.20.0.0/24", "AuxiliaryAddresses": {"r": "ten"}},
            InvalidArgument,
            "non parsable secondary ip address (r:ten) passed for network bad",
        ),
        (
            {"AuxiliaryAddresses": {"r": "10.20.0.2"}},
            InvalidArgument,
            "every ip-range or gateway must have a corresponding subnet",
        ),
    ],
    ids=["outside", "gateway", "unparsable", "no-subnet"],
)
def test_bad_aux_addresses_are_refused_and_make_nothing(
    world: ApiWorld, config: dict[str, Any], error: type[HatobaError], message: str
) -> None:
    before = dict(world.engine.state.networks)
    with pytest.raises(error) as refused:
        create(world, "bad", IPAM={"Config": [config]})
    assert refused.value.message == message
    assert dict(world.engine.state.networks) == before


def test_a_create_hands_off_to_the_engine_thread_once(
    world: ApiWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The network and its Warning in one pass through the engine thread (each hand-off
    costs a pass through the event loop)."""
    handed: list[object] = []
    hand_off = world.runner.call

    async def counted(fn: Any, *args: Any, **kwargs: Any) -> Any:
        handed.append(fn)
        return await hand_off(fn, *args, **kwargs)

    monkeypatch.setattr(world.runner, "call", counted)
    answer = call(world, "POST", "/networks/create", {"Name": "web"})
    assert answer == {"Id": world.engine.state.network("web").id, "Warning": ""}
    assert len(handed) == 1


def test_attachable_is_recorded_and_shown(world: ApiWorld) -> None:
    create(world, "open", Attachable=True)
    create(world, "closed")
    assert call(world, "GET", "/networks/open")["Attachable"] is True
    assert call(world, "GET", "/networks/closed")["Attachable"] is False


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"com.docker.network.bridge.nmae": "br0", "foo": "1"},
            "unknown option(s) for the bridge driver: com.docker.network.bridge.nmae, foo "
            "(it knows com.docker.network.bridge.enable_icc, "
            "com.docker.network.bridge.enable_ip_masquerade, "
            "com.docker.network.bridge.host_binding_ipv4, com.docker.network.bridge.name, "
            "com.docker.network.driver.mtu)",
        ),
        (
            {"com.docker.network.container_iface_prefix": "lan"},
            "hatoba does not support com.docker.network.container_iface_prefix yet",
        ),
        (
            {"com.docker.network.bridge.host_binding_ipv4": "localhost"},
            "failed to parse com.docker.network.bridge.host_binding_ipv4 value: 'localhost'",
        ),
    ],
    ids=["unknown", "not-built", "bad-binding"],
)
def test_driver_options_are_applied_or_refused_by_name(
    world: ApiWorld, options: dict[str, str], message: str
) -> None:
    before = dict(world.engine.state.networks)
    with pytest.raises(InvalidArgument) as refused:
        create(world, "opts", Options=options)
    assert refused.value.message == message
    assert dict(world.engine.state.networks) == before


def test_names_as_docker_allows_them_reach_every_route(world: ApiWorld) -> None:
    for n, name in enumerate(("my net", "team/a")):
        nid = create(world, name)
        path = "/networks/" + quote(name, safe="/")
        assert call(world, "GET", path)["Id"] == nid
        cid = run(world, f"in{n}", "bridge")
        call(world, "POST", path + "/connect", {"Container": cid})
        assert call(world, "GET", path)["Containers"][cid]["Name"] == f"in{n}"
        call(world, "POST", path + "/disconnect", {"Container": cid})
        call(world, "DELETE", path)
        assert world.engine.state.network_by_name(name) is None
    with pytest.raises(InvalidArgument, match="^invalid name:  $"):
        create(world, " ")
    with pytest.raises(Forbidden, match="^operation is not permitted on predefined default"):
        create(world, "default")


def test_ls_filters_dangling_and_scope_and_refuses_unknown_ones(world: ApiWorld) -> None:
    create(world, "used")
    create(world, "idle")
    run(world, "member", "used")
    assert names(world, {"dangling": ["true"]}) == ["idle"]
    assert names(world, {"dangling": ["0"]}) == ["bridge", "host", "none", "used"]
    assert names(world, {"scope": ["local"], "name": ["dl"]}) == ["idle"]
    assert names(world, {"scope": ["swarm"]}) == []
    refusals = [
        (
            {"dangling": ["yes"]},
            'invalid value for filter \'dangling\', must be "true" (or "1"), or "false" (or "0")',
        ),
        ({"dangling": ["1", "0"]}, 'got more than one value for filter key "dangling"'),
        ({"colour": ["red"]}, "invalid filter 'colour'"),
        ({"until": ["1h"]}, "invalid filter 'until'"),
    ]
    for filters, message in refusals:
        with pytest.raises(InvalidArgument) as refused:
            names(world, filters)
        assert refused.value.message == message


def test_prune_takes_until_label_and_not_label_only(world: ApiWorld) -> None:
    create(world, "keep", Labels={"keep": "yes"})
    create(world, "old")
    assert names(world, {"until": ["2000-01-01T00:00:00Z"]}, "POST") == []
    with pytest.raises(InvalidArgument, match="^invalid filter 'name'$"):
        names(world, {"name": ["old"]}, "POST")
    assert names(world, {"label!": ["keep=yes"]}, "POST") == ["old"]
    assert names(world, {"label": ["keep"]}, "POST") == ["keep"]


def test_an_endpoints_mac_address_is_applied_at_create_and_connect(world: ApiWorld) -> None:
    create(world, "lan")
    create(world, "back")
    endpoints = {"lan": {"MacAddress": "02:00:00:00:00:0A"}}
    cid = run(world, "web", "lan", NetworkingConfig={"EndpointsConfig": endpoints})
    call(
        world,
        "POST",
        "/networks/back/connect",
        {"Container": cid, "EndpointConfig": {"MacAddress": "02:00:00:00:00:0b"}},
    )
    shown = call(world, "GET", f"/containers/{cid}/json")["NetworkSettings"]["Networks"]
    assert (shown["lan"]["MacAddress"], shown["back"]["MacAddress"]) == (
        "02:00:00:00:00:0a",
        "02:00:00:00:00:0b",
    )
    kernel = world.engine.core.kernel
    assert isinstance(kernel, FakeKernel)
    requests = [r.mac for reqs in kernel.attached.values() for r in reqs]
    assert requests[-2:] == ["02:00:00:00:00:0a", "02:00:00:00:00:0b"]
    with pytest.raises(InvalidArgument, match="must match the endpoint-specific MAC address"):
        run(
            world,
            "clash",
            "lan",
            MacAddress="02:00:00:00:00:0c",
            NetworkingConfig={"EndpointsConfig": {"lan": {"MacAddress": "02:00:00:00:00:0d"}}},
        )
    with pytest.raises(InvalidArgument, match="^conflicting options: mac-address and the network"):
        run(
            world,
            "hosted",
            "host",
            NetworkingConfig={"EndpointsConfig": {"host": {"MacAddress": "02:00:00:00:00:0e"}}},
        )


def test_swarm_and_plugin_settings_are_refused_by_name(world: ApiWorld) -> None:
    # what the docker CLI sends for a plain `network create`
    create(world, "plain", IPAM={"Driver": "default", "Options": {}, "Config": []}, Scope="",
           Ingress=False, ConfigOnly=False, ConfigFrom=None)  # fmt: skip
    before = dict(world.engine.state.networks)
    with pytest.raises(InvalidArgument) as refused:
        create(world, "swarmy", IPAM={"Driver": "dhcp", "Options": {"a": "1"}}, Scope="swarm",
               Ingress=True, ConfigOnly=True, ConfigFrom={"Network": "base"})  # fmt: skip
    assert refused.value.message == (
        "hatoba does not support IPAM.Driver, IPAM.Options, Scope, Ingress, ConfigOnly, "
        "ConfigFrom yet"
    )
    assert dict(world.engine.state.networks) == before
