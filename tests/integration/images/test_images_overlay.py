"""The extracted layers work as overlayfs lower directories: whiteouts hide, opaque directories
mask, and the busybox image runs. Mounts happen in a private mount namespace (`unshare -m`)
that disappears with the command, so the machine's mount table is never touched."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest

from fixtures.image_archives import ArchiveImage, directory, docker_save, file, tar_bytes
from hatoba.images import Image, ImageStore

pytestmark = pytest.mark.root

LOWER = tar_bytes(
    directory("etc"),
    file("etc/passwd", b"root\n"),
    file("etc/group", b"root\n"),
    directory("var/cache"),
    file("var/cache/old", b"old"),
    directory("gone"),
    file("gone/file", b"f"),
)
UPPER = tar_bytes(
    file("etc/.wh.passwd"),
    file(".wh.gone"),
    directory("var/cache"),
    file("var/cache/.wh..wh..opq"),
    file("var/cache/new", b"new"),
)


def in_overlay(store: ImageStore, image: Image, tmp_path: Path, script: str) -> str:
    """Mount the image's layers with a scratch upper dir at $M and run `script` there."""
    for name in ("upper", "work", "merged"):
        (tmp_path / name).mkdir()
    lower = ":".join(str(d) for d in reversed(store.layer_dirs(image)))
    options = f"lowerdir={lower},upperdir={tmp_path / 'upper'},workdir={tmp_path / 'work'}"
    mount = f"mount -t overlay overlay -o {options} {tmp_path / 'merged'}"
    result = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-euc", f"{mount}\n{script}"],
        env={"M": str(tmp_path / "merged"), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return result.stdout


def test_whiteouts_and_opaque_dirs_in_a_mounted_overlay(tmp_path: Path) -> None:
    store = ImageStore(tmp_path / "root")
    store.load(io.BytesIO(docker_save([ArchiveImage([LOWER, UPPER], ["layered:1"])])))
    image = store.resolve("layered:1")
    listing = in_overlay(store, image, tmp_path, 'cd "$M" && find . | sort')
    assert listing.split() == [
        ".",
        "./etc",
        "./etc/group",
        "./var",
        "./var/cache",
        "./var/cache/new",
    ]


def test_image_repeating_a_layer_mounts(tmp_path: Path) -> None:
    store = ImageStore(tmp_path / "root")
    store.load(io.BytesIO(docker_save([ArchiveImage([LOWER, UPPER, LOWER], ["again:1"])])))
    listing = in_overlay(store, store.resolve("again:1"), tmp_path, 'cd "$M" && find . | sort')
    # the top copy of LOWER shows again what UPPER hid; var/cache merges both
    assert "./etc/passwd" in listing.split()
    assert "./gone/file" in listing.split()
    assert {"./var/cache/old", "./var/cache/new"} <= set(listing.split())


def test_busybox_alpine_runs_from_its_layers(tmp_path: Path, busybox_archive: Path) -> None:
    store = ImageStore(tmp_path / "root")
    with busybox_archive.open("rb") as archive:
        store.load(archive)
    image = store.resolve("alpine")
    out = in_overlay(
        store,
        image,
        tmp_path,
        'chroot "$M" /bin/sh -c "echo hello from \\$(uname -s); ls -ld /tmp"',
    )
    lines = out.splitlines()
    assert lines[0] == "hello from Linux"
    assert lines[1].startswith("drwxrwxrwt")
