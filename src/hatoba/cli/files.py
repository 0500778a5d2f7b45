"""`hatoba cp|diff|export|commit`: a container's files, as docker 20.10's CLI handles them.

`cp` follows docker's copy rules (moby's pkg/archive/copy.go): a folder copied to an existing
folder goes inside it, `SRC/.` copies a folder's content, a file may be renamed on the way,
a trailing `/` asks for a folder; the archive's entries are renamed on the client before they
are unpacked, as docker's are. `-` reads or writes a tar stream.
"""

from __future__ import annotations

import os
import sys

from hatoba.cli.errors import CliError
from hatoba.cli.image import write_archive
from hatoba.cli.parsing import Parser
from hatoba.errors import NotFound

TYPE_CHECKING = False  # `typing` costs ~4 ms of start-up; mypy treats this name as True
if TYPE_CHECKING:
    import tarfile
    from collections.abc import Iterator
    from typing import Any

    from hatoba.cli.context import Context

_KINDS = {0: "C", 1: "A", 2: "D"}
_GO_DIR, _GO_SYMLINK = 1 << 31, 1 << 27
# Go's FileMode bits of types that are neither a folder nor a regular file
_GO_IRREGULAR = (1 << 26) | (1 << 25) | (1 << 24) | (1 << 21) | (1 << 19)


def diff(ctx: Context, args: list[str]) -> int:
    p = Parser(
        ctx.prog, "CONTAINER", "Inspect changes to files or directories on a container's filesystem"
    )
    ns = p.parse(args)
    p.expect(ns.args, 1, 1)
    changes = ctx.client.json("GET", f"/containers/{ns.args[0]}/changes") or []
    sys.stdout.write("".join(f"{_KINDS.get(c['Kind'], '?')} {c['Path']}\n" for c in changes))
    return 0


def export(ctx: Context, args: list[str]) -> int:
    p = Parser(ctx.prog, "[OPTIONS] CONTAINER", "Export a container's filesystem as a tar archive")
    p.option("-o", "--output", help="Write to a file, instead of STDOUT", default="")
    ns = p.parse(args)
    p.expect(ns.args, 1, 1)
    if not ns.output and os.isatty(1):
        raise CliError("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    response = ctx.client.request("GET", f"/containers/{ns.args[0]}/export")
    write_archive(response.chunks(), ns.output, "failed to export container")
    return 0


def commit(ctx: Context, args: list[str]) -> int:
    p = Parser(
        ctx.prog,
        "[OPTIONS] CONTAINER [REPOSITORY[:TAG]]",
        "Create a new image from a container's changes",
    )
    p.option("-a", "--author", help='Author (e.g., "Jane Doe <jane@example.com>")', default="")
    p.repeated("-c", "--change", help="Apply Dockerfile instruction to the created image")
    p.option("-m", "--message", help="Commit message", default="")
    p.option(
        "-p",
        "--pause",
        help="Pause container during commit",
        type=_true,
        default=True,
        metavar="",
    )
    ns = p.parse(args)
    p.expect(ns.args, 1, 2)
    repo, tag = "", ""
    if len(ns.args) == 2:
        repo = ns.args[1]
        last = repo.rpartition("/")[2]
        if ":" in last:
            repo, _, tag = repo.rpartition(":")
    query = {
        "container": ns.args[0],
        "repo": repo,
        "tag": tag,
        "comment": ns.message,
        "author": ns.author,
        "changes": ns.change,
        "pause": ns.pause,
    }
    created = ctx.client.json("POST", "/commit", query)
    sys.stdout.write(f"{created['Id']}\n")
    return 0


def _true(text: str) -> bool:
    return text.lower() in ("1", "t", "true")


# --- cp ---------------------------------------------------------------------------------------


def _split(arg: str) -> tuple[str, str]:
    """docker's splitCpArg: (container, path); a local path has no container."""
    if arg.startswith(("/", ".")) or ":" not in arg:
        return "", arg
    container, _, path = arg.partition(":")
    return container, path


def cp(ctx: Context, args: list[str]) -> int:
    p = Parser(
        ctx.prog,
        "[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n"
        "\thatoba cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
        "Copy files/folders between a container and the local filesystem",
    )
    p.flag("-a", "--archive", help="Archive mode (copy all uid/gid information)")
    p.flag("-L", "--follow-link", help="Always follow symbol link in SRC_PATH")
    ns = p.parse(args)
    p.expect(ns.args, 2, 2)
    (src_container, src), (dst_container, dst) = _split(ns.args[0]), _split(ns.args[1])
    if not src_container and not dst_container:
        raise CliError("must specify at least one container source")
    if src_container and dst_container:
        raise CliError("copying between containers is not supported")
    if not src or not dst:
        raise CliError("filepath can not be empty")
    if src_container:
        return _from_container(ctx, src_container, src, dst, follow=ns.follow_link)
    return _to_container(ctx, src, dst_container, dst, copy_ids=ns.archive, follow=ns.follow_link)


def _stat(ctx: Context, container: str, path: str) -> dict[str, Any] | None:
    import base64
    import json

    try:
        response = ctx.client.request("HEAD", f"/containers/{container}/archive", {"path": path})
    except NotFound:
        return None
    header = response.headers.get("x-docker-container-path-stat", "")
    response.close()
    found: dict[str, Any] = json.loads(base64.b64decode(header))
    return found


def _no_such(container: str, path: str) -> CliError:
    return CliError(f"Error: No such container:path: {container}:{path}")


def _from_container(ctx: Context, container: str, src: str, dst: str, *, follow: bool) -> int:
    if follow:
        found = _stat(ctx, container, src)
        if found and found.get("mode", 0) & _GO_SYMLINK:
            src = found["linkTarget"]
    try:
        response = ctx.client.request("GET", f"/containers/{container}/archive", {"path": src})
    except NotFound:
        raise _no_such(container, src) from None
    if dst == "-":
        write_archive(response.chunks(), "", "")
        return 0
    import base64
    import json

    stat = json.loads(base64.b64decode(response.headers.get("x-docker-container-path-stat", "")))
    is_dir = bool(stat.get("mode", 0) & _GO_DIR)
    src_base = _base(src)
    into, rename = _destination(is_dir, dst)
    _untar(_Chunks(response.chunks()), into, src_base, rename)
    return 0


def _base(path: str) -> str:
    """The name archive entries start with (the server's rebase: `.` for `X/.`)."""
    trimmed = path.rstrip("/")
    if trimmed.endswith("/.") or trimmed == ".":
        return "."
    return os.path.basename(trimmed) or "."


def _destination(src_is_dir: bool, dst: str) -> tuple[str, str | None]:
    """docker's PrepareArchiveCopy, for a local destination: the folder to unpack in, and
    the name the source's entries take there (None: as they are)."""
    exists = os.path.lexists(dst)
    if exists and os.path.isdir(dst):
        return dst, None
    if exists and src_is_dir:
        raise CliError(f"cannot copy a directory to a file: {dst}")
    if not exists and dst.endswith("/"):
        raise CliError(f'destination directory "{dst}" must exist')
    parent = os.path.dirname(dst.rstrip("/")) or "."
    if not os.path.isdir(parent):
        raise CliError(f"no such directory: {parent}")
    return parent, os.path.basename(dst.rstrip("/"))


class _Chunks:
    """The body of a response as a file object tarfile reads."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = b""

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            chunk = next(self._chunks, b"")
            if not chunk:
                break
            self._buffer += chunk
        if size < 0:
            data, self._buffer = self._buffer, b""
        else:
            data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data


def _renamed(name: str, base: str, new: str | None) -> str:
    """An entry of an archive whose entries start with `base`, as if they started with
    `new` (None: unchanged)."""
    if new is None:
        return name
    if name == base:
        return new
    if name.startswith(base + "/"):
        return new + name[len(base) :]
    return name


def _untar(source: Any, into: str, base: str, rename: str | None) -> None:
    import tarfile

    if not hasattr(tarfile, "tar_filter"):  # see runtime/fshelper.py
        from backports import tarfile  # type: ignore[no-redef]

    def admit(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo:
        member = member.replace(name=_renamed(member.name, base, rename), deep=False)
        checked = tarfile.tar_filter(member, dest)
        return checked.replace(mode=member.mode, deep=False)

    with tarfile.open(fileobj=source, mode="r|*") as tf:
        tf.extractall(into, numeric_owner=os.geteuid() == 0, filter=admit)


def _to_container(
    ctx: Context, src: str, container: str, dst: str, *, copy_ids: bool, follow: bool
) -> int:
    found = _stat(ctx, container, dst)
    if found and found.get("mode", 0) & _GO_SYMLINK:
        target = found["linkTarget"]
        dst = target if target.startswith("/") else os.path.join(os.path.dirname(dst), target)
        found = _stat(ctx, container, dst)
    if found and found.get("mode", 0) & _GO_IRREGULAR:
        raise CliError(f'destination "{container}:{dst}" must be a directory or a regular file')
    exists, is_dir = found is not None, bool(found and found.get("mode", 0) & _GO_DIR)
    query = {"path": dst, "noOverwriteDirNonDir": True, "copyUIDGID": copy_ids or None}
    if src == "-":
        if not is_dir:
            raise CliError(f'destination "{container}:{dst}" must be a directory')
        _upload(ctx, container, query, 0)
        return 0
    if not os.path.lexists(src):
        raise CliError(f"lstat {os.path.abspath(src)}: no such file or directory")
    if follow:
        src = os.path.realpath(src)
    src_is_dir = os.path.isdir(src) and not os.path.islink(src)
    src_base = _base(src)
    rename: str | None = None
    if exists and is_dir:
        into = dst
    elif exists and src_is_dir:
        raise CliError("cannot copy a directory to a file")
    elif not exists and dst.endswith("/"):
        raise CliError(f'destination directory "{container}:{dst}" must exist')
    else:
        into, rename = os.path.dirname(dst.rstrip("/")) or "/", os.path.basename(dst.rstrip("/"))
    query["path"] = into
    import tarfile
    import tempfile

    with tempfile.TemporaryFile() as archive:
        arcname = rename if rename is not None else src_base
        with tarfile.open(fileobj=archive, mode="w", format=tarfile.PAX_FORMAT) as tf:
            if arcname == ".":  # `SRC/.` into a folder: what is in it
                for name in sorted(os.listdir(src)):
                    tf.add(os.path.join(src, name), arcname=name)
            else:
                tf.add(src, arcname=arcname)
        archive.seek(0)
        _upload(ctx, container, query, archive.fileno())
    return 0


def _upload(ctx: Context, container: str, query: dict[str, Any], fd: int) -> None:
    try:
        ctx.client.request("PUT", f"/containers/{container}/archive", query, upload=fd).read()
    except NotFound:
        raise _no_such(container, str(query["path"])) from None
