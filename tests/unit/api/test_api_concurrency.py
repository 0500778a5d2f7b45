"""Reads never queue behind writes, and long image work never holds up the engine's worker.

The App is built on the engine with fake adapters; routes are called as the server calls
them. A blocked engine worker stands for a slow operation (a big `network rm`, a burst of
`run -d`); a blocked import stands for a 400 MB image arriving.
"""

from __future__ import annotations

import asyncio
import io
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import pytest

from fakes import FakeImages, FakeKernel, FakeRuntime, MemoryStore
from hatoba.api.app import App
from hatoba.api.attach import Attacher
from hatoba.api.execs import Execs
from hatoba.api.http import Request, Response
from hatoba.api.runner import EngineRunner
from hatoba.api.supervisor import Supervisor
from hatoba.engine.containers import CreateRequest
from hatoba.engine.core import Paths
from hatoba.engine.engine import Engine
from hatoba.engine.state import State
from hatoba.model.container import ContainerConfig
from hatoba.model.network import NetworkSpec

QUICK = 2.0  # seconds: far more than any of these answers needs, far less than "blocked"


class _NoIO:
    def attach_socket(self, container_id: str) -> Path:
        return Path("/nonexistent")

    def log_path(self, container_id: str) -> Path:
        return Path("/nonexistent")

    def file_path(self, container_id: str, container_path: str) -> Path:
        return Path("/nonexistent") / container_path.lstrip("/")

    def exec_argv(self, *args: object) -> list[str]:
        return []


class _SlowImages:
    """An image catalog whose import takes until `release` is set."""

    def __init__(self) -> None:
        self.importing = threading.Event()
        self.release = threading.Event()

    def upload_file(self) -> IO[bytes]:
        raise NotImplementedError

    def count(self) -> int:
        return 0

    def summaries(self, filters: Mapping[str, Sequence[str]]) -> list[dict[str, Any]]:
        return []

    def inspect(self, reference: str) -> dict[str, Any]:
        return {}

    def import_rootfs(
        self, body: IO[bytes], repo: str, tag: str, changes: Sequence[str], message: str
    ) -> str:
        self.importing.set()
        self.release.wait(30)
        return "sha256:" + "0" * 64

    def load(self, body: IO[bytes]) -> list[str]:
        return []

    def save(self, references: Sequence[str]) -> IO[bytes]:
        raise NotImplementedError

    def tag(self, source: str, repo: str, tag: str) -> None:
        pass

    def remove(
        self,
        reference: str,
        force: bool,
        in_use: Callable[[str], list[str]],
        is_running: Callable[[str], bool],
    ) -> list[dict[str, str]]:
        return []


class World:
    def __init__(self, tmp_path: Path) -> None:
        resolv = tmp_path / "resolv.conf"
        resolv.write_text("nameserver 198.51.100.53\n")
        self.engine = Engine.open(
            Paths(tmp_path / "root", tmp_path / "run", resolv),
            MemoryStore(),
            FakeKernel(),
            FakeRuntime(),
            FakeImages(),
            State(),
        )
        self.engine.bootstrap()
        self.engine.create_network(NetworkSpec(name="sample"))
        config = ContainerConfig(image="hostfs", cmd=("sleep", "infinity"), network_mode="sample")
        self.cid = self.engine.create_container(CreateRequest(config, name="s1")).id
        self.engine.start(self.cid)
        self.images = _SlowImages()
        self.runner = EngineRunner()
        io = _NoIO()
        self.app = App(
            engine=self.engine,
            runner=self.runner,
            supervisor=Supervisor(self.engine, self.runner),
            attacher=Attacher(io),
            execs=Execs(io, str(tmp_path)),
            io=io,
            images=self.images,
            started=0.0,
            shutdown=lambda: None,
        )
        self.router = self.app.router()

    async def call(self, method: str, target: str, body: Any = None) -> Response:
        path, _, query = target.partition("?")
        handler, params = self.router.match(method, path)
        raw = json.dumps(body).encode() if body is not None else b""
        request = Request(
            method,
            path,
            {k: [v] for k, v in (p.split("=", 1) for p in query.split("&") if p)},
            {},
            raw,
            params,
            body_file=io.BytesIO(raw),
        )
        result = await handler(request)
        assert isinstance(result, Response)
        return result

    def close(self) -> None:
        self.images.release.set()
        self.runner.shutdown()
        self.app.image_runner.shutdown()


@pytest.fixture
def world(tmp_path: Path):
    w = World(tmp_path)
    yield w
    w.close()


def test_reads_answer_while_the_engine_worker_is_busy(world: World) -> None:
    async def scenario() -> None:
        busy = threading.Event()
        done = threading.Event()

        def long_operation() -> None:
            busy.set()
            done.wait(30)

        blocked = asyncio.ensure_future(world.runner.call(long_operation))
        await asyncio.to_thread(busy.wait, 5)
        try:
            for method, target in [
                ("GET", "/containers/json"),
                ("GET", "/containers/json?all=1"),
                ("GET", "/containers/s1/json"),
                ("GET", "/networks"),
                ("GET", "/networks/sample"),
                ("GET", "/info"),
            ]:
                answer = await asyncio.wait_for(world.call(method, target), QUICK)
                assert answer.status == 200, (target, answer.body)
            listed = json.loads((await world.call("GET", "/containers/json")).body)
            assert [c["Names"] for c in listed] == [["/s1"]]
        finally:
            done.set()
            await blocked

    asyncio.run(scenario())


def test_an_image_import_does_not_hold_up_network_operations(world: World) -> None:
    async def scenario() -> None:
        importing = asyncio.ensure_future(
            world.call("POST", "/images/create?fromSrc=-&repo=big", None)
        )
        await asyncio.to_thread(world.images.importing.wait, 5)
        try:
            created = await asyncio.wait_for(
                world.call("POST", "/networks/create", {"Name": "meanwhile"}), QUICK
            )
            assert created.status == 201
            removed = await asyncio.wait_for(world.call("DELETE", "/networks/meanwhile"), QUICK)
            assert removed.status == 204
            assert not importing.done()
        finally:
            world.images.release.set()
        assert (await importing).status == 200

    asyncio.run(scenario())
