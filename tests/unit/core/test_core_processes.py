"""What a container's processes run as, on fake adapters: `-u`, the image's USER,
`--group-add`, `--init`, `--stop-signal`, and `exec` with the container's settings under its
own."""

from __future__ import annotations

from pathlib import Path

import pytest

from fakes import FakeImages, FakeKernel, FakeRuntime, MemoryStore
from hatoba.engine.containers import CreateRequest
from hatoba.engine.core import Paths
from hatoba.engine.engine import Engine
from hatoba.engine.processes import ExecRequest
from hatoba.engine.state import State
from hatoba.errors import InvalidArgument
from hatoba.model.container import ContainerConfig
from hatoba.model.image import ImageInfo
from hatoba.model.launch import ProcessUser

PASSWD = "root:x:0:0:root:/root:/bin/sh\nweb:x:33:33::/var/www:/bin/false\n"
GROUP = "root:x:0:\nwheel:x:10:web\nweb:x:33:\n"
IMAGE = ImageInfo(
    id="sha256:" + "a" * 64,
    reference="served:latest",
    cmd=("serve",),
    env=("PATH=/opt/bin:/bin", "MODE=image"),
    workdir="/srv",
    user="web",
    layers=("/layers/1",),
)


@pytest.fixture
def world(tmp_path: Path):
    runtime = FakeRuntime()
    runtime.rootfs = {"/etc/passwd": PASSWD, "/etc/group": GROUP}
    engine = Engine.open(
        Paths(tmp_path / "root", tmp_path / "run", tmp_path / "resolv.conf"),
        MemoryStore(),
        FakeKernel(),
        runtime,
        FakeImages({"served:latest": IMAGE}),
        State(),
    )
    engine.bootstrap()
    return engine, runtime


def start(engine: Engine, config: ContainerConfig, name: str = "cc") -> str:
    cid = engine.create_container(CreateRequest(config, name=name)).id
    return engine.start(cid).id


def test_the_images_user_with_its_groups_home_and_workdir(world):
    engine, runtime = world
    start(engine, ContainerConfig("served"))
    process = runtime.launched[-1].process
    assert process.user == ProcessUser(33, 33, (33, 10))
    assert "HOME=/var/www" in process.env and process.cwd == "/srv"
    assert engine.container("cc").config.user == "web"


def test_dash_u_and_group_add_over_the_image(world):
    engine, runtime = world
    start(engine, ContainerConfig("served", user="65534:65534", group_add=("wheel", "7")))
    assert runtime.launched[-1].process.user == ProcessUser(65534, 65534, (65534, 10, 7))
    assert "HOME=/" in runtime.launched[-1].process.env


def test_root_by_default_with_its_home(world):
    engine, runtime = world
    start(engine, ContainerConfig("hostfs", cmd=("true",)))
    process = runtime.launched[-1].process
    assert process.user == ProcessUser(0, 0, (0,))
    assert "HOME=/root" in process.env
    assert runtime.launched[-1].init is False


def test_an_unknown_user_is_refused_at_start_and_nothing_runs(world):
    engine, runtime = world
    cid = engine.create_container(CreateRequest(ContainerConfig("served", user="nope"))).id
    with pytest.raises(InvalidArgument) as caught:
        engine.start(cid)
    assert caught.value.message == "unable to find user nope: no matching entries in passwd file"
    assert runtime.spawned == {} and not engine.container(cid).state.running
    assert engine.core.kernel.netns == set()  # type: ignore[attr-defined]


def test_the_user_is_read_again_at_every_start(world):
    """A user added inside the container counts from its next start, as in Docker."""
    engine, runtime = world
    cid = engine.create_container(CreateRequest(ContainerConfig("served", user="late"))).id
    with pytest.raises(InvalidArgument):
        engine.start(cid)
    runtime.rootfs["/etc/passwd"] = PASSWD + "late:x:1001:1001::/home/late:/bin/sh\n"
    engine.start(cid)
    assert runtime.launched[-1].process.user.uid == 1001


def test_init_is_asked_of_the_runtime(world):
    engine, runtime = world
    start(engine, ContainerConfig("hostfs", cmd=("true",), init=True))
    assert runtime.launched[-1].init is True


def test_an_unknown_stop_signal_is_refused_at_create(world):
    engine, _ = world
    config = ContainerConfig("hostfs", cmd=("true",), stop_signal="SIGNOPE")
    with pytest.raises(InvalidArgument, match="^Invalid signal: SIGNOPE$"):
        engine.create_container(CreateRequest(config))
    assert engine.state.containers == {}


def test_exec_takes_the_containers_settings_under_its_own(world):
    engine, _ = world
    start(engine, ContainerConfig("served", env=("MODE=run", "ONLY=run")))
    process = engine.exec_process("cc", ExecRequest(("id",), env=("ONLY=exec",)))
    assert process.user == ProcessUser(33, 33, (33, 10))
    assert process.cwd == "/srv" and process.args == ("id",)
    env = process.env
    assert "PATH=/opt/bin:/bin" in env and "MODE=run" in env and "ONLY=exec" in env
    assert "HOME=/var/www" in env and not any(e.startswith("TERM=") for e in env)
    other = engine.exec_process("cc", ExecRequest(("id",), user="root", workdir="/tmp", tty=True))
    assert other.user == ProcessUser(0, 0, (0,)) and other.cwd == "/tmp"
    assert "TERM=xterm" in other.env and "HOME=/root" in other.env
    with pytest.raises(InvalidArgument, match="unable to find group nope"):
        engine.exec_process("cc", ExecRequest(("id",), user="root:nope"))
