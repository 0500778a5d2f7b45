"""Stand-in images built from a static busybox, as the Docker reference host did without a
registry (reference/docker.md §1):

- `alpine:latest`: /bin/busybox, every applet of `busybox --list-full` symlinked at its path,
  minimal /etc/passwd, /etc/group and /etc/nsswitch.conf, /tmp with mode 1777, empty /proc,
  /sys and /dev; CMD ["/bin/sh"].
- `httpd:latest`: the same plus /www/index.html, EXPOSE 80/tcp and a busybox httpd CMD.

The root file system tarballs are deterministic for a given busybox binary (every entry
carries its mtime), so building twice gives the same layer diff id.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from hatoba.images.store import Image, ImageStore

BUSYBOX = Path("/bin/busybox")
ALPINE = "alpine:latest"
HTTPD = "httpd:latest"
INDEX_HTML = b"<html><body><h1>It works!</h1></body></html>\n"
HTTPD_CMD = '["/bin/busybox","httpd","-f","-v","-p","80","-h","/www"]'

_PASSWD = b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
_GROUP = b"root:x:0:\nnogroup:x:65534:\n"
_NSSWITCH = b"passwd: files\ngroup: files\nhosts: files dns\n"
_EMPTY_DIRS = ("dev", "etc", "proc", "sys")


@dataclass(frozen=True)
class RootfsImage:
    """A root file system tarball and how to import it."""

    reference: str
    rootfs: bytes
    changes: tuple[str, ...]


def build_busybox_images(busybox: Path = BUSYBOX) -> tuple[RootfsImage, RootfsImage]:
    """The `alpine:latest` and `httpd:latest` stand-ins, as plain tarballs in memory."""
    applets = subprocess.run(
        [str(busybox), "--list-full"], check=True, capture_output=True, text=True
    ).stdout.split()
    binary = busybox.read_bytes()
    mtime = int(busybox.stat().st_mtime)
    alpine = _rootfs(applets, binary, mtime, extra={})
    httpd = _rootfs(applets, binary, mtime, extra={"www/index.html": INDEX_HTML})
    return (
        RootfsImage(ALPINE, alpine, ('CMD ["/bin/sh"]',)),
        RootfsImage(HTTPD, httpd, ("EXPOSE 80/tcp", f"CMD {HTTPD_CMD}")),
    )


def import_busybox_images(store: ImageStore, busybox: Path = BUSYBOX) -> list[Image]:
    return [
        store.import_rootfs(io.BytesIO(image.rootfs), image.reference, image.changes)
        for image in build_busybox_images(busybox)
    ]


def _rootfs(applets: list[str], binary: bytes, mtime: int, extra: dict[str, bytes]) -> bytes:
    files = {
        "bin/busybox": (binary, 0o755),
        "etc/passwd": (_PASSWD, 0o644),
        "etc/group": (_GROUP, 0o644),
        "etc/nsswitch.conf": (_NSSWITCH, 0o644),
        **{name: (data, 0o644) for name, data in extra.items()},
    }
    links = {path: "/bin/busybox" for path in applets if path != "bin/busybox"}
    dirs = {"tmp": 0o1777, **dict.fromkeys(_EMPTY_DIRS, 0o755)}
    for path in [*files, *links]:
        parent = path.rpartition("/")[0]
        while parent:
            dirs.setdefault(parent, 0o755)
            parent = parent.rpartition("/")[0]
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name in sorted(dirs):
            tf.addfile(_entry(name, tarfile.DIRTYPE, dirs[name], mtime))
        for name in sorted(files):
            data, mode = files[name]
            entry = _entry(name, tarfile.REGTYPE, mode, mtime)
            entry.size = len(data)
            tf.addfile(entry, io.BytesIO(data))
        for name in sorted(links):
            entry = _entry(name, tarfile.SYMTYPE, 0o777, mtime)
            entry.linkname = links[name]
            tf.addfile(entry)
    return out.getvalue()


def _entry(name: str, kind: bytes, mode: int, mtime: int) -> tarfile.TarInfo:
    entry = tarfile.TarInfo(name)
    entry.type = kind
    entry.mode = mode
    entry.mtime = mtime
    entry.uname = entry.gname = "root"
    return entry
