"""IPv6 in the Docker JSON: network create bodies (`EnableIPv6`, `EnableIPv4`, several
`IPAM.Config` entries), network and container inspect as Docker >= 27 shows a dual-stack
network and container, `--ip6` in EndpointSettings, and ports held on both families."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from pathlib import Path
from typing import Any

import pytest

from fakes import fake_engine
from hatoba.api import docker_json
from hatoba.api.json_body import Json
from hatoba.engine.engine import Engine
from hatoba.errors import InvalidArgument
from hatoba.model.network import IpamRequest
from hatoba.model.portspec import mappings_from_api, parse_publish


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = fake_engine(tmp_path)
    body = {
        "Name": "dual",
        "EnableIPv6": True,
        "IPAM": {"Config": [{"Subnet": "fd00:10::/64", "Gateway": "fd00:10::fe"}]},
    }
    engine.create_network(docker_json.network_spec(Json(body, "")))
    return engine


def test_a_create_body_with_subnets_of_both_families() -> None:
    body = {
        "Name": "n",
        "EnableIPv6": False,
        "IPAM": {
            "Config": [
                {"Subnet": "fd00:1::/64", "IPRange": "fd00:1::/80"},
                {"Subnet": "10.1.0.0/24", "Gateway": "10.1.0.254"},
            ]
        },
    }
    spec = docker_json.network_spec(Json(body, ""))
    assert spec.ipam == (
        IpamRequest(IPv6Network("fd00:1::/64"), None, IPv6Network("fd00:1::/80")),
        IpamRequest(IPv4Network("10.1.0.0/24"), IPv4Address("10.1.0.254")),
    )
    assert (spec.enable_ipv6, spec.enable_ipv4) == (False, True)
    only6 = docker_json.network_spec(
        Json({"Name": "n", "EnableIPv6": True, "EnableIPv4": False}, "")
    )
    assert (only6.enable_ipv6, only6.enable_ipv4) == (True, False)


def test_network_inspect_of_a_dual_stack_network(engine: Engine) -> None:
    doc = docker_json.network_json(engine.network("dual"), engine.state, with_containers=True)
    assert doc["EnableIPv6"] is True
    # asked for first, as asked; then the IPv4 subnet hatoba chose, with its gateway
    assert doc["IPAM"]["Config"] == [
        {"Subnet": "fd00:10::/64", "Gateway": "fd00:10::fe"},
        {"Subnet": "172.18.0.0/16", "Gateway": "172.18.0.1"},
    ]
    cid = create(engine, "c1", ip6="fd00:10::9")
    engine.start(cid)
    doc = docker_json.network_json(engine.network("dual"), engine.state, with_containers=True)
    member = doc["Containers"][cid]
    assert (member["IPv4Address"], member["IPv6Address"]) == ("172.18.0.2/16", "fd00:10::9/64")
    bridge = docker_json.network_json(engine.network("bridge"), engine.state, with_containers=True)
    assert bridge["EnableIPv6"] is False and bridge["IPAM"]["Config"] == [
        {"Subnet": "172.17.0.0/16"}
    ]


def create(engine: Engine, name: str, *, ip6: str = "") -> str:
    ipam = {"IPv6Address": ip6} if ip6 else {}
    body: dict[str, Any] = {
        "Image": "hostfs",
        "Cmd": ["sleep", "1"],
        "HostConfig": {"NetworkMode": "dual"},
        "NetworkingConfig": {"EndpointsConfig": {"dual": {"IPAMConfig": ipam}}},
    }
    return engine.create_container(docker_json.create_request(Json(body, ""), name)).id


def inspect(engine: Engine, ref: str) -> dict[str, Any]:
    return docker_json.container_json(
        engine.container(ref),
        engine.state,
        log_path="",
        files_dir="",
        sandbox_dir="",
        volume_path=str,
    )


def test_container_inspect_shows_the_ipv6_endpoint_as_docker_does(engine: Engine) -> None:
    cid = create(engine, "c1", ip6="fd00:10::9")
    created = inspect(engine, cid)["NetworkSettings"]["Networks"]["dual"]
    assert created["IPAMConfig"] == {"IPv6Address": "fd00:10::9"}
    assert created["GlobalIPv6Address"] == ""  # no endpoint before the start
    engine.start(cid)
    settings = inspect(engine, cid)["NetworkSettings"]
    endpoint = settings["Networks"]["dual"]
    assert {
        k: endpoint[k] for k in ("IPv6Gateway", "GlobalIPv6Address", "GlobalIPv6PrefixLen")
    } == {
        "IPv6Gateway": "fd00:10::fe",
        "GlobalIPv6Address": "fd00:10::9",
        "GlobalIPv6PrefixLen": 64,
    }
    # the top-level fields are the default bridge's alone, as in Docker
    assert (settings["GlobalIPv6Address"], settings["LinkLocalIPv6Address"]) == ("", "")


def test_ports_on_no_host_address_show_both_families(engine: Engine) -> None:
    cid = create(engine, "web")
    held = mappings_from_api(
        parse_publish(["8000:80", "[::1]:8001:80", "0.0.0.0:8002:80"])[1], None, False
    )
    ports = docker_json.ports_json(engine.container(cid), held)["80/tcp"]
    assert [(p["HostIp"], p["HostPort"]) for p in ports] == [
        ("0.0.0.0", "8000"),
        ("::", "8000"),
        ("::1", "8001"),
        ("0.0.0.0", "8002"),
    ]
    listed = docker_json.container_summary(engine.container(cid), engine.state, str, held)["Ports"]
    assert [(p["IP"], p["PublicPort"]) for p in listed] == [
        ("0.0.0.0", 8000),
        ("::", 8000),
        ("::1", 8001),
        ("0.0.0.0", 8002),
    ]


@pytest.mark.parametrize(
    ("text", "version", "error"),
    [
        ("10.0.0.5", 6, "^invalid IPv6 address: 10.0.0.5$"),
        ("fd00::5", 4, "^invalid IPv4 address: fd00::5$"),
        ("nowhere", 6, "^invalid IPv6 address: nowhere$"),
    ],
)
def test_an_address_of_the_wrong_family_is_refused(text: str, version: int, error: str) -> None:
    with pytest.raises(InvalidArgument, match=error):
        docker_json.requested_address(text, version)


def test_the_endpoint_settings_of_both_families() -> None:
    ipam = {"IPAMConfig": {"IPv4Address": "10.0.0.5", "IPv6Address": "fd00::5"}}
    request = docker_json.endpoint_request("n", Json(ipam, "EndpointConfig"))
    assert (request.ipv4, request.ipv6) == (IPv4Address("10.0.0.5"), IPv6Address("fd00::5"))
    bare = docker_json.endpoint_request("n", Json(None, "EndpointConfig"))
    assert (bare.ipv4, bare.ipv6) == (None, None)
