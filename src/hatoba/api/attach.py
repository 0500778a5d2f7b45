"""Attach clients to a container's shim: now if it runs, or at its next start.

The docker CLI attaches before it starts a container, so that no output is lost. Such attaches
wait here; `start` tells the shim how many clients to wait for (it buffers output until they
are connected) and then hands each of them a connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections import defaultdict

from hatoba.api.ports import ContainerIO
from hatoba.api.streams import STDERR, STDOUT, ByteReader, close_writer, frame, read_frames
from hatoba.model.detach_keys import DEFAULT, DetachWatch

Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]
_STDIN_DATA, _STDIN_CLOSE, _RESIZE = 0, 1, 2


def _client_frame(kind: int, payload: bytes = b"") -> bytes:
    return struct.pack(">BI", kind, len(payload)) + payload


class Attacher:
    def __init__(self, io: ContainerIO) -> None:
        self._io = io
        self._pending: dict[str, list[asyncio.Future[Conn]]] = defaultdict(list)

    def expected(self, container_id: str) -> int:
        return len(self._pending.get(container_id, ()))

    async def _connect(self, container_id: str, mode: bytes) -> Conn:
        reader, writer = await asyncio.open_unix_connection(
            str(self._io.attach_socket(container_id))
        )
        writer.write(mode)
        await writer.drain()
        return reader, writer

    async def deliver(self, container_id: str) -> None:
        """After a start: connect every attach that was waiting for it."""
        for fut in self._pending.pop(container_id, []):
            if fut.done():
                continue
            try:
                fut.set_result(await self._connect(container_id, b"A"))
            except OSError as exc:
                fut.set_exception(exc)

    def abandon(self, container_id: str, exc: BaseException) -> None:
        """The start failed: the waiting clients get the error (their connection closes)."""
        for fut in self._pending.pop(container_id, []):
            if not fut.done():
                fut.set_exception(exc)

    async def attach(
        self,
        container_id: str,
        running: bool,
        client: ByteReader,
        client_writer: asyncio.StreamWriter,
        *,
        tty: bool,
        stdin: bool,
        stdout: bool,
        stderr: bool,
        stdin_once: bool,
        detach_keys: bytes = DEFAULT,
    ) -> bool:
        """Relay until the container's output ends or the client leaves; True when the client
        detached with its keys (watched for on a terminal only, as Docker does)."""
        try:
            if running:
                shim_reader, shim_writer = await self._connect(container_id, b"A")
            else:
                fut: asyncio.Future[Conn] = asyncio.get_running_loop().create_future()
                self._pending[container_id].append(fut)
                shim_reader, shim_writer = await fut
        except (OSError, Exception):
            await close_writer(client_writer)
            return False
        streams = {STDOUT} if stdout else set()
        if stderr:
            streams.add(STDERR)

        async def pump_out() -> None:
            while (item := await read_frames(shim_reader)) is not None:
                stream, data = item
                if stream in streams or tty:
                    client_writer.write(data if tty else frame(stream, data))
                    await client_writer.drain()

        watch = DetachWatch(detach_keys) if tty else None
        detached = False

        async def pump_in() -> None:
            nonlocal detached
            while data := await client.read(1 << 16):
                if watch is not None:
                    data, detached = watch.feed(data)
                if data:
                    shim_writer.write(_client_frame(_STDIN_DATA, data))
                    await shim_writer.drain()
                if detached:
                    # the shim drops this client only (stdin stays open); the output ends
                    await close_writer(shim_writer)
                    return
            if stdin_once:
                shim_writer.write(_client_frame(_STDIN_CLOSE))
                await shim_writer.drain()

        feeder = asyncio.ensure_future(pump_in()) if stdin else None
        try:
            with contextlib.suppress(ConnectionError):
                await pump_out()
        finally:
            if feeder is not None:
                feeder.cancel()
            await close_writer(shim_writer)
            await close_writer(client_writer)
        return detached

    async def resize(self, container_id: str, height: int, width: int) -> None:
        with contextlib.suppress(OSError):
            _reader, writer = await self._connect(container_id, b"C")
            writer.write(_client_frame(_RESIZE, f"{height} {width}".encode()))
            await writer.drain()
            await close_writer(writer)
