"""The answers a client reads before and around its real work, as Docker 20.10 gives them:
/_ping's headers (GET and HEAD), /version and /info with every key of the v1.41 reference,
swarm requests refused 503 as a non-swarm Docker refuses them, and builds, pulls and registry
lookups refused with what to do instead. None of them changes anything."""

from __future__ import annotations

import json
import platform
import tempfile
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from served_world import ServedWorld, exchange

from hatoba.api.routes_absent import NO_BUILDER, NO_SWARM_MODE, NOT_A_MANAGER, NOT_IN_SWARM
from hatoba.model.platforms import goarch

SPEC = Path(__file__).parents[2] / "fixtures" / "specs" / "docker-engine-api-v1.41.yaml"


@cache
def definitions() -> dict[str, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with SPEC.open() as f:
        return yaml.load(f, Loader=loader)["definitions"]  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def world() -> Iterator[ServedWorld]:
    with (
        tempfile.TemporaryDirectory(prefix="hatoba-surface-") as directory,
        ServedWorld(Path(directory)) as world,
    ):
        yield world


def ask(world: ServedWorld, method: str, target: str, body: bytes = b"") -> Any:
    head = f"{method} {target} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n"
    before = world.snapshot()
    reply = exchange(world.socket, head.encode() + body, method)
    assert reply is not None
    assert world.snapshot() == before
    return reply


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_ping_headers_are_dockers(world: ServedWorld, method: str) -> None:
    reply = ask(world, method, "/_ping")
    assert reply.status == 200
    assert reply.headers["api-version"] == "1.41"
    assert reply.headers["ostype"] == "linux"
    assert reply.headers["builder-version"] == "1"
    assert reply.headers["docker-experimental"] == "false"
    assert reply.headers["cache-control"] == "no-cache, no-store, must-revalidate"
    assert reply.headers["pragma"] == "no-cache"
    assert reply.headers["content-type"] == "text/plain; charset=utf-8"
    if method == "HEAD":
        assert reply.headers["content-length"] == "0"
    else:
        assert reply.body == b"OK"


def test_version_has_every_key_of_the_reference(world: ServedWorld) -> None:
    reply = ask(world, "GET", "/v1.41/version")
    doc = json.loads(reply.body)
    assert set(definitions()["SystemVersion"]["properties"]) <= set(doc)
    assert doc["ApiVersion"] == "1.41"
    assert doc["MinAPIVersion"] == "1.12"
    assert doc["Os"] == "linux"
    # Go's GOARCH names, as Docker's /version says them
    assert doc["Arch"] in ("amd64", "arm64", "arm", "386", "ppc64le", "s390x", "riscv64")
    engine = doc["Components"][0]
    assert engine["Name"] == "Engine"
    assert engine["Details"]["Arch"] == doc["Arch"]


def test_info_has_every_key_of_the_reference(world: ServedWorld) -> None:
    doc = json.loads(ask(world, "GET", "/v1.41/info").body)
    assert set(definitions()["SystemInfo"]["properties"]) <= set(doc)
    assert set(definitions()["PluginsInfo"]["properties"]) <= set(doc["Plugins"])
    assert doc["ExperimentalBuild"] is False
    assert doc["Swarm"]["LocalNodeState"] == "inactive"
    assert doc["CgroupVersion"] in ("1", "2")
    assert doc["MemTotal"] > 0
    assert doc["SystemTime"].endswith("Z")
    assert isinstance(doc["IPv4Forwarding"], bool)


@pytest.mark.parametrize("version", ["1.12", "1.24", "1.40", "1.41"])
def test_every_version_up_to_the_servers_is_served(world: ServedWorld, version: str) -> None:
    assert ask(world, "GET", f"/v{version}/_ping").status == 200


def test_a_version_above_the_servers_is_refused_with_dockers_words(world: ServedWorld) -> None:
    reply = ask(world, "GET", "/v1.42/version")
    assert reply.status == 400
    assert json.loads(reply.body)["message"] == (
        "client version 1.42 is too new. Maximum supported API version is 1.41"
    )


@pytest.mark.parametrize(
    ("method", "target", "message"),
    [
        ("POST", "/v1.41/swarm/leave?force=1", NOT_IN_SWARM),
        ("POST", "/swarm/leave", NOT_IN_SWARM),
        ("GET", "/swarm", NOT_A_MANAGER),
        ("GET", "/swarm/unlockkey", NOT_A_MANAGER),
        ("POST", "/swarm/unlock", NOT_A_MANAGER),
        ("POST", "/swarm/update?version=1", NOT_A_MANAGER),
        ("GET", "/services", NOT_A_MANAGER),
        ("GET", "/services/web/logs", NOT_A_MANAGER),
        ("POST", "/services/create", NOT_A_MANAGER),
        ("GET", "/nodes", NOT_A_MANAGER),
        ("DELETE", "/nodes/n1", NOT_A_MANAGER),
        ("GET", "/tasks", NOT_A_MANAGER),
        ("GET", "/secrets", NOT_A_MANAGER),
        ("POST", "/configs/create", NOT_A_MANAGER),
        ("POST", "/swarm/init", NO_SWARM_MODE),
        ("POST", "/swarm/join", NO_SWARM_MODE),
    ],
)
def test_swarm_requests_are_503_as_on_a_docker_in_no_swarm(
    world: ServedWorld, method: str, target: str, message: str
) -> None:
    reply = ask(world, method, target, b"{}" if method == "POST" else b"")
    assert reply.status == 503
    assert json.loads(reply.body)["message"] == message


def test_a_build_fails_in_its_stream_as_dockers_classic_builder_reports(
    world: ServedWorld,
) -> None:
    reply = ask(world, "POST", "/v1.41/build?t=app", b"a build context" * 1000)
    assert reply.status == 200
    lines = [json.loads(line) for line in reply.body.splitlines()]
    assert lines == [{"errorDetail": {"message": NO_BUILDER}, "error": NO_BUILDER}]
    assert "docker load" in NO_BUILDER and "docker import" in NO_BUILDER


@pytest.mark.parametrize(
    ("target", "reference"),
    [
        ("/images/create?fromImage=nginx&tag=1.25", "nginx:1.25"),
        ("/images/create?fromImage=registry.example%3A5000/app", "registry.example:5000/app"),
        ("/distribution/library/nginx:latest/json", "library/nginx:latest"),
    ],
)
def test_pulls_and_registry_lookups_say_no_registry_is_reachable(
    world: ServedWorld, target: str, reference: str
) -> None:
    method = "GET" if target.startswith("/distribution") else "POST"
    reply = ask(world, method, target)
    assert reply.status == 404
    message = json.loads(reply.body)["message"]
    assert message.startswith(f"cannot pull {reference}: no registry is reachable from hatoba;")
    assert "docker load" in message and "docker import" in message


def test_a_create_for_another_platform_is_refused_before_anything_is_made(
    world: ServedWorld,
) -> None:
    body = json.dumps({"Image": "alpine", "Cmd": ["true"]}).encode()
    reply = ask(world, "POST", "/v1.41/containers/create?platform=linux/s390x", body)
    assert reply.status == 404
    assert json.loads(reply.body)["message"] == (
        "image with reference alpine was found but does not match the specified platform: "
        f"wanted linux/s390x, actual: linux/{goarch(platform.machine())}"
    )
    reply = ask(world, "POST", "/v1.41/containers/create?platform=linux/nonsense", body)
    assert reply.status == 400


def test_size_is_answered_where_it_is_asked_for(world: ServedWorld) -> None:
    listed = json.loads(ask(world, "GET", "/containers/json?all=1&size=1").body)
    web = next(c for c in listed if c["Names"] == ["/web"])
    image = json.loads(ask(world, "GET", "/images/alpine/json").body)
    assert image["Size"] > 0
    assert (web["SizeRw"], web["SizeRootFs"]) == (0, image["Size"])
    assert "SizeRw" not in json.loads(ask(world, "GET", "/containers/json?all=1").body)[0]
    doc = json.loads(ask(world, "GET", "/containers/web/json?size=1").body)
    assert (doc["SizeRw"], doc["SizeRootFs"]) == (0, image["Size"])
    assert "SizeRw" not in json.loads(ask(world, "GET", "/containers/web/json").body)
