"""Containers from images: Docker's precedence at create, the created-from image at start (by
id, whatever its tags say by then), and the image released with its last container."""

from __future__ import annotations

from pathlib import Path

import pytest

from fakes import FakeImages, FakeKernel, FakeRuntime, MemoryStore
from hatoba.engine.containers import CreateRequest
from hatoba.engine.core import Paths
from hatoba.engine.engine import Engine
from hatoba.engine.state import State
from hatoba.errors import InvalidArgument, NotFound
from hatoba.model.container import ContainerConfig
from hatoba.model.image import ImageInfo

APP = ImageInfo(
    id="sha256:" + "a" * 64,
    reference="app:latest",
    cmd=("serve", "--fast"),
    entrypoint=("/bin/app",),
    env=("MODE=image", "KEEP=1"),
    workdir="/srv",
    exposed_ports=("80/tcp",),
    layers=("/layers/base", "/layers/top"),
)
NEWER = ImageInfo(id="sha256:" + "b" * 64, reference="app:latest", cmd=("new",), layers=("/n",))


@pytest.fixture
def world(tmp_path: Path) -> tuple[Engine, FakeRuntime, FakeImages]:
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 198.51.100.53\n")
    runtime, images = FakeRuntime(), FakeImages({"app:latest": APP})
    engine = Engine.open(
        Paths(tmp_path / "root", tmp_path / "run", resolv),
        MemoryStore(),
        FakeKernel(),
        runtime,
        images,
        State(),
    )
    engine.bootstrap()
    return engine, runtime, images


def create(engine: Engine, **config: object) -> str:
    cfg = ContainerConfig(image="app", **config)  # type: ignore[arg-type]
    return engine.create_container(CreateRequest(cfg)).id


def test_image_config_fills_what_the_request_left_out(world) -> None:
    engine, runtime, _ = world
    cid = create(engine)
    cfg = engine.container(cid).config
    assert cfg.image_id == APP.id
    assert (cfg.entrypoint, cfg.cmd, cfg.workdir) == (APP.entrypoint, APP.cmd, "/srv")
    assert cfg.exposed_ports == ("80/tcp",)
    engine.start(cid)
    launch = runtime.launched[-1]
    assert launch.process.args == ("/bin/app", "serve", "--fast")
    assert launch.process.cwd == "/srv"
    assert launch.layers == APP.layers
    assert {"MODE=image", "KEEP=1"} <= set(launch.process.env)


def test_request_overrides_win(world) -> None:
    engine, runtime, _ = world
    cid = create(engine, cmd=("other",), env=("MODE=user",), workdir="/tmp")
    engine.start(cid)
    launch = runtime.launched[-1]
    assert launch.process.args == ("/bin/app", "other")
    assert launch.process.cwd == "/tmp"
    env = launch.process.env
    assert "MODE=user" in env and "MODE=image" not in env and "KEEP=1" in env


def test_new_entrypoint_drops_the_image_cmd(world) -> None:
    engine, runtime, _ = world
    engine.start(create(engine, entrypoint=("/bin/sh",)))
    assert runtime.launched[-1].process.args == ("/bin/sh",)
    engine.start(create(engine, entrypoint=("/bin/sh",), cmd=("-c", "true")))
    assert runtime.launched[-1].process.args == ("/bin/sh", "-c", "true")


def test_no_command_and_unknown_image_are_refused(world) -> None:
    engine, _, images = world
    images.images["bare:latest"] = ImageInfo(id="sha256:" + "c" * 64, reference="bare:latest")
    with pytest.raises(InvalidArgument, match=r"^No command specified$"):
        engine.create_container(CreateRequest(ContainerConfig(image="bare")))
    with pytest.raises(NotFound, match=r"^No such image: nope:latest$"):
        engine.create_container(CreateRequest(ContainerConfig(image="nope")))
    assert engine.state.containers == {}


def test_start_runs_the_image_the_container_was_created_from(world) -> None:
    engine, runtime, images = world
    cid = create(engine)
    images.images["app:latest"] = NEWER  # the tag moved on (a new import or load)
    images.images["old"] = APP  # still stored, reachable by id only
    engine.start(cid)
    assert runtime.launched[-1].layers == APP.layers
    assert runtime.launched[-1].process.args == ("/bin/app", "serve", "--fast")


def test_start_fails_cleanly_when_the_image_is_gone(world) -> None:
    engine, _, images = world
    cid = create(engine)
    images.images.clear()
    with pytest.raises(NotFound, match=f"^No such image: {APP.id}$"):
        engine.start(cid)
    assert engine.container(cid).state.status == "created"


def test_image_released_with_its_last_container(world) -> None:
    engine, _, images = world
    first, second = create(engine), create(engine)
    hostfs = engine.create_container(
        CreateRequest(ContainerConfig(image="hostfs", cmd=("true",)))
    ).id
    engine.remove(first)
    assert images.released == []
    engine.remove(hostfs)
    assert images.released == []
    engine.remove(second)
    assert images.released == [APP.id]
