"""Query in, answer out: the resolver's logic without any I/O.

`respond` turns the bytes of one query from one container into the bytes of the reply, a
`Forward` (ask the upstreams, then call `complete`) or None (drop it). Local names are
answered from the asker's view of the name table; everything else is replayed from the cache,
forwarded, or, for a container that must not reach the outside, answered NXDOMAIN at once.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from hatoba.dns import wire
from hatoba.dns.cache import AnswerCache, Cached
from hatoba.dns.table import NameTable, View


@dataclass(frozen=True)
class Asker:
    """The container a query came from and where its unknown names may go.

    `upstreams` identifies the upstream servers (any hashable value): answers are cached per
    upstream set. With `forward` false (every network internal) nothing leaves the resolver:
    unknown names get NXDOMAIN at once, so DNS cannot smuggle data out (CVE-2024-29018).
    """

    container_id: str
    forward: bool = True
    upstreams: Hashable = ()


class Forward:
    """A query the upstreams must answer; hand their reply (or None) to `complete`."""

    __slots__ = ("key", "query", "tcp")

    def __init__(self, query: wire.Query, key: Hashable, tcp: bool) -> None:
        self.query = query
        self.key = key
        self.tcp = tcp


class Responder:
    def __init__(
        self,
        table: NameTable | None = None,
        *,
        cache: AnswerCache | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # Replaced whole by whoever publishes a new table; read once per query.
        self.table = table or NameTable()
        self._cache = cache if cache is not None else AnswerCache()
        self._clock = clock

    def respond(self, data: bytes, asker: Asker, *, tcp: bool = False) -> bytes | Forward | None:
        view = self.table.view(asker.container_id)
        if not tcp:
            # The same question in the same bytes gets the same answer: only the id differs.
            known = view.replies.get(data[2:])
            if known is not None:
                return data[:2] + known
        query = wire.parse_query(data)
        if not isinstance(query, wire.Query):
            return query  # an error reply, or None
        if query.qclass == wire.CLASS_IN:
            answers = view.answers(query.key)
            if answers is not None:
                a, aaaa = answers
                if query.qtype == wire.TYPE_A:
                    records = a
                elif query.qtype == wire.TYPE_AAAA:
                    records = aaaa
                elif query.qtype == wire.TYPE_ANY:
                    records = a + aaaa
                else:
                    records = ()
                # A name that is ours with no data of that type (MX, AAAA of an IPv4-only
                # container, ...) is answered empty: never forwarded, or container names
                # would leak to the outside resolver.
                if len(records) > 1:  # round robin: a new order for every answer
                    return query.reply(wire.NOERROR, random.sample(records, len(records)), tcp=tcp)
                return self._fixed(view, data, query.reply(wire.NOERROR, records, tcp=tcp), tcp)
            if query.qtype == wire.TYPE_PTR:
                record = view.ptr(query.key)
                if record is not None:
                    return self._fixed(
                        view, data, query.reply(wire.NOERROR, (record,), tcp=tcp), tcp
                    )
        return self._not_local(query, asker, tcp)

    @staticmethod
    def _fixed(view: View, data: bytes, reply: bytes, tcp: bool) -> bytes:
        if not tcp:
            view.remember(data[2:], reply[2:])
        return reply

    def _not_local(self, query: wire.Query, asker: Asker, tcp: bool) -> bytes | Forward:
        if not asker.forward:
            return query.reply(wire.NXDOMAIN, tcp=tcp)
        key = (
            asker.upstreams,
            query.key,
            query.qtype,
            query.qclass,
            query.dnssec_ok,
            bool(query.flags & wire.CD),
        )
        now = self._clock()
        hit = self._cache.get(key, now)
        if hit is not None:
            return hit.render(query, now, tcp=tcp)
        return Forward(query, key, tcp)

    def complete(self, forward: Forward, reply: bytes | None) -> bytes:
        """The client's reply to a forwarded query: the upstream's answer, or SERVFAIL."""
        query = forward.query
        if reply is None or not wire.replies_to(reply, query.question):
            return query.reply(wire.SERVFAIL, tcp=forward.tcp)
        now = self._clock()
        parsed = Cached.parse(reply, now)
        if parsed is not None:
            self._cache.put(forward.key, parsed)
        if forward.tcp or len(reply) <= query.limit:
            # The upstream answered the client's own question bytes: relay them as they are.
            return wire.with_id(reply, query.id)
        if parsed is None:
            return query.reply(wire.SERVFAIL)
        return parsed.render(query, now)

    def refuse(self, forward: Forward) -> bytes:
        """The reply when the resolver has too many queries in flight (as Docker does)."""
        return forward.query.reply(wire.REFUSED, tcp=forward.tcp)
