"""Volumes and the mounts of containers in the engine, on fake adapters: what is made, what
the runtime is asked to mount, Docker's errors with nothing made, and records and folders
that agree after a crash."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fakes import FakeImages, FakeRuntime, FakeStorage, MemoryStore, fake_engine
from hatoba.engine.containers import CreateRequest
from hatoba.engine.engine import Engine
from hatoba.engine.state import State
from hatoba.errors import Conflict, InvalidArgument, KernelError, NotFound
from hatoba.model.container import ContainerConfig
from hatoba.model.image import ImageInfo
from hatoba.model.mounts import BIND, TMPFS, VOLUME, MountSpec

IMAGE = ImageInfo(
    id="sha256:" + "1" * 64,
    reference="web:latest",
    cmd=("httpd",),
    volumes=("/var/www",),
    layers=("/layers/base",),
)


@pytest.fixture
def runtime() -> FakeRuntime:
    return FakeRuntime()


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def engine(tmp_path: Path, runtime: FakeRuntime, store: MemoryStore) -> Engine:
    images = FakeImages({"web:latest": IMAGE})
    return fake_engine(tmp_path, runtime, images=images, store=store)


def storage(engine: Engine) -> FakeStorage:
    found = engine.core.storage
    assert isinstance(found, FakeStorage)
    return found


def create(engine: Engine, name: str, image: str = "hostfs", **config: object) -> str:
    cfg = ContainerConfig(image=image, cmd=("sleep", "1"), **config)  # type: ignore[arg-type]
    return engine.create_container(CreateRequest(config=cfg, name=name)).id


def refused(message: str) -> pytest.RaisesContext[InvalidArgument]:
    return pytest.raises(InvalidArgument, match=f"^{re.escape(message)}$")


def nothing_made(engine: Engine, store: MemoryStore) -> None:
    assert not engine.state.containers and not store.containers
    assert not engine.state.volumes and not store.volumes
    assert storage(engine).volume_names() == set()


def test_volume_create_is_idempotent_and_checked(engine: Engine, store: MemoryStore) -> None:
    made = engine.create_volume("data", labels={"tier": "db"})
    assert made.labels == {"tier": "db"} and made.options is None
    assert engine.create_volume("data") == made  # Docker answers with the existing one
    assert storage(engine).volume_names() == {"data"} and set(store.volumes) == {"data"}
    assert len(engine.create_volume("").name) == 64  # a random name, as Docker's
    with refused('create x1: error looking up volume plugin convoy: plugin "convoy" not found'):
        engine.create_volume("x1", driver="convoy")
    with refused('create x2: invalid option: "colour"'):
        engine.create_volume("x2", options={"colour": "blue"})
    with refused("create x3: hatoba's local driver does not support the option 'type' yet"):
        engine.create_volume("x3", options={"type": "tmpfs"})
    assert "x1" not in storage(engine).volume_names()


def test_a_container_gets_its_volumes_binds_and_tmpfs(
    engine: Engine, store: MemoryStore, runtime: FakeRuntime
) -> None:
    cid = create(
        engine,
        "web",
        "web:latest",
        binds=("cache:/var/cache", "/srv:/srv:ro"),
        mount_specs=(MountSpec(TMPFS, target="/scratch", tmpfs_size=1 << 20),),
        tmpfs={"/run": "size=64k"},
    )
    container = engine.container(cid)
    points = {p.destination: p for p in container.mounts}
    # the image's VOLUME became an anonymous volume; the named one was made
    anonymous = points["/var/www"]
    assert anonymous.type == VOLUME and anonymous.anonymous and len(anonymous.name) == 64
    assert set(engine.state.volumes) == {"cache", anonymous.name} == set(store.volumes)
    assert storage(engine).volume_names() == {"cache", anonymous.name}
    assert container.config.volumes == ("/var/www",)
    engine.start(cid)
    launched = {m.destination: m for m in runtime.launched[-1].mounts}
    assert launched["/var/cache"].source == storage(engine).volume_path("cache")
    assert launched["/var/cache"].populate and launched["/var/www"].populate
    assert launched["/srv"].kind == BIND and launched["/srv"].readonly
    assert launched["/srv"].create_source
    assert launched["/scratch"].tmpfs_options[-1] == "size=1m"
    assert launched["/run"].kind == TMPFS and "size=64k" in launched["/run"].tmpfs_options
    # filled from the image at the first use only
    assert not any(p.copy_data for p in engine.container(cid).mounts)
    engine.exited(cid)
    engine.start(cid)
    assert not any(m.populate for m in runtime.launched[-1].mounts)


def test_a_hostfs_container_has_no_image_content_to_copy(
    engine: Engine, runtime: FakeRuntime
) -> None:
    engine.start(create(engine, "h1", binds=("data:/data",)))
    assert not runtime.launched[-1].mounts[0].populate


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"binds": ("a@b:/x",)}, 'create a@b: "a@b" includes invalid characters'),
        ({"binds": ("/srv:x",)}, "invalid volume specification: '/srv:x'"),
        ({"binds": ("/srv:/x", "data:/x")}, "Duplicate mount point: /x"),
        ({"binds": ("/nope:/x",)}, None),
        (
            {"mount_specs": (MountSpec(BIND, "/nope", "/x"),)},
            'invalid mount config for type "bind": bind source path does not exist: /nope',
        ),
        (
            {"mount_specs": (MountSpec(BIND, "/srv", "/x", bind_propagation="rshared"),)},
            "hatoba does not support the bind propagation rshared yet",
        ),
        ({"binds": ("/state/db:/x",)}, "bind source path /state/db is inside hatoba's root"),
        ({"tmpfs": {"/t": "bogus"}}, 'Invalid tmpfs option ["bogus"]'),
        ({"volumes_from": ("ghost",)}, "No such container: ghost"),
        (
            {"mount_specs": (MountSpec(VOLUME, "v9", "/x", volume_driver="convoy"),)},
            "create v9: error looking up volume plugin convoy",
        ),
    ],
)
def test_bad_mounts_make_nothing(
    engine: Engine, store: MemoryStore, config: dict[str, object], message: str | None
) -> None:
    storage(engine).forbidden.add("/state/db")
    # a good volume before the bad one: it must not be made either
    config = {**config, "binds": ("keep:/keep", *config.get("binds", ()))}  # type: ignore[misc]
    if message is None:
        create(engine, "ok", **config)  # `-v` makes a missing source at start, as Docker
        return
    with pytest.raises(InvalidArgument, match=re.escape(message)):
        create(engine, "bad", **config)
    nothing_made(engine, store)


def test_a_failed_commit_removes_the_new_folders(engine: Engine, store: MemoryStore) -> None:
    store.fail_next_commit = True
    with pytest.raises(KernelError):
        create(engine, "web", binds=("data:/data", "/anon"))
    nothing_made(engine, store)


def test_a_bind_holding_hatobas_roots_is_a_slave_of_the_host(engine: Engine) -> None:
    point = engine.container(create(engine, "h1", binds=("/:/host",))).mounts[0]
    assert point.propagation == "rslave"


def test_volumes_in_use_are_kept(engine: Engine, store: MemoryStore) -> None:
    cid = create(engine, "c1", binds=("data:/data",))
    with pytest.raises(Conflict, match=re.escape(f"remove data: volume is in use - [{cid}]")):
        engine.remove_volume("data")
    with pytest.raises(Conflict):
        engine.remove_volume("data", force=True)  # force is for missing volumes only
    with pytest.raises(NotFound, match=r"^get ghost: no such volume$"):
        engine.remove_volume("ghost")
    engine.remove_volume("ghost", force=True)
    assert engine.prune_volumes(lambda v: True) == ([], 0)
    engine.remove(cid)
    (Path(storage(engine).volume_path("data")) / "f").write_text("12345")
    assert engine.prune_volumes(lambda v: True) == (["data"], 5)
    assert not store.volumes and not storage(engine).volume_names()


def test_rm_v_removes_anonymous_volumes_no_one_else_uses(engine: Engine) -> None:
    first = create(engine, "c1", binds=("named:/n", "/anon"))
    anonymous = next(p.name for p in engine.container(first).mounts if p.anonymous)
    second = create(engine, "c2", volumes_from=("c1:ro",))
    shared = {p.destination: p for p in engine.container(second).mounts}
    assert shared["/anon"].name == anonymous and not shared["/anon"].rw
    engine.remove(first, with_volumes=True)
    assert anonymous in engine.state.volumes  # c2 still uses it
    engine.remove(second, with_volumes=True)  # as Docker: the copy's spec is anonymous too
    assert set(engine.state.volumes) == {"named"}
    assert storage(engine).volume_names() == {"named"}


def test_reconcile_makes_folders_and_records_agree(tmp_path: Path) -> None:
    store = MemoryStore()
    engine = fake_engine(tmp_path, store=store)
    engine.create_volume("kept")
    engine.create_volume("lost")
    folders = storage(engine)
    (Path(folders.volume_path("kept")) / "data").write_text("x")
    folders.create_volume("orphan")  # a crash between the folder and its record
    folders.remove_volume("lost")  # deleted by hand
    reopened = fake_engine(tmp_path, store=store, state=State(volumes=store.volumes))
    assert storage(reopened).volume_names() == {"kept", "lost"}
    assert (Path(folders.volume_path("kept")) / "data").read_text() == "x"
