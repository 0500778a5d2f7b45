"""Asking upstream resolvers, from the host's namespace or from a container's.

As Docker: at most three servers, tried in order, each given its own timeout; SERVFAIL or
REFUSED from one means "try the next". UDP queries share one socket per namespace and family,
told apart by a random id and the server's address; TCP queries get a connection each.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import ip_address

from hatoba.dns import wire
from hatoba.dnsserver.sockets import client_socket
from hatoba.errors import InvalidArgument, KernelError

MAX_UPSTREAMS = 3  # Docker's maxExtDNS
_MAX_REPLY = 65535
_BATCH = 64

Address = tuple[str, int]


@dataclass(frozen=True)
class Upstream:
    """An upstream resolver; `from_host` ones are asked from the service's own namespace
    (they were on the host's loopback), the others from inside the container's."""

    address: str
    port: int = 53
    from_host: bool = False

    def __post_init__(self) -> None:
        try:
            ip_address(self.address)
        except ValueError as exc:
            raise InvalidArgument(f"invalid DNS server address: {self.address}") from exc
        if not 0 < self.port < 65536:
            raise InvalidArgument(f"invalid DNS server port: {self.port}")

    @property
    def family(self) -> int:
        return socket.AF_INET6 if ip_address(self.address).version == 6 else socket.AF_INET

    @property
    def endpoint(self) -> Address:
        return (str(ip_address(self.address)), self.port)


class _UdpChannel:
    """One UDP socket carrying many queries at once."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
        self._loop = loop
        self._sock = sock
        self._pending: dict[tuple[int, Address], tuple[asyncio.Future[bytes], bytes]] = {}
        loop.add_reader(sock.fileno(), self._on_readable)

    async def exchange(self, query: bytes, question: bytes, server: Address) -> bytes:
        while True:
            qid = secrets.randbits(16)
            if (qid, server) not in self._pending:
                break
        waiter: asyncio.Future[bytes] = self._loop.create_future()
        self._pending[(qid, server)] = (waiter, question)
        try:
            self._sock.sendto(wire.with_id(query, qid), server)
            return await waiter
        finally:
            del self._pending[(qid, server)]

    def _on_readable(self) -> None:
        for _ in range(_BATCH):
            try:
                data, peer = self._sock.recvfrom(_MAX_REPLY)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                continue
            if len(data) < 12:
                continue
            entry = self._pending.get((int.from_bytes(data[:2], "big"), peer[:2]))
            # Anything but the answer to the question we asked is spoofed or stale: ignore it.
            if entry and not entry[0].done() and wire.replies_to(data, entry[1]):
                entry[0].set_result(data)

    def close(self) -> None:
        self._loop.remove_reader(self._sock.fileno())
        self._sock.close()
        for waiter, _ in self._pending.values():
            waiter.cancel()


class Egress:
    """Where forwarded queries leave from: the service's namespace (None) or a container's."""

    def __init__(self, loop: asyncio.AbstractEventLoop, netns_path: str | None) -> None:
        self._loop = loop
        self._netns_path = netns_path
        self._channels: dict[int, asyncio.Future[_UdpChannel]] = {}
        self._closed = False

    async def _socket(self, family: int, kind: int) -> socket.socket:
        if self._netns_path is None:
            return client_socket(None, family, kind)
        # entering the container's namespace takes a thread: keep it off the loop
        return await self._loop.run_in_executor(None, client_socket, self._netns_path, family, kind)

    async def _channel(self, family: int) -> _UdpChannel:
        made = self._channels.get(family)
        if made is None:
            made = self._channels[family] = asyncio.ensure_future(self._open_channel(family))
        try:
            return await asyncio.shield(made)
        except BaseException:
            if made.done() and self._channels.get(family) is made:
                del self._channels[family]  # let the next query try again
            raise

    async def _open_channel(self, family: int) -> _UdpChannel:
        sock = await self._socket(family, socket.SOCK_DGRAM)
        if self._closed:
            sock.close()
            raise ConnectionAbortedError("the resolver was detached")
        return _UdpChannel(self._loop, sock)

    async def exchange(self, query: bytes, question: bytes, upstream: Upstream, tcp: bool) -> bytes:
        if tcp:
            return await self._tcp_exchange(query, question, upstream)
        channel = await self._channel(upstream.family)
        return await channel.exchange(query, question, upstream.endpoint)

    async def _tcp_exchange(self, query: bytes, question: bytes, upstream: Upstream) -> bytes:
        sock = await self._socket(upstream.family, socket.SOCK_STREAM)
        with contextlib.closing(sock):
            await self._loop.sock_connect(sock, upstream.endpoint)
            message = wire.with_id(query, secrets.randbits(16))
            await self._loop.sock_sendall(sock, len(message).to_bytes(2, "big") + message)
            size = int.from_bytes(await self._recv_exactly(sock, 2), "big")
            reply = await self._recv_exactly(sock, size)
        if reply[:2] != message[:2] or not wire.replies_to(reply, question):
            raise ConnectionError("the upstream answered another question")
        return reply

    async def _recv_exactly(self, sock: socket.socket, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = await self._loop.sock_recv(sock, size - len(data))
            if not chunk:
                raise ConnectionError("the upstream closed the connection")
            data += chunk
        return data

    def close(self) -> None:
        self._closed = True
        for made in self._channels.values():
            if made.done() and not made.cancelled() and made.exception() is None:
                made.result().close()
            else:
                made.cancel()
        self._channels.clear()


async def ask_upstreams(
    query: wire.Query,
    upstreams: Sequence[Upstream],
    *,
    tcp: bool,
    host: Egress,
    container: Egress,
    timeout: float,
) -> bytes | None:
    """The first real answer from the upstreams, in order; None when none gave one."""
    for upstream in upstreams[:MAX_UPSTREAMS]:
        egress = host if upstream.from_host else container
        try:
            async with asyncio.timeout(timeout):
                reply = await egress.exchange(query.raw, query.question, upstream, tcp)
        except (TimeoutError, OSError, KernelError):
            continue
        if wire.rcode_of(reply) in (wire.SERVFAIL, wire.REFUSED):
            continue
        return reply
    return None
