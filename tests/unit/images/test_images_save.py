"""`save`: a docker save archive that loads back (here and in Docker) with the same ids."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from fixtures.image_archives import ArchiveImage, digest, docker_save, file, tar_bytes
from hatoba.errors import NotFound
from hatoba.images import ImageStore
from hatoba.images.busybox import import_busybox_images

BASE = tar_bytes(file("base", b"base"))
TOP = tar_bytes(file("top", b"top"))


def saved(store: ImageStore, *references: str) -> bytes:
    out = io.BytesIO()
    store.save(references, out)
    return out.getvalue()


def entries(archive: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(archive)) as tf:
        return {m.name: tf.extractfile(m).read() for m in tf if m.isfile()}  # type: ignore[union-attr]


def test_busybox_round_trip_into_a_fresh_root_keeps_ids(store: ImageStore, tmp_path: Path) -> None:
    originals = {i.id: i for i in import_busybox_images(store)}
    archive = saved(store, "alpine", "httpd:latest")
    fresh = ImageStore(tmp_path / "fresh")
    assert fresh.load(io.BytesIO(archive)) == [
        "Loaded image: alpine:latest",
        "Loaded image: httpd:latest",
    ]
    loaded = {i.id: i for i in fresh.list()}
    assert loaded == {
        i.id: i for i in originals.values()
    }  # ids, tags, configs, diff ids, sizes, created
    assert saved(fresh, "alpine", "httpd:latest") == archive  # byte for byte
    httpd = fresh.resolve("httpd")
    index_html = fresh.layer_dirs(httpd)[0] / "www/index.html"
    assert index_html.read_text() == "<html><body><h1>It works!</h1></body></html>\n"


def test_archive_has_docker_20_10_layout(store: ImageStore) -> None:
    base = ArchiveImage([BASE], ["base:1"])
    app = ArchiveImage([BASE, TOP], ["app:1", "app:2"])
    store.load(io.BytesIO(docker_save([base, app])))
    files = entries(saved(store, "app", "base:1"))
    manifest = json.loads(files["manifest.json"])
    chain_top = "sha256:" + hashlib.sha256(f"{digest(BASE)} {digest(TOP)}".encode()).hexdigest()
    base_dir, top_dir = digest(BASE)[7:], chain_top[7:]
    assert manifest == [
        {
            "Config": f"{digest(app.config_bytes())[7:]}.json",
            "RepoTags": ["app:1", "app:2"],
            "Layers": [f"{base_dir}/layer.tar", f"{top_dir}/layer.tar"],
        },
        {
            "Config": f"{digest(base.config_bytes())[7:]}.json",
            "RepoTags": ["base:1"],
            "Layers": [f"{base_dir}/layer.tar"],
        },
    ]
    assert json.loads(files["repositories"]) == {
        "app": {"1": top_dir, "2": top_dir},
        "base": {"1": base_dir},
    }
    assert files[f"{base_dir}/layer.tar"] == BASE
    assert files[f"{top_dir}/layer.tar"] == TOP
    assert files[f"{base_dir}/VERSION"] == b"1.0"
    assert json.loads(files[f"{top_dir}/json"])["parent"] == base_dir
    assert files[f"{digest(app.config_bytes())[7:]}.json"] == app.config_bytes()


def test_saving_by_id_writes_no_tags(store: ImageStore, tmp_path: Path) -> None:
    image = ArchiveImage([BASE], ["base:1"])
    store.load(io.BytesIO(docker_save([image])))
    archive = saved(store, digest(image.config_bytes())[7:19])
    files = entries(archive)
    assert json.loads(files["manifest.json"])[0]["RepoTags"] is None
    assert "repositories" not in files
    fresh = ImageStore(tmp_path / "fresh")
    assert fresh.load(io.BytesIO(archive)) == [f"Loaded image ID: {digest(image.config_bytes())}"]


def test_unknown_reference_writes_nothing(store: ImageStore) -> None:
    store.load(io.BytesIO(docker_save([ArchiveImage([BASE], ["base:1"])])))
    out = io.BytesIO()
    with pytest.raises(NotFound, match=r"^No such image: nope:latest$"):
        store.save(["base:1", "nope"], out)
    assert out.getvalue() == b""
