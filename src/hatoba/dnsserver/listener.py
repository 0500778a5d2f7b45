"""The resolver's two sockets in one container, served from the service's event loop.

UDP is the hot path: a reader callback drains the socket with `recvfrom` until it would block
and answers with `sendto`, with no transport or protocol objects in between. TCP (RFC 7766):
2-byte length prefix, several queries per connection, answers in any order, idle timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from functools import partial

from hatoba.dns import Asker, Forward, Responder
from hatoba.dnsserver.sockets import ResolverSockets

Send = Callable[[bytes], None]
OnForward = Callable[[Forward, Send], None]

_MAX_QUERY = 4096  # matches the UDP size we advertise; longer datagrams arrive cut → FORMERR
_BATCH = 256  # datagrams per wake-up, so one busy container cannot starve the others


class Listener:
    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sockets: ResolverSockets,
        responder: Responder,
        asker: Asker,
        on_forward: OnForward,
        *,
        idle_timeout: float,
        max_connections: int,
    ) -> None:
        self.asker = asker  # replaced whole when the engine changes the container's upstreams
        self._loop = loop
        self._sockets = sockets
        self._responder = responder
        self._on_forward = on_forward
        self._idle = idle_timeout
        self._max_connections = max_connections
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.StreamWriter] = set()
        self._closed = False

    # --- lifecycle (loop thread) ------------------------------------------------------------

    def start(self) -> None:
        if self._closed:
            return
        self._loop.add_reader(self._sockets.udp.fileno(), self._on_udp)
        self._loop.create_task(self._start_tcp())

    async def _start_tcp(self) -> None:
        server = await asyncio.start_server(self._serve_tcp, sock=self._sockets.tcp)
        if self._closed:
            server.close()
        else:
            self._server = server

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(ValueError, OSError):
            self._loop.remove_reader(self._sockets.udp.fileno())
        for writer in self._connections:
            writer.close()
        if self._server is not None:
            self._server.close()
        self._sockets.close()

    # --- UDP --------------------------------------------------------------------------------

    def _on_udp(self) -> None:
        sock = self._sockets.udp
        respond = self._responder.respond
        asker = self.asker
        for _ in range(_BATCH):
            try:
                data, peer = sock.recvfrom(_MAX_QUERY)
            except OSError:
                return  # drained (EAGAIN), or the socket was closed
            out = respond(data, asker)
            if isinstance(out, bytes):
                try:
                    sock.sendto(out, peer)
                except OSError:
                    pass  # a full buffer or a vanished client: the client will ask again
            elif out is not None:
                self._on_forward(out, partial(self._send_udp, peer))

    def _send_udp(self, peer: tuple[str, int], reply: bytes) -> None:
        if not self._closed:
            with contextlib.suppress(OSError):
                self._sockets.udp.sendto(reply, peer)

    # --- TCP --------------------------------------------------------------------------------

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._closed or len(self._connections) >= self._max_connections:
            writer.close()
            return
        self._connections.add(writer)
        in_flight: set[Forward] = set()

        def send(reply: bytes) -> None:
            if not writer.is_closing():
                writer.write(len(reply).to_bytes(2, "big") + reply)

        try:
            while True:
                try:
                    async with asyncio.timeout(self._idle):
                        size = int.from_bytes(await reader.readexactly(2), "big")
                except TimeoutError:
                    if in_flight:
                        continue  # still answering this client: it is waiting, not idle
                    return
                async with asyncio.timeout(self._idle):
                    data = await reader.readexactly(size)
                out = self._responder.respond(data, self.asker, tcp=True)
                if out is None:
                    return  # not a query we can read: the stream may be out of step too
                if isinstance(out, bytes):
                    send(out)
                    await writer.drain()
                else:
                    in_flight.add(out)
                    self._on_forward(out, _then_discard(send, in_flight, out))
        except (asyncio.IncompleteReadError, ConnectionError, TimeoutError):
            pass
        finally:
            self._connections.discard(writer)
            writer.close()


def _then_discard(send: Send, in_flight: set[Forward], forward: Forward) -> Send:
    def done(reply: bytes) -> None:
        in_flight.discard(forward)
        send(reply)

    return done
