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
import time
from dataclasses import dataclass

from hatoba import __version__
from hatoba.api.http import RawReader
from hatoba.api.ports import Instruments, Tap
from hatoba.api.streams import close_writer
from hatoba.engine.state import State
from hatoba.errors import HatobaError, InvalidArgument
from hatoba.model.network import BRIDGE
from hatoba.observe import pcapng

_BATCH = 256  # frames read per wake-up


@dataclass(frozen=True)
class CaptureTarget:
    """Where to capture: an interface of a namespace (None: the host's), as people name it."""

    netns: str | None
    ifname: str
    description: str


def capture_target(
    state: State, *, container: str, network: str, interface: str, netns: str
) -> CaptureTarget:
    """`--container NAME [-i IF]`, `--network NAME` or `-i IF [--netns CONTAINER|host]`."""
    if sum(bool(x) for x in (container, network)) > 1 or (network and (interface or netns)):
        raise InvalidArgument("give one of --container, --network or -i [--netns]")
    if network:
        net = state.network(network)
        if net.driver != BRIDGE or not net.bridge:
            raise InvalidArgument(
                f"network {net.name} has no bridge to capture on (use -i IFACE for the host's)"
            )
        return CaptureTarget(None, net.bridge, f"bridge of network {net.name}")
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


async def stream(
    tap: Tap,
    target: CaptureTarget,
    client: RawReader,
    writer: asyncio.StreamWriter,
    count: int = 0,
) -> None:
    """pcapng until the client half-closes, `count` packets went out (0: no limit) or the
    socket fails; then the kernel's counts, and the connection is closed."""
    loop = asyncio.get_running_loop()
    readable = asyncio.Event()
    loop.add_reader(tap.fileno(), readable.set)
    stop = asyncio.ensure_future(client.read(1))  # anything, or the end: the client is done
    sent = 0
    note = ""
    try:
        writer.write(
            pcapng.section_header(f"hatoba {__version__}")
            + pcapng.interface(target.ifname, target.description, tap.snaplen)
        )
        await writer.drain()
        while not count or sent < count:
            waiter = asyncio.ensure_future(readable.wait())
            done, _ = await asyncio.wait({waiter, stop}, return_when=asyncio.FIRST_COMPLETED)
            if stop in done:
                waiter.cancel()
                break
            readable.clear()
            try:
                blocks, read = tap.read_blocks(0, min(_BATCH, count - sent) if count else _BATCH)
            except HatobaError as exc:
                note = f"capture ended: {exc.message}"
                break
            if read:
                writer.write(blocks)
                sent += read
                await writer.drain()
        accepted, dropped = tap.count()
        end = time.time_ns()
        tail = pcapng.statistics(0, tap.started_ns, end, accepted, dropped, sent)
        if note:
            tail += pcapng.comment(note)
        writer.write(tail)
        await writer.drain()
    except ConnectionError:
        pass  # the client went away: nobody to tell
    finally:
        with contextlib.suppress(ValueError, OSError):
            loop.remove_reader(tap.fileno())
        stop.cancel()
        tap.close()
        await close_writer(writer)
