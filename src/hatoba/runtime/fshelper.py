"""The process that reads and writes a container's files for `cp` and `export`, forked by
the fork server, one per request.

It builds the container's file system in a mount namespace of its own and chroots into it, so
that every path of the request, and every link met on the way, resolves inside the container
as it would for the container's own processes; nothing of the host is in reach but what the
container has mounted. The view (Docker's for `docker cp`: the root file system with the
container's volumes and binds; tmpfs mounts are not part of it):

- a running image container: its live overlay, from the mount namespace of its shim;
- a stopped image container: its layers and its own layer mounted afresh (read-only unless
  the request writes);
- a hostfs container: the host's file system, hatoba's roots masked as in the container;

with the container's volumes and binds mounted on top and hatoba's roots masked inside them.
For an export only the root file system is there.

Protocol: the request is a JSON document (op, view, path, options); fds are a socket to the
service and, for `put`, the archive to unpack. The helper answers one JSON line (`{"stat":
…}` or `{"error": …, "kind": "missing"|"invalid"}`), then, for `get` and `export`, the tar
stream, and closes the socket. Names of users and groups are never looked up (that would load
the container's NSS libraries into this root process): archives carry numeric ids.
"""

from __future__ import annotations

import bz2
import contextlib
import errno
import gzip
import json
import lzma
import os
import posixpath
import shutil
import socket
import stat
import tarfile
import time
import zlib
from pathlib import Path
from typing import IO, Any

from hatoba.kernel import libc
from hatoba.runtime.shim import in_root

# extraction filters (PEP 706) came with Python 3.11.4; Debian 12's own 3.11.2 lacks them
if not hasattr(tarfile, "tar_filter"):
    from backports import tarfile  # type: ignore[no-redef]

# loaded before the chroot: nothing can be imported after it
_CODECS = (bz2, gzip, lzma, zlib)
# Go's os.FileMode bits for the types and special bits, as Docker's path stat carries them
_GO_TYPES = {
    stat.S_IFDIR: 1 << 31,
    stat.S_IFLNK: 1 << 27,
    stat.S_IFBLK: 1 << 26,
    stat.S_IFCHR: (1 << 26) | (1 << 21),
    stat.S_IFIFO: 1 << 25,
    stat.S_IFSOCK: 1 << 24,
}
_GO_SETUID, _GO_SETGID, _GO_STICKY = 1 << 23, 1 << 22, 1 << 20


class PathProblem(Exception):
    def __init__(self, message: str, kind: str = "invalid") -> None:
        super().__init__(message)
        self.kind = kind


def go_file_mode(mode: int) -> int:
    """A stat mode as Go's os.FileMode (what the docker CLI decodes)."""
    go = (mode & 0o777) | _GO_TYPES.get(stat.S_IFMT(mode), 0)
    if mode & stat.S_ISUID:
        go |= _GO_SETUID
    if mode & stat.S_ISGID:
        go |= _GO_SETGID
    if mode & stat.S_ISVTX:
        go |= _GO_STICKY
    return go


def go_time(ns: int) -> str:
    """Go's RFC 3339 with nanoseconds (trailing zeros dropped), in UTC."""
    secs, frac = divmod(ns, 1_000_000_000)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
    return text + (f".{frac:09d}".rstrip("0") if frac else "") + "Z"


def absolute(path: str) -> str:
    """Docker's PreserveTrailingDotOrSeparator(Join("/", path), path): cleaned, with a
    trailing `/` or `/.` kept (they ask for the folder's content, or follow a link)."""
    cleaned = posixpath.normpath("/" + path)
    cleaned = "/" + cleaned.lstrip("/")
    if cleaned != "/":
        if path.endswith("/.") or path == ".":
            cleaned += "/."
        elif path.endswith("/"):
            cleaned += "/"
    return cleaned


def resolve(path: str) -> tuple[str, str]:
    """(the path with the links of its folder followed, not its own; the absolute path)
    (Docker's ResolvePath)."""
    abs_path = absolute(path)
    folder, base = posixpath.split(abs_path)
    resolved_folder = os.path.realpath(folder)
    return posixpath.join(resolved_folder, base) if base else resolved_folder + "/", abs_path


def path_stat(path: str) -> dict[str, Any]:
    resolved, abs_path = resolve(path)
    try:
        st = os.lstat(resolved)
    except FileNotFoundError:
        raise PathProblem(path, "missing") from None
    link = os.path.realpath(abs_path) if stat.S_ISLNK(st.st_mode) else ""
    name = posixpath.basename(abs_path.rstrip("/").removesuffix("/.")) or "/"
    return {
        "name": name,
        "size": st.st_size,
        "mode": go_file_mode(st.st_mode),
        "mtime": go_time(st.st_mtime_ns),
        "linkTarget": link,
    }


def _archive(path: str, out: IO[bytes]) -> None:
    """The tar of `path`, its entries named from the path's last element (Docker's rebase):
    `/etc` gives etc/…, `/etc/.` gives ./…, a file its own name, a link the link."""
    resolved, abs_path = resolve(path)
    st = os.lstat(resolved)
    base = posixpath.basename(abs_path.rstrip("/")) if abs_path != "/" else "."
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tf:
        if stat.S_ISDIR(st.st_mode) or abs_path.endswith("/"):
            tf.add(os.path.realpath(resolved), arcname=base)
        else:
            tf.add(resolved, arcname=base, recursive=False)


def _export(out: IO[bytes]) -> None:
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tf:
        for name in sorted(os.listdir("/")):
            tf.add("/" + name, arcname=name)


def _extract(path: str, body: IO[bytes], options: dict[str, Any]) -> None:
    target = os.path.realpath(absolute(path))
    if not os.path.lexists(target):
        raise PathProblem(path, "missing")
    if not os.path.isdir(target):
        raise PathProblem("extraction point is not a directory")
    no_overwrite = bool(options.get("no_overwrite_dir_non_dir"))
    owner = options.get("owner")

    def admit(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo:
        checked = tarfile.tar_filter(member, dest)  # names and links stay inside `dest`
        destination = os.path.join(dest, checked.name)
        if os.path.lexists(destination):
            existing_dir = os.path.isdir(destination) and not os.path.islink(destination)
            if no_overwrite and existing_dir and not member.isdir():
                raise PathProblem(
                    f'cannot overwrite directory "{destination}" with non-directory "{dest}"'
                )
            if no_overwrite and not existing_dir and member.isdir():
                raise PathProblem(
                    f'cannot overwrite non-directory "{destination}" with directory "{dest}"'
                )
            if not (existing_dir and member.isdir()):
                # replace, never write through, what is there (Docker removes it first)
                if existing_dir:
                    shutil.rmtree(destination)
                else:
                    os.unlink(destination)
        # the archive's modes as they are (tar_filter clears setuid and group write bits)
        kept = checked.replace(mode=member.mode, deep=False)
        if owner is not None:
            kept = kept.replace(uid=owner[0], gid=owner[1], deep=False)
        return kept

    try:
        with tarfile.open(fileobj=body, mode="r|*") as tf:
            tf.extractall(target, numeric_owner=True, filter=admit)
    except tarfile.FilterError as exc:
        raise PathProblem(f"refused archive entry: {exc}") from None
    except tarfile.TarError as exc:
        raise PathProblem(f"the archive is not a valid tar archive: {exc}") from None


def _enter(view: dict[str, Any], writable: bool) -> None:
    if view.get("shim_pid"):
        fd = os.open(f"/proc/{view['shim_pid']}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
        try:
            libc.setns(fd, libc.CLONE_NEWNS)
        finally:
            os.close(fd)
    libc.unshare(libc.CLONE_NEWNS)
    libc.mount(None, "/", None, libc.MS_REC | libc.MS_SLAVE)
    root = view["root"]
    overlay = view.get("overlay")
    if overlay:
        if writable:
            data = (
                f"lowerdir={':'.join(overlay['lower'])},"
                f"upperdir={overlay['upper']},workdir={overlay['work']}"
            )
        else:  # the container's own layer as the top lower one: no in-use upper needed
            data = f"lowerdir={':'.join([overlay['upper'], *overlay['lower']])}"
        libc.mount("overlay", root, "overlay", 0 if writable else libc.MS_RDONLY, data)
    for mount in view.get("mounts", ()):
        _bind(root, mount, writable)
    for path in view.get("masked", ()):
        _mask(in_root(root, path))
    os.chroot(root)
    os.chdir("/")


def _bind(root: str, mount: dict[str, Any], writable: bool) -> None:
    target = in_root(root, mount["destination"])
    if not os.path.lexists(target):
        if not writable:
            return  # nothing to see there: the folder is made at the container's start
        if os.path.isdir(mount["source"]):
            os.makedirs(target, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            Path(target).touch()
    libc.bind(
        mount["source"],
        target,
        recursive=mount.get("recursive", True),
        readonly=bool(mount.get("readonly")),
    )


def _mask(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        libc.mount("tmpfs", path, "tmpfs", libc.MS_RDONLY, "size=0,mode=755")
    elif os.path.lexists(path) and not os.path.islink(path):
        libc.mount("/dev/null", path, None, libc.MS_BIND)


def _answer(sock: socket.socket, doc: dict[str, Any]) -> None:
    sock.sendall(json.dumps(doc).encode() + b"\n")


def main(request: dict[str, Any], fds: list[int]) -> int:
    """Entry point in the forked child; returns its exit status."""
    sock = socket.socket(fileno=fds[0])
    body = os.fdopen(fds[1], "rb") if len(fds) > 1 else None
    # never resolve user or group names (see the module's docstring)
    tarfile.pwd = None  # type: ignore[attr-defined]
    tarfile.grp = None  # type: ignore[attr-defined]
    op, path = request["op"], request.get("path", "/")
    streaming = False
    try:
        _enter(request["view"], writable=op == "put")
        if op == "put":
            assert body is not None
            _extract(path, body, request.get("options", {}))
            _answer(sock, {"done": True})
            return 0
        _answer(sock, {"done": True} if op == "export" else {"stat": path_stat(path)})
        if op == "stat":
            return 0
        streaming = True
        with sock.makefile("wb") as out:
            if op == "get":
                _archive(path, out)
            else:
                _export(out)
    except PathProblem as exc:
        _answer(sock, {"error": str(exc), "kind": exc.kind})
    except OSError as exc:
        if streaming:
            return 1  # the client sees the archive end early
        read_only = exc.errno == errno.EROFS
        message = "mounted volume is marked read-only" if read_only else str(exc)
        with contextlib.suppress(OSError):
            _answer(sock, {"error": message, "kind": "invalid"})
    finally:
        sock.close()
        if body is not None:
            body.close()
    return 0
