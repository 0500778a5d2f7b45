"""The embedded DNS server: 127.0.0.11 in every attached container, one event loop for all.

The engine calls `publish`, `attach` and `detach` from its own threads. None of them waits for
the loop: a new name table is swapped in by one reference assignment (the next query sees it),
and sockets made in a container's namespace are handed to the loop with
`call_soon_threadsafe`; until the loop takes them, queries wait in the sockets' buffers.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from ipaddress import IPv4Address

from hatoba.dns import Asker, DnsAttachment, DnsRecord, Forward, Responder, Upstream
from hatoba.dns.cache import AnswerCache
from hatoba.dnsserver.listener import Listener, Send
from hatoba.dnsserver.sockets import (
    ResolverSockets,
    open_resolver,
    remove_nat,
    take_over_resolvers,
)
from hatoba.dnsserver.upstream import MAX_UPSTREAMS, Egress, ask_upstreams
from hatoba.errors import HatobaError, KernelError
from hatoba.kernel.nft_helper import NftHelper

__all__ = ["DnsServer"]

_log = logging.getLogger(__name__)

UPSTREAM_TIMEOUT = 4.0  # Docker's extIOTimeout, per server
TCP_IDLE_TIMEOUT = 10.0
MAX_IN_FLIGHT = 1024  # per container, Docker's maxConcurrent; past it, REFUSED
MAX_TCP_CONNECTIONS = 64  # per container


@dataclass
class _Route:
    """Where a container's forwarded queries go, from which namespace, and those in flight."""

    upstreams: tuple[Upstream, ...]
    egress: Egress
    in_flight: set[asyncio.Task[None]] = field(default_factory=set)


@dataclass
class _Attachment:
    netns_path: str
    listener: Listener
    route: _Route

    def close(self) -> None:
        self.listener.close()
        for task in self.route.in_flight:
            task.cancel()


class DnsServer:
    serves_containers = True

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        nft: NftHelper,
        *,
        upstream_timeout: float = UPSTREAM_TIMEOUT,
        tcp_idle_timeout: float = TCP_IDLE_TIMEOUT,
        max_in_flight: int = MAX_IN_FLIGHT,
        cache_size: int = 10_000,
    ) -> None:
        self._loop = loop
        self._nft = nft
        self._responder = Responder(cache=AnswerCache(cache_size))
        self._upstream_timeout = upstream_timeout
        self._tcp_idle_timeout = tcp_idle_timeout
        self._max_in_flight = max_in_flight
        self._lock = threading.Lock()
        self._attached: dict[str, _Attachment] = {}
        self._host = Egress(loop, None)
        self._gateways: dict[str, IPv4Address] = {}

    # --- called by the engine (any thread) --------------------------------------------------

    def update(
        self, changes: Mapping[str, Sequence[DnsRecord]], gateways: Mapping[str, IPv4Address]
    ) -> None:
        """These containers' names are now these records (none: they have none); the others'
        stay. `gateways` maps network id → gateway address.

        The engine tells every change; nothing new keeps the table, and with it the answers
        each view has already prepared. A new table is made from the old one, so it costs
        what the containers that changed cost.
        """
        if not changes and gateways == self._gateways:
            return
        self._gateways = dict(gateways)
        self._responder.table = self._responder.table.updated(changes, gateways)

    def attach(
        self,
        container_id: str,
        netns_path: str,
        upstreams: Sequence[Upstream],
        forward: bool,
        *,
        fresh: bool = False,
    ) -> None:
        """Serve 127.0.0.11 in the container; again for an attached one: new upstreams only.

        After a restart of the service this takes over from the previous run: new sockets,
        the old ports when they are free, and the NAT table in the container replaced. In a
        `fresh` namespace (just made) there is nothing to take over, and nothing is looked for.
        """
        attachment = DnsAttachment(container_id, netns_path, upstreams, forward)
        with self._lock:
            current = self._attached.get(container_id)
            if current is not None and current.netns_path == netns_path:
                chosen = tuple(upstreams[:MAX_UPSTREAMS])
                current.route.upstreams = chosen
                current.listener.asker = Asker(container_id, forward, chosen)
                return
        self._serve(attachment, open_resolver(netns_path, self._nft, fresh=fresh))

    def restore(self, attachments: Sequence[DnsAttachment]) -> list[tuple[str, HatobaError]]:
        """`attach` for each container after a restart of the service, the sockets of all
        opened on one thread (taking over from the previous run as `attach` does)."""
        opened = take_over_resolvers([a.netns_path for a in attachments], self._nft)
        failed: list[tuple[str, HatobaError]] = []
        for attachment, sockets in zip(attachments, opened, strict=True):
            if isinstance(sockets, KernelError):
                failed.append((attachment.container_id, sockets))
            else:
                self._serve(attachment, sockets)
        return failed

    def _serve(self, attachment: DnsAttachment, sockets: ResolverSockets) -> None:
        container_id, netns_path, upstreams, forward = attachment
        chosen = tuple(upstreams[:MAX_UPSTREAMS])
        asker = Asker(container_id, forward, chosen)
        route = _Route(chosen, Egress(self._loop, netns_path))
        listener = Listener(
            self._loop,
            sockets,
            self._responder,
            asker,
            partial(self._forward, route),
            idle_timeout=self._tcp_idle_timeout,
            max_connections=MAX_TCP_CONNECTIONS,
        )
        with self._lock:
            replaced = self._attached.get(container_id)
            self._attached[container_id] = _Attachment(netns_path, listener, route)
        if replaced is not None:
            self._on_loop(replaced.close)
        self._on_loop(listener.start)

    def detach(self, container_id: str) -> None:
        """Stop serving the container and drop its NAT table (if its namespace still exists)."""
        with self._lock:
            attachment = self._attached.pop(container_id, None)
        if attachment is None:
            return
        self._on_loop(attachment.close)
        remove_nat(attachment.netns_path, self._nft)

    async def aclose(self) -> None:
        """Stop serving; NAT tables stay, so the next run can take over the same ports."""
        with self._lock:
            attachments = list(self._attached.values())
            self._attached.clear()
        for attachment in attachments:
            attachment.close()
        await asyncio.gather(
            *(task for a in attachments for task in a.route.in_flight), return_exceptions=True
        )

    def _on_loop(self, fn: Callable[[], None]) -> None:
        try:
            self._loop.call_soon_threadsafe(fn)
        except RuntimeError:  # the loop is closed: nothing is serving these sockets any more
            fn()

    # --- forwarding (loop thread) -----------------------------------------------------------

    def _forward(self, route: _Route, forward: Forward, send: Send) -> None:
        if len(route.in_flight) >= self._max_in_flight:
            send(self._responder.refuse(forward))
            return
        task = self._loop.create_task(self._resolve(route, forward, send))
        route.in_flight.add(task)
        task.add_done_callback(route.in_flight.discard)

    async def _resolve(self, route: _Route, forward: Forward, send: Send) -> None:
        try:
            reply = await ask_upstreams(
                forward.query,
                route.upstreams,
                tcp=forward.tcp,
                host=self._host,
                container=route.egress,
                timeout=self._upstream_timeout,
            )
        except Exception:  # a bug here must cost one SERVFAIL, not a client left waiting
            _log.exception("forwarding %s failed", forward.query.question)
            reply = None
        send(self._responder.complete(forward, reply))
