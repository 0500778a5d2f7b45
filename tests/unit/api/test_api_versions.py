"""API versions in the path: every version from the oldest to this server's is served, the
others refused with Docker's words; and what Docker 20.10 answers older clients differently
(AutoRemove before 1.25, a start body, the wait condition before 1.30)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fixtures.api_world import ApiWorld
from hatoba.api.http import Request, Response, Router, Streaming
from hatoba.errors import InvalidArgument
from hatoba.model.container import Container


async def ping(req: Request) -> Response:
    return Response()


@pytest.mark.parametrize("path", ["/_ping", "/v1.41/_ping", "/v1.24/_ping", "/v1.12/_ping"])
def test_versions_this_server_speaks(path: str) -> None:
    router = Router()
    router.add("GET", "/_ping", ping)
    assert router.match("GET", path)[0] is ping


def test_versions_out_of_range_are_refused_as_docker_refuses_them() -> None:
    router = Router()
    router.add("GET", "/_ping", ping)
    with pytest.raises(InvalidArgument) as new:
        router.match("GET", "/v1.42/_ping")
    assert new.value.message == (
        "client version 1.42 is too new. Maximum supported API version is 1.41"
    )
    with pytest.raises(InvalidArgument) as old:
        router.match("GET", "/v1.11/_ping")
    assert old.value.message == (
        "client version 1.11 is too old. Minimum supported API version is 1.12, please "
        "upgrade your client to a newer version"
    )


# --- what Docker 20.10 answers older clients differently ---------------------------------------


@pytest.fixture
def world(tmp_path: Path) -> Iterator[ApiWorld]:
    w = ApiWorld(tmp_path)
    yield w
    w.close()


def created(world: ApiWorld, version: str, body: dict[str, Any]) -> Container:
    answer = asyncio.run(world.call("POST", f"/v{version}/containers/create?name=c1", body))
    assert answer.status == 201, answer.body
    return world.engine.state.container(json.loads(answer.body)["Id"])


def test_auto_remove_is_ignored_before_1_25(world: ApiWorld) -> None:
    body = {"Image": "hostfs", "Cmd": ["true"], "HostConfig": {"AutoRemove": True}}
    assert created(world, "1.24", body).config.auto_remove is False
    asyncio.run(world.call("DELETE", "/containers/c1"))
    assert created(world, "1.25", body).config.auto_remove is True


def test_a_start_body_is_refused_as_docker_refuses_it(world: ApiWorld) -> None:
    made = created(world, "1.41", {"Image": "hostfs", "Cmd": ["true"]})
    host_config = {"Binds": ["/srv:/srv"]}
    for version, message in (
        ("1.41", "starting container with non-empty request body was deprecated since API v1.22"),
        ("1.23", "hatoba does not take a HostConfig in a start request (API before 1.24)"),
    ):
        with pytest.raises(InvalidArgument, match=re.escape(message)):
            asyncio.run(world.call("POST", f"/v{version}/containers/c1/start", host_config))
    assert world.engine.state.container(made.id).state.status == "created"


def test_a_wait_condition_is_read_from_1_30_on(world: ApiWorld) -> None:
    created(world, "1.41", {"Image": "hostfs", "Cmd": ["true"]})
    with pytest.raises(InvalidArgument, match="invalid condition: later"):
        asyncio.run(world.answer("POST", "/v1.30/containers/c1/wait?condition=later"))

    async def waited() -> bytes:
        answer = await world.answer("POST", "/v1.29/containers/c1/wait?condition=later")
        assert isinstance(answer, Streaming)
        return b"".join([chunk async for chunk in answer.chunks])

    assert json.loads(asyncio.run(waited())) == {"StatusCode": 0, "Error": None}
