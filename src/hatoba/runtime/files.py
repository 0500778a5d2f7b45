"""A container's files for `cp` (path stat, archive, extract), `export`, `diff` and `commit`.

Reading and writing paths goes through the files helper (runtime/fshelper.py), a process
forked by the fork server that sees exactly the container's view. What `diff` and `commit`
need is the container's own layer (overlayfs's upper directory), read here directly: it is the
record of the container's changes, and overlay's whiteouts (0/0 character devices) and opaque
folders (an xattr) say what it deleted. An image container has its init layer (the runtime's
mount points) between its layer and the image's, so those are never changes of its own.

`hostfs` containers have no layer: their changes are the host's, and `diff`, `commit` and
`export` refuse them.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import tarfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any, BinaryIO

from hatoba.errors import InvalidArgument, KernelError, NotFound
from hatoba.model.launch import FileView
from hatoba.model.mounts import BIND, TMPFS
from hatoba.runtime.crun import CrunRuntime, lookup_in_layer, opaque
from hatoba.runtime.forkserver import ForkServer
from hatoba.runtime.storage import resolve_bind_source, tree_size

CHANGE_MODIFY, CHANGE_ADD, CHANGE_DELETE = 0, 1, 2
_WHITEOUT = ".wh."
_OPAQUE = ".wh..wh..opq"


def _no_layer(what: str) -> InvalidArgument:
    return InvalidArgument(
        f"hatoba cannot {what} a hostfs container: its files are the host's, it has no "
        "layer of its own"
    )


class ContainerFiles:
    """Matches `hatoba.api.ports.ContainerFiles`. Every call blocks: call off the loop."""

    def __init__(self, runtime: CrunRuntime, forkserver: ForkServer) -> None:
        self._runtime = runtime
        self._forkserver = forkserver

    # --- through the helper ---------------------------------------------------------------

    def stat(self, view: FileView, path: str, name: str) -> dict[str, Any]:
        answer, reader = self._ask("stat", view, path, name)
        reader.close()
        return dict(answer["stat"])

    def archive(self, view: FileView, path: str, name: str) -> tuple[dict[str, Any], IO[bytes]]:
        """The stat of `path` and a reader of its tar archive (Docker's rebased entries)."""
        answer, reader = self._ask("get", view, path, name)
        return dict(answer["stat"]), reader

    def extract(
        self,
        view: FileView,
        path: str,
        name: str,
        body: IO[bytes],
        *,
        no_overwrite_dir_non_dir: bool,
        owner: tuple[int, int] | None,
    ) -> None:
        """Unpack the tar archive `body` (plain or compressed) into the folder `path`."""
        options = {"no_overwrite_dir_non_dir": no_overwrite_dir_non_dir, "owner": owner}
        _, reader = self._ask("put", view, path, name, options=options, body=body)
        reader.close()

    def export(self, view: FileView) -> IO[bytes]:
        """A reader of the tar archive of the container's root file system (no volumes)."""
        if view.hostfs:
            raise _no_layer("export")
        _, reader = self._ask("export", view, "/", "")
        return reader

    def _ask(
        self,
        op: str,
        view: FileView,
        path: str,
        name: str,
        *,
        options: dict[str, Any] | None = None,
        body: IO[bytes] | None = None,
    ) -> tuple[dict[str, Any], IO[bytes]]:
        request = {
            "op": op,
            "path": path,
            "options": options or {},
            "view": self._view(view, writable=op == "put", with_mounts=op != "export"),
        }
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        fds = [theirs.fileno(), *((body.fileno(),) if body is not None else ())]
        try:
            self._forkserver.spawn_files_helper(request, fds)
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        reader = ours.makefile("rb")
        ours.close()  # the file object keeps the socket open
        line = reader.readline()
        try:
            answer = json.loads(line)
        except ValueError:
            reader.close()
            raise KernelError("the files helper ended without an answer") from None
        if "error" in answer:
            reader.close()
            if answer.get("kind") == "missing":
                raise NotFound(f"Could not find the file {answer['error']} in container {name}")
            raise InvalidArgument(str(answer["error"]))
        return answer, reader

    def _view(self, view: FileView, *, writable: bool, with_mounts: bool) -> dict[str, Any]:
        roots = self._runtime.roots
        cid = view.container_id
        doc: dict[str, Any] = {"mounts": [], "masked": []}
        if view.hostfs:
            doc.update(root="/", masked=list(roots))
        else:
            bundle = self._runtime.bundle_dir(cid)
            doc["root"] = str(bundle / "rootfs")
            if view.shim_pid:
                doc["shim_pid"] = view.shim_pid  # its namespace has the live overlay there
            else:
                for sub in ("rootfs", "work"):
                    (bundle / sub).mkdir(parents=True, exist_ok=True)
                upper = self._runtime.layer_dir(cid)
                upper.mkdir(exist_ok=True)
                upper.chmod(0o755)
                doc["overlay"] = {
                    "lower": [
                        str(self._runtime.init_layer(view.init)),
                        *reversed(view.layers),
                    ],
                    "upper": str(upper),
                    "work": str(bundle / "work"),
                }
        if not with_mounts:
            return doc
        for mount in view.mounts:
            if mount.kind == TMPFS:
                continue  # Docker's cp does not see them either
            source = mount.source
            if mount.kind == BIND:
                found = resolve_bind_source(source, roots, must_exist=False)
                if not os.path.lexists(found.path):
                    continue
                source = found.path
                doc["masked"] += [os.path.join(mount.destination, r) for r in found.roots_inside]
            doc["mounts"].append(
                {
                    "source": source,
                    "destination": mount.destination,
                    "readonly": mount.readonly,
                    "recursive": mount.recursive,
                }
            )
        return doc

    # --- the container's own layer -------------------------------------------------------

    def changes(self, view: FileView) -> list[tuple[str, int]]:
        """What the container changed (Docker's `diff`): (path, 0 modified | 1 added |
        2 deleted), by path. A folder counts as modified when something in it changed."""
        if view.hostfs:
            raise _no_layer("diff")
        lowers = self._lowers(view)
        found: dict[str, int] = {}
        for path, st, entry in _walk(self._runtime.layer_dir(view.container_id)):
            if _is_whiteout(st):
                found[path] = CHANGE_DELETE
                continue
            below = _lower_stat(lowers, path)
            is_dir = stat.S_ISDIR(st.st_mode)
            if below is None:
                found[path] = CHANGE_ADD
            elif not (is_dir and stat.S_ISDIR(below.st_mode) and _same_dir(st, below)):
                found[path] = CHANGE_MODIFY
            if is_dir and below is not None and opaque(entry):
                for child in _lower_children(lowers, path) - set(os.listdir(entry)):
                    found[os.path.join(path, child)] = CHANGE_DELETE
        # a folder holding changes is modified too (its permissions go with them)
        for path in list(found):
            parent = os.path.dirname(path)
            while parent != "/":
                found.setdefault(parent, CHANGE_MODIFY)
                parent = os.path.dirname(parent)
        return sorted(found.items())

    def layer_size(self, container_id: str) -> int:
        return tree_size(self._runtime.layer_dir(container_id))

    def write_layer(self, view: FileView, out: BinaryIO) -> int:
        """The container's layer as a layer tar, as `docker save` has them: whiteouts as
        `.wh.NAME` files, an opaque folder with `.wh..wh..opq`; owners as numbers. Returns
        how many entries it has."""
        if view.hostfs:
            raise _no_layer("commit")
        count = 0
        with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tf:
            for path, st, entry in _walk(self._runtime.layer_dir(view.container_id)):
                count += 1
                name = path.lstrip("/")
                if _is_whiteout(st):
                    folder, base = os.path.split(name)
                    tf.addfile(_empty(os.path.join(folder, _WHITEOUT + base), st))
                    continue
                info = tf.gettarinfo(str(entry), arcname=name)
                info.uname = info.gname = ""
                if info.isreg():
                    with open(entry, "rb") as data:
                        tf.addfile(info, data)
                else:
                    tf.addfile(info)
                if stat.S_ISDIR(st.st_mode) and opaque(entry):
                    tf.addfile(_empty(os.path.join(name, _OPAQUE), st))
        return count

    def _lowers(self, view: FileView) -> list[Path]:
        """The layers below the container's own, top first."""
        init = self._runtime.init_layer(view.init)
        return [init, *(Path(layer) for layer in reversed(view.layers))]


def _walk(root: Path) -> Iterator[tuple[str, os.stat_result, Path]]:
    """Every entry below `root` (path inside the container, lstat, host path), parents
    first, names in order; no link followed."""

    def visit(inside: str, folder: Path) -> Iterator[tuple[str, os.stat_result, Path]]:
        for entry in sorted(os.scandir(folder), key=lambda e: e.name):
            st = entry.stat(follow_symlinks=False)
            path = os.path.join(inside, entry.name)
            yield path, st, Path(entry.path)
            if stat.S_ISDIR(st.st_mode):
                yield from visit(path, Path(entry.path))

    yield from visit("/", root)


def _is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _lower_stat(lowers: Sequence[Path], path: str) -> os.stat_result | None:
    parts = [p for p in path.split("/") if p]
    for layer in lowers:
        decided, entry = lookup_in_layer(layer, parts)
        if decided:
            return os.lstat(entry) if entry is not None else None
    return None


def _lower_children(lowers: Sequence[Path], path: str) -> set[str]:
    """The names in the folder `path` of the layers below, as overlayfs merges them."""
    parts = [p for p in path.split("/") if p]
    names: set[str] = set()
    hidden: set[str] = set()
    for layer in lowers:
        decided, entry = lookup_in_layer(layer, parts)
        if entry is None or not entry.is_dir():
            if decided:
                break
            continue
        for child in os.listdir(entry):
            if child in hidden or child in names:
                continue
            if _is_whiteout(os.lstat(entry / child)):
                hidden.add(child)
            else:
                names.add(child)
        if opaque(entry):
            break
    return names


def _same_dir(a: os.stat_result, b: os.stat_result) -> bool:
    """Docker's test for a folder only copied up: same size and mode, the same mtime (to
    the second when either has no nanoseconds)."""
    same_time = a.st_mtime_ns == b.st_mtime_ns or (
        a.st_mtime_ns // 10**9 == b.st_mtime_ns // 10**9
        and (a.st_mtime_ns % 10**9 == 0 or b.st_mtime_ns % 10**9 == 0)
    )
    return a.st_size == b.st_size and a.st_mode == b.st_mode and same_time


def _empty(name: str, st: os.stat_result) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mtime = int(st.st_mtime)
    info.mode = 0o644
    return info
