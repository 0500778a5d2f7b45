"""Layer extraction: what lands in the layer directory the runtime hands to overlayfs."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import pytest

from fixtures.image_archives import (
    MTIME,
    Member,
    chardev,
    directory,
    fifo,
    file,
    hardlink,
    symlink,
    tar_bytes,
)
from hatoba.images import ImageStore
from hatoba.images.busybox import build_busybox_images


def extracted(store: ImageStore, *members: Member) -> Path:
    image = store.import_rootfs(io.BytesIO(tar_bytes(*members)), None)
    [layer] = store.layer_dirs(image)
    return layer


def test_modes_mtimes_links_and_special_files(store: ImageStore) -> None:
    layer = extracted(
        store,
        directory("./"),
        directory("tmp", 0o1777),
        file("bin/su", b"su", 0o4755),
        symlink("bin/sh", "su"),
        symlink("bin/abs", "/bin/busybox"),
        hardlink("bin/su2", "bin/su"),
        fifo("run/fifo"),
        chardev("dev/null", 1, 3),
        directory("ro", 0o555),
        file("ro/inside", b"i", 0o400),
    )
    assert stat.S_IMODE(os.lstat(layer / "tmp").st_mode) == 0o1777
    assert stat.S_IMODE(os.lstat(layer / "bin/su").st_mode) == 0o4755
    assert os.readlink(layer / "bin/sh") == "su"
    assert os.readlink(layer / "bin/abs") == "/bin/busybox"
    assert os.lstat(layer / "bin/su2").st_ino == os.lstat(layer / "bin/su").st_ino
    assert stat.S_ISFIFO(os.lstat(layer / "run/fifo").st_mode)
    assert not (layer / "dev/null").exists()  # devices come from the runtime, not images
    assert stat.S_IMODE(os.lstat(layer / "run").st_mode) == 0o755  # implied parent
    assert stat.S_IMODE(os.lstat(layer / "ro").st_mode) == 0o555
    assert (layer / "ro/inside").read_bytes() == b"i"
    for path in ("tmp", "bin/su", "bin/sh", "ro", "ro/inside", "."):
        assert os.lstat(layer / path).st_mtime == MTIME, path


def test_modes_do_not_depend_on_the_umask(store: ImageStore) -> None:
    """The service runs with umask 0o077; a layer is every container user's all the same."""
    old = os.umask(0o077)
    try:
        layer = extracted(store, file("etc/motd", b"hi", 0o644))  # no entry for the root
    finally:
        os.umask(old)
    assert [stat.S_IMODE(os.lstat(layer / path).st_mode) for path in (".", "etc", "etc/motd")] == [
        0o755,
        0o755,
        0o644,
    ]


def test_later_members_replace_earlier_ones(store: ImageStore) -> None:
    layer = extracted(
        store,
        file("a", b"file"),
        directory("a"),
        file("a/x", b"x"),
        directory("b"),
        file("b/y", b"y"),
        file("b", b"now a file"),
        symlink("c", "/etc"),
        directory("c"),
        file("c/z", b"z"),  # c is a real directory now, not the symlink
        file("d", b"old"),
        file("d", b"new"),
    )
    assert (layer / "a/x").read_bytes() == b"x"
    assert (layer / "b").read_bytes() == b"now a file"
    assert not (layer / "c").is_symlink()
    assert (layer / "c/z").read_bytes() == b"z"
    assert (layer / "d").read_bytes() == b"new"


def test_busybox_rootfs_extracts_as_built(store: ImageStore, busybox_images: tuple) -> None:
    alpine, httpd = busybox_images
    image = store.import_rootfs(io.BytesIO(alpine.rootfs), alpine.reference, alpine.changes)
    [layer] = store.layer_dirs(image)
    assert os.readlink(layer / "bin/sh") == "/bin/busybox"
    assert os.readlink(layer / "usr/sbin/httpd") == "/bin/busybox"
    assert (layer / "bin/busybox").read_bytes() == Path("/bin/busybox").read_bytes()
    assert stat.S_IMODE(os.lstat(layer / "tmp").st_mode) == 0o1777
    for empty in ("proc", "sys", "dev"):
        assert list((layer / empty).iterdir()) == []
    assert (layer / "etc/passwd").read_text().startswith("root:x:0:0:")
    assert image.config.cmd == ("/bin/sh",)
    web = store.import_rootfs(io.BytesIO(httpd.rootfs), httpd.reference, httpd.changes)
    assert web.config.exposed_ports == ("80/tcp",)
    assert web.config.cmd == ("/bin/busybox", "httpd", "-f", "-v", "-p", "80", "-h", "/www")
    html = (store.layer_dirs(web)[0] / "www/index.html").read_text()
    assert html == "<html><body><h1>It works!</h1></body></html>\n"


def test_busybox_build_is_deterministic(busybox_images: tuple) -> None:
    assert build_busybox_images() == busybox_images


@pytest.mark.root
def test_owners_and_xattrs_as_root(store: ImageStore) -> None:
    owned = file("owned", b"o", uid=1234, gid=5678)
    owned.info.pax_headers = {
        "SCHILY.xattr.user.note": "kept",
        "SCHILY.xattr.trusted.overlay.opaque": "y",  # forged overlay metadata is dropped
    }
    link = symlink("link", "owned")
    link.info.uid, link.info.gid = 42, 43
    layer = extracted(store, owned, link)
    st = os.lstat(layer / "owned")
    assert (st.st_uid, st.st_gid) == (1234, 5678)
    assert (os.lstat(layer / "link").st_uid, os.lstat(layer / "link").st_gid) == (42, 43)
    assert os.getxattr(layer / "owned", "user.note") == b"kept"
    assert "trusted.overlay.opaque" not in os.listxattr(layer / "owned")


@pytest.mark.root
def test_whiteouts_become_overlay_whiteouts(store: ImageStore) -> None:
    layer = extracted(
        store,
        directory("etc"),
        file("etc/.wh.passwd"),
        directory("var/cache"),
        file("var/cache/.wh..wh..opq"),
        file("var/cache/fresh", b"f"),
        file(".wh..wh.plnk"),  # aufs bookkeeping, dropped
    )
    st = os.lstat(layer / "etc/passwd")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(0, 0)
    assert not (layer / "etc/.wh.passwd").exists()
    assert os.getxattr(layer / "var/cache", "trusted.overlay.opaque") == b"y"
    assert (layer / "var/cache/fresh").read_bytes() == b"f"
    assert sorted(os.listdir(layer)) == ["etc", "var"]
