"""API versions in the path: every version from the oldest to this server's is served, the
others refused with Docker's words; and what Docker 20.10 answers older clients differently,
one test per row of docs/architecture.md "API versions" that hatoba implements (stats: in
test_api_usage.py)."""

from __future__ import annotations

import asyncio
import json
import re
import socket
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from fixtures.api_world import ApiWorld, NoImages
from hatoba.api import host_facts
from hatoba.api.http import Request, Response, Router, Server, Streaming
from hatoba.errors import Conflict, HatobaError, InvalidArgument, NotFound
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


def answer(world: ApiWorld, method: str, target: str, body: Any = None) -> Any:
    reply = asyncio.run(world.call(method, target, body))
    return json.loads(reply.body) if reply.body else None


def test_kernel_memory_tcp_is_ignored_before_1_40(world: ApiWorld) -> None:
    """(BindOptions.NonRecursive before 1.40: tests/e2e/test_api_old_versions.py, with storage)"""
    body = {"Image": "hostfs", "Cmd": ["true"], "HostConfig": {"KernelMemoryTCP": 1 << 20}}
    created(world, "1.39", body)
    with pytest.raises(InvalidArgument, match="HostConfig.KernelMemoryTCP"):
        asyncio.run(world.call("POST", "/v1.40/containers/create?name=c2", body))


def test_a_create_platform_is_read_from_1_41_on(world: ApiWorld) -> None:
    body = {"Image": "hostfs", "Cmd": ["true"]}
    reply = asyncio.run(world.call("POST", "/v1.40/containers/create?platform=windows/amd64", body))
    assert reply.status == 201
    with pytest.raises(HatobaError, match="windows"):
        asyncio.run(
            world.call("POST", "/v1.41/containers/create?platform=windows/amd64&name=c2", body)
        )


def test_inspect_has_the_shape_of_the_version_asked_for(world: ApiWorld) -> None:
    """(Volumes of a bind before 1.20: tests/e2e/test_api_old_versions.py, with storage)"""
    body = {"Image": "hostfs", "Cmd": ["true"], "HostConfig": {"Memory": 1 << 26}}
    created(world, "1.41", body)
    current = answer(world, "GET", "/v1.21/containers/c1/json?size=1")
    assert "Networks" in current["NetworkSettings"] and "Mounts" in current
    assert "SizeRw" in current and "VolumeDriver" not in current["Config"]
    v120 = answer(world, "GET", "/v1.20/containers/c1/json?size=1")
    assert "Networks" not in v120["NetworkSettings"] and "SizeRw" not in v120
    assert v120["Mounts"] == current["Mounts"]
    assert (v120["Config"]["VolumeDriver"], v120["Config"]["MacAddress"]) == ("", "")
    assert v120["Config"]["NetworkDisabled"] is False and "Memory" not in v120["Config"]
    v119 = answer(world, "GET", "/v1.19/containers/c1/json")
    assert "Mounts" not in v119 and "Networks" not in v119["NetworkSettings"]
    assert v119["Volumes"] == {} and v119["VolumesRW"] == {}
    assert {k: v119["Config"][k] for k in ("Memory", "MemorySwap", "CpuShares", "Cpuset")} == {
        "Memory": 1 << 26,
        "MemorySwap": current["HostConfig"]["MemorySwap"],
        "CpuShares": 0,
        "Cpuset": "",
    }


def test_killing_a_stopped_container_is_no_error_before_1_20(world: ApiWorld) -> None:
    created(world, "1.41", {"Image": "hostfs", "Cmd": ["true"]})
    assert asyncio.run(world.call("POST", "/v1.19/containers/c1/kill")).status == 204
    with pytest.raises(Conflict, match="is not running"):
        asyncio.run(world.call("POST", "/v1.20/containers/c1/kill"))


def test_a_wait_before_1_30_sends_its_head_with_its_body(world: ApiWorld) -> None:
    created(world, "1.41", {"Image": "hostfs", "Cmd": ["true"]})
    for version, late in (("1.29", True), ("1.30", False)):
        waiting = asyncio.run(world.answer("POST", f"/v{version}/containers/c1/wait"))
        assert isinstance(waiting, Streaming) and waiting.head_with_body is late
        asyncio.run(waiting.chunks.aclose())  # type: ignore[attr-defined]


def test_update_reads_pids_limit_from_1_40_on(world: ApiWorld) -> None:
    created(world, "1.41", {"Image": "hostfs", "Cmd": ["true"]})

    def pids_limit(version: str) -> int:
        asyncio.run(
            world.call(
                "POST", f"/v{version}/containers/c1/update", {"PidsLimit": 50 + int(version[2:])}
            )
        )
        return world.engine.state.container("c1").config.resources.pids_limit

    assert pids_limit("1.39") == 0
    assert pids_limit("1.40") == 90


def test_networks_are_listed_with_their_containers_before_1_28(world: ApiWorld) -> None:
    made = created(world, "1.41", {"Image": "hostfs", "Cmd": ["true"]})
    world.engine.start(made.id)

    def bridge(version: str) -> dict[str, Any]:
        return next(
            n for n in answer(world, "GET", f"/v{version}/networks") if n["Name"] == "bridge"
        )

    assert list(bridge("1.27")["Containers"]) == [made.id]
    assert bridge("1.28")["Containers"] == {}


def test_an_image_listing_reads_filter_before_1_41(tmp_path: Path) -> None:
    asked: list[dict[str, list[str]]] = []

    class Catalog(NoImages):
        def summaries(self, filters: Mapping[str, Sequence[str]]) -> list[dict[str, Any]]:
            asked.append({k: list(v) for k, v in filters.items()})
            return []

    world = ApiWorld(tmp_path, images=Catalog())
    try:
        answer(world, "GET", "/v1.40/images/json?filter=alpine")
        answer(world, "GET", "/v1.41/images/json?filter=alpine")
    finally:
        world.close()
    assert asked == [{"reference": ["alpine"]}, {}]


def test_info_for_old_clients(world: ApiWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    facts = host_facts.host_info()
    monkeypatch.setattr(host_facts, "host_info", lambda: {**facts, "KernelVersion": ""})
    v124 = answer(world, "GET", "/v1.24/info")
    assert v124["ExecutionDriver"] == "<not supported>" and v124["KernelVersion"] == "<unknown>"
    v138 = answer(world, "GET", "/v1.38/info")
    assert "ExecutionDriver" not in v138 and v138["KernelVersion"] == "<unknown>"
    assert v138["OperatingSystem"] == facts["OperatingSystem"]
    assert answer(world, "GET", "/v1.39/info")["KernelVersion"] == ""


def test_copy_is_served_before_1_24_and_points_to_archive_after(world: ApiWorld) -> None:
    created(world, "1.41", {"Image": "hostfs", "Cmd": ["true"]})
    with pytest.raises(InvalidArgument, match="^Path cannot be empty$"):
        asyncio.run(world.call("POST", "/v1.23/containers/c1/copy", {"Resource": ""}))
    with pytest.raises(InvalidArgument, match="got EOF while reading request body"):
        asyncio.run(world.call("POST", "/v1.23/containers/c1/copy"))
    with pytest.raises(NotFound, match="GET /containers/{id}/archive"):
        asyncio.run(world.call("POST", "/v1.24/containers/c1/copy", {"Resource": "/etc"}))


# --- the server: errors in plain text, and a head sent with the body ----------------------------


def exchange(path: Path, raw: bytes) -> bytes:
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(path))
        s.sendall(raw)
        chunks = []
        while data := s.recv(1 << 16):
            chunks.append(data)
    return b"".join(chunks)


def test_errors_are_plain_text_for_clients_of_1_23_and_before(tmp_path: Path) -> None:
    async def missing(req: Request) -> Response:
        raise NotFound("No such container: web")

    router = Router()
    router.add("GET", "/containers/{id}/json", missing)
    sock = tmp_path / "api.sock"

    async def main() -> list[bytes]:
        server = Server(router, [])
        await server.listen(str(sock))
        try:
            return [
                await asyncio.to_thread(
                    exchange,
                    sock,
                    f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode(),
                )
                for path in (
                    "/v1.23/containers/web/json",
                    "/v1.11/_ping",
                    "/v1.24/containers/web/json",
                )
            ]
        finally:
            await server.close()

    old, too_old, current = asyncio.run(main())
    assert old.startswith(b"HTTP/1.1 404 ")
    assert b"Content-Type: text/plain; charset=utf-8\r\n" in old
    assert old.endswith(b"\r\n\r\nNo such container: web\n")
    assert too_old.startswith(b"HTTP/1.1 400 ") and too_old.endswith(
        b"Minimum supported API version is 1.12, please upgrade your client to a newer version\n"
    )
    assert current.endswith(b'\r\n\r\n{"message": "No such container: web"}\n')


def test_a_head_with_body_waits_for_the_first_chunk(tmp_path: Path) -> None:
    async def main() -> tuple[bytes, bytes]:
        begun, release = asyncio.Event(), asyncio.Event()

        async def body() -> AsyncIterator[bytes]:
            begun.set()
            await release.wait()
            yield b'{"StatusCode": 0}'

        async def wait(req: Request) -> Streaming:
            return Streaming(body(), head_with_body=True)

        router = Router()
        router.add("POST", "/wait", wait)
        sock = tmp_path / "api.sock"
        server = Server(router, [])
        await server.listen(str(sock))
        client = socket.socket(socket.AF_UNIX)
        try:
            client.connect(str(sock))
            client.sendall(b"POST /wait HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            async with asyncio.timeout(30):  # (a server that fails the route never begins)
                await begun.wait()
            await asyncio.sleep(0)  # (the head, when sent at once, was sent before the body began)
            client.setblocking(False)
            try:
                early = client.recv(1 << 16)
            except BlockingIOError:
                early = b""
            client.setblocking(True)
            release.set()
            rest = await asyncio.to_thread(_read_all, client)
            return early, rest
        finally:
            client.close()
            await server.close()

    early, rest = asyncio.run(main())
    assert early == b""
    assert rest.startswith(b"HTTP/1.1 200 ") and b'{"StatusCode": 0}' in rest


def _read_all(client: socket.socket) -> bytes:
    chunks = []
    while data := client.recv(1 << 16):
        chunks.append(data)
    return b"".join(chunks)
