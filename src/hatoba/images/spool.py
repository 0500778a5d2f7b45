"""Copy a possibly compressed stream to a plain file, hashing both sides on the way.

Works on non-seekable streams (an HTTP body, stdin): the compression is sniffed from the
first bytes. gzip, bzip2 and xz are read; zstd is refused with a clear error.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import lzma
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol, cast

from hatoba.errors import InvalidArgument

_CHUNK = 1 << 20
_GZIP = b"\x1f\x8b"
_BZIP2 = b"BZh"
_XZ = b"\xfd7zXZ\x00"
_ZSTD = b"\x28\xb5\x2f\xfd"


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


@dataclass(frozen=True)
class Spooled:
    raw_digest: str  # sha256 of the bytes as received
    digest: str  # sha256 of the uncompressed bytes (a layer's diff id)
    raw_size: int
    size: int


class _Hashing:
    """Reads through to `source`, hashing and counting what passes."""

    def __init__(self, source: Readable, head: bytes) -> None:
        self._source = source
        self._head = head
        self.hash = hashlib.sha256()
        self.count = 0

    def read(self, size: int = -1, /) -> bytes:
        size = size if size > 0 else _CHUNK
        if self._head:
            data, self._head = self._head[:size], self._head[size:]
        else:
            data = self._source.read(size)
        self.hash.update(data)
        self.count += len(data)
        return data


def spool(stream: Readable, dest: Path) -> Spooled:
    """Decompress `stream` into the new file `dest`."""
    head = _read_head(stream, len(_XZ))
    raw = _Hashing(stream, head)
    plain = _decompressor(head, raw)
    digest = hashlib.sha256()
    size = 0
    with dest.open("xb") as out:
        while True:
            try:
                chunk = plain.read(_CHUNK)
            except (EOFError, zlib.error, lzma.LZMAError, OSError) as e:
                raise InvalidArgument(f"cannot read the archive: {e}") from None
            if not chunk:
                break
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
    return Spooled(
        raw_digest="sha256:" + raw.hash.hexdigest(),
        digest="sha256:" + digest.hexdigest(),
        raw_size=raw.count,
        size=size,
    )


def _read_head(stream: Readable, size: int) -> bytes:
    head = b""
    while len(head) < size:
        data = stream.read(size - len(head))
        if not data:
            break
        head += data
    return head


def _decompressor(head: bytes, raw: _Hashing) -> Readable:
    if head.startswith(_GZIP):
        return gzip.GzipFile(fileobj=cast(BinaryIO, raw), mode="rb")
    if head.startswith(_BZIP2):
        return bz2.BZ2File(cast(BinaryIO, raw))
    if head.startswith(_XZ):
        return lzma.LZMAFile(cast(BinaryIO, raw))
    if head.startswith(_ZSTD):
        raise InvalidArgument("zstd-compressed archives are not supported")
    return raw
