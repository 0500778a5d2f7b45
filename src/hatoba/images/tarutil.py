"""Reading tar files strictly: Python's tarfile stops quietly at a damaged or missing header,
so a truncated archive would read as a shorter valid one. Here the end-of-archive marker
(a zero block) must be where the last member ends.
"""

from __future__ import annotations

import contextlib
import posixpath
import tarfile
from collections.abc import Iterator
from pathlib import Path

from hatoba.errors import InvalidArgument

_BLOCK = tarfile.BLOCKSIZE


@contextlib.contextmanager
def open_tar(path: Path, what: str) -> Iterator[tarfile.TarFile]:
    """Open a plain tar; any tar-level error inside the block becomes InvalidArgument."""
    try:
        with tarfile.open(path, "r:") as tf:
            yield tf
    except (tarfile.TarError, EOFError) as e:
        raise InvalidArgument(f"invalid {what}: {_tar_message(e)}") from None


def members(tf: tarfile.TarFile, path: Path) -> Iterator[tarfile.TarInfo]:
    """Every member in order, then a check that the archive really ended there."""
    yield from tf
    with path.open("rb") as f:
        f.seek(tf.offset)
        end = f.read(_BLOCK)
    if len(end) < _BLOCK:
        raise tarfile.ReadError("unexpected end of data (truncated archive)")
    if end.count(0) != _BLOCK:
        raise tarfile.ReadError(f"invalid tar header at offset {tf.offset}")


def clean_name(name: str) -> tuple[str, ...]:
    """Archive member name → path components below the root; refuses anything that escapes."""
    if name.startswith("/"):
        raise InvalidArgument(f'refusing archive member "{name}": absolute path')
    parts = tuple(p for p in name.split("/") if p not in ("", "."))
    if ".." in parts:
        raise InvalidArgument(f'refusing archive member "{name}": path escapes the root')
    return parts


def joined(parts: tuple[str, ...]) -> str:
    return posixpath.join(*parts) if parts else "."


def _tar_message(e: BaseException) -> str:
    text = str(e)
    if text in ("invalid header", "bad checksum", "empty file", "truncated header"):
        return f"not a tar archive ({text})"
    return text
