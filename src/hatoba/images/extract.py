"""Unpack one layer tar into a directory that overlayfs can use as a lower layer.

Safety, since archives come from users:
- member names are checked component by component: absolute names and `..` are refused;
- nothing is written through a symlink: every parent of a member must be a real directory of
  this layer (a member that replaces a symlink replaces the link itself);
- a relative symlink may not climb above the layer root; an absolute target is kept as is,
  since at run time it resolves inside the container's root;
- a hard link must name an earlier non-directory member of the same layer.

Overlay format: `.wh.NAME` becomes a 0/0 character device NAME (a whiteout), `.wh..wh..opq`
the `trusted.overlay.opaque=y` xattr on its directory; other `.wh..wh.` metadata is dropped.
Character and block devices are skipped (the runtime gives containers their /dev); FIFOs are
made. Modes and mtimes are always applied, owners and xattrs (except trusted.overlay.*, which
would forge overlay metadata) when running as root.
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
from pathlib import Path

from hatoba.errors import InvalidArgument
from hatoba.images.tarutil import clean_name, joined, members, open_tar

_WHITEOUT = ".wh."
_WHITEOUT_META = ".wh..wh."
_OPAQUE = ".wh..wh..opq"
_OPAQUE_XATTR = "trusted.overlay.opaque"
_XATTR_HEADER = "SCHILY.xattr."
_OVERLAY_XATTRS = "trusted.overlay."
_CHUNK = 1 << 20


def extract_layer(tar_path: Path, dest: Path) -> int:
    """Extract into `dest` (created here, must not exist); returns the bytes of file content."""
    dest.mkdir()
    dest.chmod(0o755)  # the service's umask is 0o077; a layer's root is every user's
    layer = _Extraction(dest, privileged=os.geteuid() == 0)
    with open_tar(tar_path, "layer") as tf:
        for member in members(tf, tar_path):
            layer.add(tf, member)
    layer.finish()
    return layer.size


class _Extraction:
    def __init__(self, root: Path, privileged: bool) -> None:
        self.root = root
        self.privileged = privileged
        self.size = 0
        # directory metadata is applied last: adding entries would change mtimes, and a
        # read-only mode would stop the entries below from being written
        self._dirs: dict[Path, tarfile.TarInfo] = {}

    def add(self, tf: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        parts = clean_name(member.name)
        if not parts:
            if not member.isdir():
                raise _refuse(member.name, "the root must be a directory")
            self._dirs[self.root] = member
            return
        parent = self._parent(parts, member.name)
        name = parts[-1]
        if name.startswith(_WHITEOUT):
            self._whiteout(parent, name, member.name)
            return
        path = parent / name
        if member.isdir():
            self._make_dir(path)
            self._dirs[path] = member
            return
        if member.ischr() or member.isblk():
            return
        _remove(path)
        if member.isreg():
            self._write(tf, member, path)
        elif member.issym():
            _check_symlink(parts, member)
            os.symlink(member.linkname, path)
        elif member.islnk():
            os.link(self._link_source(member), path, follow_symlinks=False)
            return  # the same inode: its metadata came with the first name
        elif member.isfifo():
            os.mkfifo(path)
        else:
            raise _refuse(member.name, f"unsupported member type {member.type!r}")
        self._apply(path, member)

    def finish(self) -> None:
        for path, member in reversed(self._dirs.items()):
            try:
                if not stat.S_ISDIR(os.lstat(path).st_mode):
                    continue
            except FileNotFoundError:
                continue  # replaced or removed by a later member
            self._apply(path, member)

    def _parent(self, parts: tuple[str, ...], name: str) -> Path:
        """The member's parent directory, made if missing; never a symlink."""
        path = self.root
        for depth, part in enumerate(parts[:-1], start=1):
            path = path / part
            try:
                mode = os.lstat(path).st_mode
            except FileNotFoundError:
                path.mkdir()
                os.chmod(path, 0o755)
                continue
            if stat.S_ISLNK(mode):
                raise _refuse(
                    name, f'"{joined(parts[:depth])}" is a symlink; never writing through one'
                )
            if not stat.S_ISDIR(mode):
                raise _refuse(name, f'"{joined(parts[:depth])}" is not a directory')
        return path

    def _link_source(self, member: tarfile.TarInfo) -> Path:
        try:
            parts = clean_name(member.linkname)
        except InvalidArgument:
            raise _outside(member) from None
        if not parts:
            raise _refuse(member.name, "hard link to the layer root")
        path = self.root
        for part in parts[:-1]:
            path = path / part
            try:
                mode = os.lstat(path).st_mode
            except FileNotFoundError:
                mode = 0
            if not stat.S_ISDIR(mode):
                raise _outside(member)
        path = path / parts[-1]
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            raise _outside(member) from None
        if stat.S_ISDIR(mode):
            raise _refuse(member.name, "hard link to a directory")
        return path

    def _make_dir(self, path: Path) -> None:
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            mode = 0
        if stat.S_ISDIR(mode):
            return
        _remove(path)
        path.mkdir(mode=0o700)

    def _write(self, tf: tarfile.TarFile, member: tarfile.TarInfo, path: Path) -> None:
        source = tf.extractfile(member)
        assert source is not None  # a regular member always has data
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        with source, os.fdopen(os.open(path, flags, 0o600), "wb") as out:
            shutil.copyfileobj(source, out, _CHUNK)
        self.size += member.size

    def _whiteout(self, parent: Path, name: str, member_name: str) -> None:
        if name == _OPAQUE:
            os.setxattr(parent, _OPAQUE_XATTR, b"y", follow_symlinks=False)
            return
        if name.startswith(_WHITEOUT_META):
            return
        hidden = name.removeprefix(_WHITEOUT)
        if hidden in ("", ".", ".."):
            raise _refuse(member_name, "whiteout without a name")
        path = parent / hidden
        _remove(path)
        os.mknod(path, stat.S_IFCHR, os.makedev(0, 0))

    def _apply(self, path: Path, member: tarfile.TarInfo) -> None:
        if self.privileged:
            os.chown(path, member.uid, member.gid, follow_symlinks=False)
        if not member.issym():
            os.chmod(path, member.mode & 0o7777)  # after chown, which clears set-id bits
        if self.privileged:
            for key, value in member.pax_headers.items():
                attr = key.removeprefix(_XATTR_HEADER)
                if attr != key and not attr.startswith(_OVERLAY_XATTRS):
                    raw = value.encode("utf-8", "surrogateescape")
                    os.setxattr(path, attr, raw, follow_symlinks=False)
        os.utime(path, (member.mtime, member.mtime), follow_symlinks=False)


def _check_symlink(parts: tuple[str, ...], member: tarfile.TarInfo) -> None:
    target = member.linkname
    if not target:
        raise _refuse(member.name, "symlink without a target")
    if target.startswith("/"):
        return
    depth = len(parts) - 1
    for part in target.split("/"):
        if part in ("", "."):
            continue
        depth += -1 if part == ".." else 1
        if depth < 0:
            raise _refuse(member.name, f'symlink target "{target}" climbs above the layer root')


def _outside(member: tarfile.TarInfo) -> InvalidArgument:
    return _refuse(member.name, f'hard link target "{member.linkname}" is not in the layer')


def _remove(path: Path) -> None:
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISDIR(mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def _refuse(name: str, why: str) -> InvalidArgument:
    return InvalidArgument(f'refusing archive member "{name}": {why}')
