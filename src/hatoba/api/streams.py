"""Docker's stream framing, the relays between a hijacked client and a process, and files
streamed as response bodies."""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import AsyncIterator
from typing import IO, Protocol

STDIN, STDOUT, STDERR = 0, 1, 2
_HEADER = struct.Struct(">BxxxI")


def frame(stream: int, data: bytes) -> bytes:
    """Docker's multiplexed stream frame: stream byte, 3 zero bytes, big-endian length."""
    return _HEADER.pack(stream, len(data)) + data


class ByteReader(Protocol):
    async def read(self, n: int) -> bytes: ...


async def read_frames(reader: ByteReader) -> tuple[int, bytes] | None:
    """One multiplexed frame, or None at the end of the stream."""
    header = await _read_exactly(reader, _HEADER.size)
    if header is None:
        return None
    stream, length = _HEADER.unpack(header)
    payload = await _read_exactly(reader, length)
    return None if payload is None else (stream, payload)


async def _read_exactly(reader: ByteReader, n: int) -> bytes | None:
    data = bytearray()
    while len(data) < n:
        chunk = await reader.read(n - len(data))
        if not chunk:
            return None
        data += chunk
    return bytes(data)


async def close_writer(writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(Exception):
        writer.close()
        await writer.wait_closed()


async def file_chunks(file: IO[bytes], size: int = 1 << 20) -> AsyncIterator[bytes]:
    """A blocking file (an archive) read off the loop, chunk by chunk, then closed."""
    loop = asyncio.get_running_loop()
    try:
        while chunk := await loop.run_in_executor(None, file.read, size):
            yield chunk
    finally:
        file.close()
