"""`POST /hatoba/capture`: packets from one interface, streamed as pcapng over a hijacked
connection until the client half-closes its side, the count is reached or the interface goes.

The packet socket is opened by the service inside the right namespace (a container's, or the
host's) with the client's filter compiled by libpcap, so no tcpdump runs and nothing is
installed in the container. The stream ends with the kernel's counts (an interface statistics
block): packets the filter took and packets dropped because the reader fell behind. When the
client reads slowly the service stops reading the socket and the kernel drops (and counts)
what does not fit: a slow reader never slows the traffic it watches.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from dataclasses import dataclass
from typing import Any

from hatoba import __version__
from hatoba.api.http import RawReader
from hatoba.api.ports import Instruments, Tap
from hatoba.api.streams import close_writer
from hatoba.drivers import registry as drivers
from hatoba.engine.state import State
from hatoba.errors import HatobaError, InvalidArgument
from hatoba.observe import pcapng

_BATCH = 256  # frames read per wake-up
_BATCH_BYTES = 4 << 20  # … and at most about this many bytes of them
_SO_SNDBUFFORCE = 33


@dataclass(frozen=True)
class CaptureTarget:
    """Where to capture: an interface of a namespace (None: the host's), as people name it."""

    netns: str | None
    ifname: str
    description: str


def capture_target(
    state: State,
    *,
    container: str,
    network: str,
    interface: str,
    netns: str,
    segments_dir: str = "",
) -> CaptureTarget:
    """`--container NAME [-i IF]`, `--network NAME` or `-i IF [--netns CONTAINER|host]`; a
    network bridged in a segment of its own (overlay) is captured on its bridge there
    (`segments_dir`: where the segments' handles are), which sees its bridged frames too."""
    if sum(bool(x) for x in (container, network)) > 1 or (network and (interface or netns)):
        raise InvalidArgument("give one of --container, --network or -i [--netns]")
    if network:
        net = state.network(network)
        bridges = drivers.of(net).host_bridges(net)
        if not bridges:
            raise InvalidArgument(
                f"network {net.name} has no bridge to capture on (use -i IFACE for the host's)"
            )
        bridge = bridges[0]
        where = os.path.join(segments_dir, bridge.segment) if bridge.segment else None
        return CaptureTarget(where, bridge.name, f"bridge of network {net.name}")
    owner = container or (netns if netns not in ("", "host") else "")
    if not owner:
        if not interface:
            raise InvalidArgument("give --container NAME, --network NAME or -i IFACE")
        return CaptureTarget(None, interface, "host")
    found = state.container(owner)
    if not found.state.running:
        raise HatobaError(f"container {found.name} is not running")
    ifname = interface or "eth0"
    if not found.netns:  # --net host: the host's own interfaces
        return CaptureTarget(None, ifname, f"host (container {found.name} shares it)")
    return CaptureTarget(found.netns, ifname, f"container {found.name}")


async def open_capture(
    instruments: Instruments, target: CaptureTarget, expression: str, snaplen: int
) -> Tap:
    """Opened off the loop: entering a namespace takes a thread."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(
        None, instruments.open_tap, target.netns, target.ifname, expression, snaplen
    )


class _Pump:
    """Packets from the tap to the client, read and written in the loop's reader callback
    (a coroutine step per packet would cost more than the packet). While the client has not
    taken what was written, the tap is not read: the kernel keeps (and then drops) the rest."""

    def __init__(self, tap: Tap, writer: asyncio.StreamWriter, count: int) -> None:
        self.tap = tap
        self.writer = writer
        self.count = count
        self.sent = 0
        self.note = ""
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._loop = asyncio.get_running_loop()
        self._buffer = bytearray(_BATCH_BYTES + pcapng.packet_block_room(tap.snaplen))
        self._reading = False
        self._resuming: asyncio.Future[None] | None = None

    def start(self) -> None:
        if not self._reading and not self.done.done():
            self._loop.add_reader(self.tap.fileno(), self._readable)
            self._reading = True

    def stop(self) -> None:
        if self._reading:
            self._loop.remove_reader(self.tap.fileno())
            self._reading = False

    def _readable(self) -> None:
        limit = min(_BATCH, self.count - self.sent) if self.count else _BATCH
        try:
            filled, read = self.tap.read_blocks(self._buffer, 0, limit)
        except HatobaError as exc:
            self.note = f"capture ended: {exc.message}"
            return self._finish()
        if read:
            with memoryview(self._buffer) as view:
                self.writer.write(view[:filled])
            self.sent += read
        if self.count and self.sent >= self.count:
            return self._finish()
        if self.writer.transport.get_write_buffer_size():
            # what did not go out at once may still be the transport's to send
            self._buffer = bytearray(len(self._buffer))
            self.stop()
            self._resuming = asyncio.ensure_future(self._resume())

    async def _resume(self) -> None:
        try:
            await self.writer.drain()
        except ConnectionError:
            return self._finish()
        self.start()

    def _finish(self) -> None:
        self.stop()
        if not self.done.done():
            self.done.set_result(None)


async def stream(
    tap: Tap,
    target: CaptureTarget,
    client: RawReader,
    writer: asyncio.StreamWriter,
    count: int = 0,
) -> None:
    """pcapng until the client half-closes, `count` packets went out (0: no limit) or the
    socket fails; then the kernel's counts, and the connection is closed."""
    pump = _Pump(tap, writer, count)
    stop = asyncio.ensure_future(client.read(1))  # anything, or the end: the client is done
    _large_send_buffer(writer)
    try:
        writer.write(
            pcapng.section_header(f"hatoba {__version__}")
            + pcapng.interface(target.ifname, target.description, tap.snaplen)
        )
        await writer.drain()
        pump.start()
        ends: list[asyncio.Future[Any]] = [pump.done, stop]
        await asyncio.wait(ends, return_when=asyncio.FIRST_COMPLETED)
        pump.stop()
        await writer.drain()
        accepted, dropped = tap.count()
        writer.write(
            pcapng.statistics(
                0, tap.started_ns, time.time_ns(), accepted, dropped, pump.sent, pump.note
            )
        )
        await writer.drain()
    except ConnectionError:
        pass  # the client went away: nobody to tell
    finally:
        pump.stop()
        stop.cancel()
        tap.close()
        await close_writer(writer)


def _large_send_buffer(writer: asyncio.StreamWriter) -> None:
    """Room for a batch in the socket, so that it goes out in one send (the service runs as
    root: the system's cap on buffers does not apply)."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, _SO_SNDBUFFORCE, _BATCH_BYTES)
