"""Reads never queue behind writes, and long image work never holds up the engine's worker.

The App is built on the engine with fake adapters; routes are called as the server calls
them. A blocked engine worker stands for a slow operation (a big `network rm`, a burst of
`run -d`); a blocked import stands for a 400 MB image arriving.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import IO

import pytest

from fixtures.api_world import ApiWorld, NoImages
from hatoba.engine.containers import CreateRequest
from hatoba.model.container import ContainerConfig
from hatoba.model.network import NetworkSpec

QUICK = 2.0  # seconds: far more than any of these answers needs, far less than "blocked"


class _SlowImages(NoImages):
    """An image catalog whose import takes until `release` is set."""

    def __init__(self) -> None:
        self.importing = threading.Event()
        self.release = threading.Event()

    def import_rootfs(
        self, body: IO[bytes], repo: str, tag: str, changes: Sequence[str], message: str
    ) -> str:
        self.importing.set()
        self.release.wait(30)
        return "sha256:" + "0" * 64


class World(ApiWorld):
    def __init__(self, tmp_path: Path) -> None:
        self.images = _SlowImages()
        super().__init__(tmp_path, self.images)
        self.engine.create_network(NetworkSpec(name="sample"))
        config = ContainerConfig(image="hostfs", cmd=("sleep", "infinity"), network_mode="sample")
        self.cid = self.engine.create_container(CreateRequest(config, name="s1")).id
        self.engine.start(self.cid)

    def close(self) -> None:
        self.images.release.set()
        super().close()


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
