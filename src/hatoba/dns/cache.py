"""Upstream answers kept for their TTL, and replayed to any client that asks the same.

Docker asks the upstream again for every query, so a slow upstream slows every lookup. Here an
answer is kept for the smallest TTL among its records (negative answers: the SOA's negative
TTL, capped) and replayed with the TTLs counted down. Replays are rebuilt with dnslib for the
new client: its id, its question's spelling, its EDNS and its size limit.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import dnslib

from hatoba.dns import wire

MAX_TTL = 3600
NEGATIVE_CAP = 60  # an upstream NXDOMAIN may be a name about to be created
NEGATIVE_NO_SOA = 5
_TYPE_SOA = 6


@dataclass(frozen=True)
class Cached:
    """An upstream reply, parsed; `stored` is when it was received."""

    stored: float
    ttl: int
    rcode: int
    authentic: bool
    answer: tuple[Any, ...]  # dnslib RRs
    authority: tuple[Any, ...]
    additional: tuple[Any, ...]  # without the OPT record

    @classmethod
    def parse(cls, reply: bytes, now: float) -> Cached | None:
        """None when the reply is unparseable, truncated or not worth keeping (errors)."""
        try:
            message = dnslib.DNSRecord.parse(reply)
            message.pack()  # dnslib reads some records it cannot write back: relay those, not keep
        except Exception:  # an upstream's bytes are untrusted input like a client's
            return None
        header = message.header
        if header.tc or header.rcode not in (wire.NOERROR, wire.NXDOMAIN):
            return None
        additional = tuple(rr for rr in message.ar if rr.rtype != wire.TYPE_OPT)
        return cls(
            stored=now,
            ttl=_lifetime(message, additional),
            rcode=header.rcode,
            authentic=bool(header.ad),
            answer=tuple(message.rr),
            authority=tuple(message.auth),
            additional=additional,
        )

    def render(self, query: wire.Query, now: float, *, tcp: bool = False) -> bytes:
        """This answer for `query`; on UDP cut to the client's size (TC set) if needed."""
        age = int(now - self.stored)
        header = dnslib.DNSHeader(
            id=query.id,
            bitmap=(query.flags & (wire.RD | wire.CD)) | (wire.AD if self.authentic else 0),
            qr=1,
            ra=1,
            rcode=self.rcode,
        )
        name = dnslib.DNSLabel(_labels(query.question[:-4]))
        question = dnslib.DNSQuestion(name, query.qtype, query.qclass)
        message = dnslib.DNSRecord(
            header,
            questions=[question],
            rr=[_aged(rr, age) for rr in self.answer],
            auth=[_aged(rr, age) for rr in self.authority],
            ar=[_aged(rr, age) for rr in self.additional],
        )
        if query.opt:
            flags = "do" if query.dnssec_ok else ""
            message.add_ar(dnslib.EDNS0(udp_len=wire.ADVERTISED_UDP, flags=flags))
        return _packed_within(message, wire.MAX_MESSAGE if tcp else query.limit)


class AnswerCache:
    """Least recently used first out; keys say who asked whom what (see the responder)."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self._entries: OrderedDict[Hashable, Cached] = OrderedDict()
        self._max = max_entries

    def get(self, key: Hashable, now: float) -> Cached | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if now >= entry.stored + entry.ttl:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry

    def put(self, key: Hashable, entry: Cached) -> None:
        if entry.ttl <= 0:
            return
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


def _lifetime(message: Any, additional: tuple[Any, ...]) -> int:
    if message.rr:
        records = [*message.rr, *message.auth, *additional]
        return min(MAX_TTL, *(int(rr.ttl) for rr in records))
    soas = [rr for rr in message.auth if rr.rtype == _TYPE_SOA]
    if not soas:
        return NEGATIVE_NO_SOA
    soa = soas[0]
    # RFC 2308 §5: the negative TTL is the smaller of the SOA's own TTL and its MINIMUM field.
    return min(NEGATIVE_CAP, int(soa.ttl), int(soa.rdata.times[-1]))


def _aged(rr: Any, age: int) -> Any:
    return dnslib.RR(rr.rname, rr.rtype, rr.rclass, max(0, rr.ttl - age), rr.rdata)


def _labels(name: bytes) -> list[bytes]:
    labels = []
    pos = 0
    while name[pos]:
        labels.append(name[pos + 1 : pos + 1 + name[pos]])
        pos += 1 + name[pos]
    return labels


def _packed_within(message: Any, limit: int) -> bytes:
    opt = [rr for rr in message.ar if rr.rtype == wire.TYPE_OPT]
    message.ar = [rr for rr in message.ar if rr.rtype != wire.TYPE_OPT]
    packed = _pack(message, opt)
    # Drop whole records, least useful first, until the reply fits; TC tells the client to
    # ask again over TCP. The OPT record stays: it says the server speaks EDNS.
    for section in (message.ar, message.auth, message.rr):
        while len(packed) > limit and section:
            section.pop()
            message.header.tc = 1
            packed = _pack(message, opt)
    return packed


def _pack(message: Any, opt: list[Any]) -> bytes:
    records = message.ar
    message.ar = records + opt
    try:
        return bytes(message.pack())
    finally:
        message.ar = records
