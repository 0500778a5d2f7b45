"""A container's own layer read as Docker reads it: `diff` (what was added, changed, deleted,
through overlayfs's whiteouts and opaque folders) and the layer tar `commit` makes of it."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path
from typing import cast

import pytest

from hatoba.model.launch import FileView
from hatoba.model.resources import CgroupSupport
from hatoba.runtime.crun import CrunRuntime
from hatoba.runtime.files import CHANGE_ADD, CHANGE_DELETE, CHANGE_MODIFY, ContainerFiles
from hatoba.runtime.forkserver import ForkServer

pytestmark = pytest.mark.root  # whiteouts are character devices, opaque folders trusted xattrs

CID = "c" * 64
# no cgroup probe: it would make hatoba's folder in the machine's own hierarchies
NO_CGROUPS = CgroupSupport()


def _write(root: Path, path: str, content: str = "x") -> None:
    (root / path).parent.mkdir(parents=True, exist_ok=True)
    (root / path).write_text(content)


def _whiteout(root: Path, path: str) -> None:
    (root / path).parent.mkdir(parents=True, exist_ok=True)
    os.mknod(root / path, 0o600 | 0o020000, os.makedev(0, 0))


@pytest.fixture
def layers(tmp_path: Path) -> tuple[ContainerFiles, FileView, Path]:
    runtime = CrunRuntime(
        cast(ForkServer, None), tmp_path / "root", tmp_path / "run", cgroup_support=NO_CGROUPS
    )
    image = tmp_path / "image"
    for path in ("etc/group", "etc/motd", "srv/old/a", "srv/old/b", "usr/lib/x", "tmp/keep"):
        _write(image, path)
    runtime.init_layer(with_init=False)
    upper = runtime.layer_dir(CID)
    # the folders a change copied up take the image's times, as overlayfs copies them
    for folder in ("etc", "srv", "tmp"):
        (upper / folder).mkdir(parents=True)
        st = os.stat(image / folder)
        os.utime(upper / folder, ns=(st.st_atime_ns, st.st_mtime_ns))
    _write(upper, "etc/group", "changed")
    _whiteout(upper, "etc/motd")
    _write(upper, "newdir/file")
    (upper / "srv" / "old").mkdir()  # emptied and made again: opaque, a and b are gone
    os.setxattr(upper / "srv" / "old", "trusted.overlay.opaque", b"y")
    _write(upper, "srv/old/c")
    os.utime(upper / "srv", ns=(0, 0))  # a copied-up folder whose own mtime changed
    files = ContainerFiles(runtime, cast(ForkServer, None))
    return files, FileView(CID, (str(image),)), upper


def test_diff_reads_the_layer_as_docker_does(
    layers: tuple[ContainerFiles, FileView, Path],
) -> None:
    files, view, _ = layers
    assert files.changes(view) == [
        ("/etc", CHANGE_MODIFY),
        ("/etc/group", CHANGE_MODIFY),
        ("/etc/motd", CHANGE_DELETE),
        ("/newdir", CHANGE_ADD),
        ("/newdir/file", CHANGE_ADD),
        ("/srv", CHANGE_MODIFY),
        ("/srv/old", CHANGE_MODIFY),
        ("/srv/old/a", CHANGE_DELETE),
        ("/srv/old/b", CHANGE_DELETE),
        ("/srv/old/c", CHANGE_ADD),
    ]  # /tmp was only copied up: no change; the init layer's mount points are none either


def test_the_committed_layer_has_dockers_whiteouts(
    layers: tuple[ContainerFiles, FileView, Path],
) -> None:
    files, view, _ = layers
    out = io.BytesIO()
    assert files.write_layer(view, out) == 9  # entries of the layer
    out.seek(0)
    with tarfile.open(fileobj=out) as tf:
        members = {m.name: m for m in tf.getmembers()}
    assert sorted(members) == [
        "etc",
        "etc/.wh.motd",
        "etc/group",
        "newdir",
        "newdir/file",
        "srv",
        "srv/old",
        "srv/old/.wh..wh..opq",
        "srv/old/c",
        "tmp",
    ]
    assert members["etc/.wh.motd"].isreg() and members["etc/.wh.motd"].size == 0
    assert members["etc/group"].uname == "" and members["etc/group"].size == len("changed")


def test_a_hostfs_container_has_no_layer(layers: tuple[ContainerFiles, FileView, Path]) -> None:
    files, _, _ = layers
    with pytest.raises(Exception, match="hostfs container"):
        files.changes(FileView(CID, ()))


def test_one_init_layer_for_every_image_container(tmp_path: Path) -> None:
    """Read-only below each container alike: made once, one with --init's mount point."""
    runtime = CrunRuntime(
        cast(ForkServer, None), tmp_path / "root", tmp_path / "run", cgroup_support=NO_CGROUPS
    )
    plain, with_init = runtime.init_layer(with_init=False), runtime.init_layer(with_init=True)
    assert runtime.init_layer(with_init=False) == plain != with_init
    assert plain.is_relative_to(tmp_path / "root") and not plain.is_relative_to(
        runtime.bundle_dir(CID)
    )
    assert sorted(str(p.relative_to(plain)) for p in plain.rglob("*")) == [
        "dev",
        "etc",
        "etc/hostname",
        "etc/hosts",
        "etc/resolv.conf",
        "proc",
        "sys",
    ]
    assert (with_init / "sbin" / "docker-init").is_file()
