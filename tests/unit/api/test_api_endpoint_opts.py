"""EndpointSettings.DriverOpts, at create and at connect: kept with the container (across a
restart of the service too) and shown in its inspect as Docker shows them (null or {} when
none were asked for)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fixtures.api_world import ApiWorld
from hatoba.model.container import Container
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
