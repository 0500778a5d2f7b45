"""/etc/passwd as an image container's process sees it, read without mounting anything: its
own layer over the image's, with overlayfs's whiteouts and opaque folders, and no link
followed out of the container."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hatoba.runtime.crun import read_rootfs_file

pytestmark = pytest.mark.root


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def whiteout(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mknod(path, 0o600 | 0o020000, os.makedev(0, 0))


def opaque(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    os.setxattr(folder, "trusted.overlay.opaque", b"y")


@pytest.fixture
def layers(tmp_path: Path) -> tuple[Path, list[str]]:
    low, high = tmp_path / "low", tmp_path / "high"
    write(low / "etc/passwd", "low\n")
    write(low / "etc/group", "low group\n")
    write(low / "etc/shadow", "low shadow\n")
    high.mkdir()
    return tmp_path / "upper", [str(low), str(high)]


def test_the_top_most_layer_that_has_the_file_wins(layers):
    upper, lower = layers
    assert read_rootfs_file(upper, lower, "/etc/passwd") == "low\n"
    write(Path(lower[1]) / "etc/passwd", "high\n")
    assert read_rootfs_file(upper, lower, "/etc/passwd") == "high\n"
    write(upper / "etc/passwd", "mine\n")
    assert read_rootfs_file(upper, lower, "/etc/passwd") == "mine\n"
    assert read_rootfs_file(upper, lower, "/etc/group") == "low group\n"
    assert read_rootfs_file(upper, lower, "/etc/nothere") is None


def test_whiteouts_and_opaque_folders_hide_what_is_below(layers):
    upper, lower = layers
    whiteout(upper / "etc/passwd")
    assert read_rootfs_file(upper, lower, "/etc/passwd") is None
    opaque(Path(lower[1]) / "etc")
    assert read_rootfs_file(upper, lower, "/etc/group") is None
    write(Path(lower[1]) / "etc/group", "high group\n")
    assert read_rootfs_file(upper, lower, "/etc/group") == "high group\n"


def test_a_file_where_a_folder_was_hides_the_folder(layers):
    upper, lower = layers
    write(upper / "etc", "not a folder")
    assert read_rootfs_file(upper, lower, "/etc/passwd") is None


def test_links_and_other_kinds_are_not_read(layers, tmp_path):
    upper, lower = layers
    (upper / "etc").mkdir(parents=True)
    (upper / "etc/passwd").symlink_to("/etc/passwd")  # the host's: never read
    assert read_rootfs_file(upper, lower, "/etc/passwd") is None
    (upper / "etc/group").mkdir()
    assert read_rootfs_file(upper, lower, "/etc/group") is None
    os.mkfifo(upper / "etc/shadow")
    assert read_rootfs_file(upper, lower, "/etc/shadow") is None
