"""Published ports on the IPv6 loopback address, carried by a small proxy.

IPv6 has no `route_localnet`: a connection from [::1] that is DNATed to a container gets its
answer on the bridge addressed to ::1, and the kernel drops it. So no NAT serves ::1
(`hatoba.firewall.layout`); instead the socket that holds the published port in the host's
namespace (`hatoba.kernel.portbind`) is served here: each TCP connection, or each UDP client's
datagrams, go on to the container's port, as Docker's userland proxy does (the container sees
the bridge's gateway as the client). Only traffic to ::1 is served: anything else that reaches
the socket was not NATed because the container has no IPv6 address, and is turned away as if
nothing listened.

One thread runs an asyncio loop for every proxied port; a port's proxy stops (and lets go of
its socket) before the socket is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
import time
from concurrent.futures import Future
from ipaddress import IPv6Address, ip_address
from typing import Any

from hatoba.kernel.fw_netns import HomeNetns

_SO_DETACH_FILTER = 27
_LINGER_RESET = struct.pack("ii", 1, 0)  # close with RST, as an unbound port answers
_MAX_DATAGRAM = 65535
# Docker's userland proxy forgets a UDP client after 90 s without traffic
UDP_IDLE = 90.0
_STOP_TIMEOUT = 5.0
Target = tuple[str, int]


class LoopbackProxy:
    def __init__(self, home: HomeNetns) -> None:
        """`home`: the host's namespace, where the proxy's connections leave from."""
        self._home = home
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def serve(self, sock: socket.socket, protocol: str, target: Target) -> Future[None]:
        """Carry what reaches [::1] on `sock` (bound, the port's holder) to `target`, until
        `stop` is given the handle returned."""
        if protocol == "tcp":
            # listening before the answer: a client right after the publish is not refused
            # while the proxy's loop has yet to run
            sock.listen(128)
        serving = _tcp(sock, target) if protocol == "tcp" else _udp(sock, target)
        return asyncio.run_coroutine_threadsafe(serving, self._running())

    def stop(self, handle: Future[None]) -> None:
        """End a port's proxy and its connections; the socket is then the caller's again."""
        loop = self._loop
        if loop is None or handle.done():
            return
        loop.call_soon_threadsafe(handle.cancel)
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(_settled(handle), loop).result(_STOP_TIMEOUT)

    def close(self) -> None:
        """End every proxy and the thread (the sockets stay the caller's)."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(_end_all(), loop).result(_STOP_TIMEOUT)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(_STOP_TIMEOUT)
        loop.close()

    def _running(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name="hatoba-loopback-proxy", daemon=True
                )
                # a thread keeps the namespace of the thread that starts it: the proxy's
                # connections to containers leave from the host's
                self._home.call(thread.start)
                self._loop, self._thread = loop, thread
            return self._loop


async def _settled(handle: Future[None]) -> None:
    while not handle.done():
        await asyncio.sleep(0.01)


async def _end_all() -> None:
    current = asyncio.current_task()
    tasks = [t for t in asyncio.all_tasks() if t is not current]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _is_loopback(address: str) -> bool:
    return ip_address(address.split("%")[0]).is_loopback


async def _tcp(listener: socket.socket, target: Target) -> None:
    loop = asyncio.get_running_loop()
    listener.setblocking(False)
    tasks: set[asyncio.Task[None]] = set()
    try:
        while True:
            conn, _peer = await loop.sock_accept(listener)
            if not _is_loopback(conn.getsockname()[0]):
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
                conn.close()
                continue
            task = loop.create_task(_carry(conn, target))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
    finally:
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _carry(client: socket.socket, target: Target) -> None:
    loop = asyncio.get_running_loop()
    client.setblocking(False)
    family = socket.AF_INET6 if ip_address(target[0]).version == 6 else socket.AF_INET
    upstream = socket.socket(family, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    upstream.setblocking(False)
    try:
        try:
            await loop.sock_connect(upstream, target)
        except OSError:
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
            return
        await asyncio.gather(_one_way(client, upstream), _one_way(upstream, client))
    except OSError:
        pass
    finally:
        upstream.close()
        client.close()


async def _one_way(source: socket.socket, sink: socket.socket) -> None:
    loop = asyncio.get_running_loop()
    while data := await loop.sock_recv(source, 65536):
        await loop.sock_sendall(sink, data)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


async def _udp(sock: socket.socket, target: Target) -> None:
    """Each client gets a socket of its own toward the container, so answers find their way
    back; a client silent for UDP_IDLE seconds is forgotten."""
    loop = asyncio.get_running_loop()
    sock.setblocking(False)
    # the holder dropped every datagram until now
    sock.setsockopt(socket.SOL_SOCKET, _SO_DETACH_FILTER, 0)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
    family = socket.AF_INET6 if ip_address(target[0]).version == 6 else socket.AF_INET
    flows: dict[Any, tuple[socket.socket, list[float]]] = {}

    def forget(client: Any) -> None:
        upstream, _ = flows.pop(client)
        loop.remove_reader(upstream.fileno())
        upstream.close()

    def answer(client: Any, upstream: socket.socket, seen: list[float]) -> None:
        with contextlib.suppress(OSError):
            data = upstream.recv(_MAX_DATAGRAM)
            seen[0] = time.monotonic()
            sock.sendto(data, client)

    def arrived() -> None:
        try:
            data, ancillary, _flags, client = sock.recvmsg(_MAX_DATAGRAM, socket.CMSG_SPACE(20))
        except OSError:
            return
        if not any(
            level == socket.IPPROTO_IPV6
            and kind == socket.IPV6_PKTINFO
            and IPv6Address(bytes(payload[:16])).is_loopback
            for level, kind, payload in ancillary
        ):
            return
        flow = flows.get(client)
        if flow is None:
            upstream = socket.socket(family, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            upstream.setblocking(False)
            try:
                upstream.connect(target)
            except OSError:
                upstream.close()
                return
            flow = flows[client] = (upstream, [time.monotonic()])
            loop.add_reader(upstream.fileno(), answer, client, upstream, flow[1])
        flow[1][0] = time.monotonic()
        with contextlib.suppress(OSError):
            flow[0].send(data)

    loop.add_reader(sock.fileno(), arrived)
    try:
        while True:
            await asyncio.sleep(UDP_IDLE / 3)
            now = time.monotonic()
            for client in [c for c, (_, seen) in flows.items() if now - seen[0] > UDP_IDLE]:
                forget(client)
    finally:
        loop.remove_reader(sock.fileno())
        for client in list(flows):
            forget(client)
