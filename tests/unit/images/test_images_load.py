"""`load`: docker save archives (both layouts) and OCI image layouts, plain or compressed."""

from __future__ import annotations

import io
import json
import tarfile

import pytest

from fixtures.image_archives import (
    ArchiveImage,
    digest,
    docker_save,
    file,
    gzipped,
    image_config,
    oci_layout,
    tar_bytes,
)
from hatoba.errors import InvalidArgument
from hatoba.images import ImageStore

BASE = tar_bytes(file("etc/os-release", b"ID=test\n"))
APP = tar_bytes(file("app/run", b"run", 0o755))


def test_legacy_docker_save_with_two_images_sharing_a_layer(store: ImageStore) -> None:
    base = ArchiveImage([BASE], ["base:1"])
    app = ArchiveImage(
        [BASE, APP],
        ["docker.io/library/app:latest", "registry.local/app:2"],
        config=image_config(
            [BASE, APP],
            Cmd=["/app/run"],
            Entrypoint=["/bin/sh", "-c"],
            Env=["PATH=/usr/bin", "MODE=prod"],
            WorkingDir="/app",
            ExposedPorts={"8080/tcp": {}},
            Labels={"a": "b"},
        ),
    )
    lines = store.load(io.BytesIO(docker_save([base, app])))
    assert lines == [
        "Loaded image: base:1",
        "Loaded image: app:latest",
        "Loaded image: registry.local/app:2",
    ]
    loaded = store.resolve("app")
    assert loaded.id == digest(app.config_bytes())
    assert loaded.repo_tags == ("app:latest", "registry.local/app:2")
    assert loaded.diff_ids == (digest(BASE), digest(APP))
    assert loaded.config.cmd == ("/app/run",)
    assert loaded.config.entrypoint == ("/bin/sh", "-c")
    assert loaded.config.env == ("PATH=/usr/bin", "MODE=prod")
    assert loaded.config.workdir == "/app"
    assert loaded.config.exposed_ports == ("8080/tcp",)
    assert loaded.config.labels == (("a", "b"),)
    assert loaded.created == "2024-01-02T03:04:05.123456789Z"
    # the shared layer is extracted once and both images point at the same directory
    assert store.layer_dirs(store.resolve("base:1"))[0] == store.layer_dirs(loaded)[0]
    assert len(list(store._layers.root.iterdir())) == 2
    assert (store.layer_dirs(loaded)[1] / "app/run").read_bytes() == b"run"


def test_blobs_layout_and_gzip_compressed_archive(store: ImageStore) -> None:
    image = ArchiveImage([BASE], ["base:1"])
    assert store.load(io.BytesIO(gzipped(docker_save([image], blobs=True)))) == [
        "Loaded image: base:1"
    ]
    assert store.resolve("base:1").id == digest(image.config_bytes())


def test_untagged_image_reports_its_id(store: ImageStore) -> None:
    image = ArchiveImage([BASE])
    assert store.load(io.BytesIO(docker_save([image]))) == [
        f"Loaded image ID: {digest(image.config_bytes())}"
    ]
    assert store.list()[0].repo_tags == ()


def test_load_moves_a_tag_and_says_so(store: ImageStore) -> None:
    old = ArchiveImage([BASE], ["base:1"])
    new = ArchiveImage([APP], ["base:1"])
    store.load(io.BytesIO(docker_save([old])))
    assert store.load(io.BytesIO(docker_save([new]))) == [
        f"The image base:1 already exists, renaming the old one with ID"
        f" {digest(old.config_bytes())} to empty string",
        "Loaded image: base:1",
    ]
    assert store.resolve(digest(old.config_bytes())).repo_tags == ()


def test_reloading_the_same_archive_changes_nothing(store: ImageStore) -> None:
    archive = docker_save([ArchiveImage([BASE], ["base:1"])])
    store.load(io.BytesIO(archive))
    before = [(i.id, i.repo_tags) for i in store.list()]
    assert store.load(io.BytesIO(archive)) == ["Loaded image: base:1"]
    assert [(i.id, i.repo_tags) for i in store.list()] == before


def test_layer_tar_symlinked_inside_the_archive(store: ImageStore) -> None:
    """Docker's save writes a repeated layer as a symlink to the first copy."""
    config = image_config([BASE, BASE])
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tf:
        for name, data in [("a/layer.tar", BASE), ("c.json", config)]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("b/layer.tar")
        link.type = tarfile.SYMTYPE
        link.linkname = "../a/layer.tar"
        tf.addfile(link)
        manifest = json.dumps(
            [
                {
                    "Config": "c.json",
                    "RepoTags": ["twice:1"],
                    "Layers": ["a/layer.tar", "b/layer.tar"],
                }
            ]
        ).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(manifest)
        tf.addfile(info, io.BytesIO(manifest))
    store.load(io.BytesIO(out.getvalue()))
    image = store.resolve("twice:1")
    assert image.diff_ids == (digest(BASE), digest(BASE))
    assert store.layer_dirs(image) == [store._layers.diff_dir(digest(BASE))]


@pytest.mark.parametrize("gzip_layers", [False, True])
def test_oci_layout_with_name_annotation(store: ImageStore, gzip_layers: bool) -> None:
    image = ArchiveImage(
        [BASE, APP],
        annotations={
            "io.containerd.image.name": "docker.io/library/app:3",
            "org.opencontainers.image.ref.name": "3",
        },
        config=image_config([BASE, APP], Cmd=["/app/run"]),
    )
    assert store.load(io.BytesIO(oci_layout([image], gzip_layers=gzip_layers))) == [
        "Loaded image: app:3"
    ]
    loaded = store.resolve("app:3")
    assert loaded.id == digest(image.config_bytes())
    assert loaded.diff_ids == (digest(BASE), digest(APP))
    assert loaded.config.cmd == ("/app/run",)


@pytest.mark.parametrize(
    ("annotations", "expected"),
    [
        (
            {"org.opencontainers.image.ref.name": "example.org/x/app:7"},
            "Loaded image: example.org/x/app:7",
        ),
        ({"org.opencontainers.image.ref.name": "7"}, None),  # a bare tag names no repository
        ({}, None),
    ],
)
def test_oci_ref_name_annotation(
    store: ImageStore, annotations: dict[str, str], expected: str | None
) -> None:
    image = ArchiveImage([BASE], annotations=annotations)
    expected = expected or f"Loaded image ID: {digest(image.config_bytes())}"
    assert store.load(io.BytesIO(oci_layout([image]))) == [expected]


def test_oci_nested_index_picks_this_platform(store: ImageStore) -> None:
    image = ArchiveImage([BASE], annotations={"io.containerd.image.name": "multi:1"})
    store.load(io.BytesIO(oci_layout([image], nested=True)))
    assert store.resolve("multi:1").id == digest(image.config_bytes())


def test_layer_count_must_match_the_config(store: ImageStore) -> None:
    image = ArchiveImage([BASE], ["bad:1"], config=image_config([BASE, APP]))
    with pytest.raises(
        InvalidArgument, match=r"^invalid manifest, layers length mismatch: expected 1, got 2$"
    ):
        store.load(io.BytesIO(docker_save([image])))


def test_repeated_layer_is_one_lower_dir_at_its_highest_position(store: ImageStore) -> None:
    store.load(io.BytesIO(docker_save([ArchiveImage([BASE, APP, BASE], ["rep:1"])])))
    image = store.resolve("rep:1")
    assert image.diff_ids == (digest(BASE), digest(APP), digest(BASE))
    assert store.layer_dirs(image) == [
        store._layers.diff_dir(digest(APP)),
        store._layers.diff_dir(digest(BASE)),
    ]
