"""Container inspect as clients read it: the aliases Docker shows before and after an endpoint
is connected (docker-compose decides from them whether to reconnect a new container), links
and a MAC address asked for, echoed."""

from __future__ import annotations

from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest

from fakes import fake_engine
from hatoba.api import docker_json
from hatoba.api.json_body import Json
from hatoba.drivers import registry
from hatoba.drivers.base import Placement
from hatoba.engine.engine import Engine
from hatoba.engine.state import State
from hatoba.errors import InvalidArgument
from hatoba.model.cluster import ClusterHost
from hatoba.model.network import NetworkSpec


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = fake_engine(tmp_path)
    engine.create_network(NetworkSpec(name="proj_default"))
    return engine


def create(engine: Engine, name: str, body: dict[str, Any]) -> str:
    body = {"Image": "hostfs", "Cmd": ["sleep", "1"], **body}
    return engine.create_container(docker_json.create_request(Json(body, ""), name)).id


def network_json(engine: Engine, ref: str, network: str = "proj_default") -> dict[str, Any]:
    doc = docker_json.container_json(
        engine.container(ref),
        engine.state,
        log_path="",
        files_dir="",
        sandbox_dir="",
        volume_path=str,
    )
    return doc["NetworkSettings"]["Networks"][network]  # type: ignore[no-any-return]


def compose_body(service: str, **endpoint: Any) -> dict[str, Any]:
    return {
        "HostConfig": {"NetworkMode": "proj_default"},
        "NetworkingConfig": {
            "EndpointsConfig": {"proj_default": {"Aliases": [service], **endpoint}}
        },
    }


def test_the_short_id_joins_the_aliases_when_the_endpoint_is_connected(engine: Engine) -> None:
    cid = create(engine, "proj_web_1", compose_body("web"))
    # created, never started: as asked (docker-compose then reconnects it with its short id)
    assert network_json(engine, cid)["Aliases"] == ["web"]
    engine.disconnect("proj_default", cid)
    engine.connect("proj_default", cid, aliases=("web", cid[:12]))
    assert network_json(engine, cid)["Aliases"] == ["web", cid[:12]]
    other = create(engine, "proj_db_1", compose_body("db"))
    engine.start(other)
    assert network_json(engine, other)["Aliases"] == ["db", other[:12]]
    bare = create(engine, "bare", {"HostConfig": {"NetworkMode": "proj_default"}})
    assert network_json(engine, bare)["Aliases"] is None


def test_links_and_mac_address_are_echoed(engine: Engine) -> None:
    db = create(engine, "proj_db_1", compose_body("db"))
    body = compose_body("web", Links=["proj_db_1:db", "proj_db_1"])
    web = create(engine, "proj_web_1", {**body, "MacAddress": "02:00:00:00:00:0A"})
    assert network_json(engine, web)["Links"] == ["proj_db_1:db", "proj_db_1"]
    assert network_json(engine, db)["Links"] is None
    doc = docker_json.container_json(
        engine.container(web),
        engine.state,
        log_path="",
        files_dir="",
        sandbox_dir="",
        volume_path=str,
    )
    assert doc["Config"]["MacAddress"] == "02:00:00:00:00:0a"
    with pytest.raises(InvalidArgument, match="^bad format for links: a:b:c$"):
        create(engine, "x1", compose_body("x", Links=["a:b:c"]))
    with pytest.raises(InvalidArgument, match="^hatoba does not support links on network bridge"):
        create(
            engine,
            "x2",
            {"NetworkingConfig": {"EndpointsConfig": {"bridge": {"Links": ["proj_db_1:db"]}}}},
        )
    assert {c.name for c in engine.state.containers.values()} == {"proj_db_1", "proj_web_1"}


def test_an_overlay_network_names_its_peers_in_inspect_alone() -> None:
    """Docker's `Peers` of an overlay network: each host with endpoints on it, by name and
    underlay address; a local network has none, nor has the network list."""
    placement = Placement(
        network_id="cd" * 32,
        created="2026-12-06T00:00:00.000000000Z",
        predefined=False,
        uplink_mtu=1500,
        taken=(),
    )
    overlay = registry.named("overlay").plan_network(
        NetworkSpec(name="ov", driver="overlay"), placement
    )
    bridge = registry.named("bridge").plan_network(NetworkSpec(name="br"), placement)
    peers = (
        ClusterHost("a" * 32, IPv4Address("192.0.2.1"), "node1"),
        ClusterHost("b" * 32, IPv4Address("192.0.2.2")),
    )
    inspected = docker_json.network_json(overlay, State(), with_containers=True, peers=peers)
    assert inspected["Peers"] == [
        {"Name": "node1", "IP": "192.0.2.1"},
        {"Name": "b" * 32, "IP": "192.0.2.2"},
    ]
    assert docker_json.network_json(overlay, State(), with_containers=True)["Peers"] == []
    assert "Peers" not in docker_json.network_json(overlay, State(), with_containers=False)
    assert "Peers" not in docker_json.network_json(bridge, State(), with_containers=True)
