"""The engine's view: an image's run configuration and its layers, by reference or by id."""

from __future__ import annotations

import io

import pytest

from fixtures.image_archives import ArchiveImage, docker_save, file, image_config, tar_bytes
from hatoba.errors import NotFound
from hatoba.images import ImageStore
from hatoba.images.engine_view import EngineImages
from hatoba.model.health import HealthConfig

BASE = tar_bytes(file("base", b"base"))
TOP = tar_bytes(file("top", b"top"))


@pytest.fixture
def images(store: ImageStore) -> EngineImages:
    config = image_config(
        [BASE, TOP, BASE],
        Cmd=["serve"],
        Entrypoint=["/bin/app"],
        Env=["A=1"],
        WorkingDir="/srv",
        ExposedPorts={"80/tcp": {}, "53/udp": {}},
        Healthcheck={"Test": ["CMD", "check"], "Interval": 1_000_000_000},
    )
    store.load(io.BytesIO(docker_save([ArchiveImage([BASE, TOP, BASE], ["app:1"], config)])))
    return EngineImages(store)


def test_resolve_gives_the_run_configuration_and_layers_lowest_first(
    images: EngineImages, store: ImageStore
) -> None:
    info = images.resolve("app:1")
    assert info.reference == "app:1"
    assert (info.cmd, info.entrypoint, info.env, info.workdir) == (
        ("serve",),
        ("/bin/app",),
        ("A=1",),
        "/srv",
    )
    assert info.exposed_ports == ("53/udp", "80/tcp")
    assert info.healthcheck == HealthConfig(("CMD", "check"), interval=1_000_000_000)
    image = store.resolve("app:1")
    # BASE repeats: listed once, at its highest position
    assert info.layers == tuple(str(d) for d in store.layer_dirs(image))
    assert [p.rsplit("/", 2)[-2] for p in info.layers] == [
        image.diff_ids[1][7:],
        image.diff_ids[0][7:],
    ]


def test_get_by_id_survives_untag_and_forced_removal(
    images: EngineImages, store: ImageStore
) -> None:
    info = images.resolve("app:1")
    store.tag("app:1", "other:2")
    store.remove("app:1", False, lambda _i: [])
    assert images.get(info.id).reference == "other:2"
    store.remove("other:2", True, lambda i: ["c" * 64] if i == info.id else [])
    got = images.get(info.id)
    assert (got.reference, got.layers, got.cmd) == (info.id, info.layers, info.cmd)
    images.release(info.id)
    with pytest.raises(NotFound, match="No such image"):
        images.get(info.id)
