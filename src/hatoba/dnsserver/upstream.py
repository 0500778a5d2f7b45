"""Asking upstream resolvers, from the host's namespace or from a container's.

As Docker: at most three servers, tried in order, each given its own timeout; SERVFAIL or
REFUSED from one means "try the next". Each query gets a socket of its own, made in
the namespace it must leave from.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
from collections.abc import Sequence

from hatoba.dns import Upstream, wire
from hatoba.dnsserver.sockets import client_socket
from hatoba.errors import KernelError

MAX_UPSTREAMS = 3  # Docker's maxExtDNS
_MAX_REPLY = 65535


class Egress:
    """Where forwarded queries leave from: the service's namespace (None) or a container's.

    Every query gets a socket of its own, connected to the server, as Docker dials them: a
    random source port and a random id to guess, and a closed port upstream is reported at
    once (ICMP) instead of after the timeout.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, netns_path: str | None) -> None:
        self._loop = loop
        self._netns_path = netns_path

    async def _socket(self, family: int, kind: int) -> socket.socket:
        if self._netns_path is None:
            return client_socket(None, family, kind)
        # entering the container's namespace takes a thread: keep it off the loop
        return await self._loop.run_in_executor(None, client_socket, self._netns_path, family, kind)

    async def exchange(self, query: bytes, question: bytes, upstream: Upstream, tcp: bool) -> bytes:
        family = socket.AF_INET6 if upstream.ipv6 else socket.AF_INET
        sock = await self._socket(family, socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM)
        with contextlib.closing(sock):
            await self._loop.sock_connect(sock, upstream.endpoint)
            message = wire.with_id(query, secrets.randbits(16))
            if tcp:
                await self._loop.sock_sendall(sock, len(message).to_bytes(2, "big") + message)
                size = int.from_bytes(await self._recv_exactly(sock, 2), "big")
                reply = await self._recv_exactly(sock, size)
                if not _answers(reply, message, question):
                    raise ConnectionError("the upstream answered another question")
                return reply
            await self._loop.sock_sendall(sock, message)
            while True:
                reply = await self._loop.sock_recv(sock, _MAX_REPLY)
                if _answers(reply, message, question):
                    return reply
                # anything else is stale or spoofed: keep waiting for the real answer

    async def _recv_exactly(self, sock: socket.socket, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = await self._loop.sock_recv(sock, size - len(data))
            if not chunk:
                raise ConnectionError("the upstream closed the connection")
            data += chunk
        return data


def _answers(reply: bytes, message: bytes, question: bytes) -> bool:
    return reply[:2] == message[:2] and wire.replies_to(reply, question)


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
