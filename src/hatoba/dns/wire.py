"""DNS messages on the resolver's hot path: one query parsed by hand, replies glued from bytes.

A plain query (one question, at most one OPT record) is read without a codec: the resolver
must answer local names at tens of thousands of queries a second, and a general DNS codec
costs ~15 µs a message in Python. Anything unusual goes to dnslib, which either understands it
or tells us the query is malformed.

Replies echo the question exactly as asked (the case of every letter included) and point
their answers at it (`0xC00C`), so a prebuilt answer record fits any spelling of the name.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import dnslib

HEADER = struct.Struct("!HHHHHH")
_RR_FIXED = struct.Struct("!HHIH")

# header flags
QR = 0x8000
OPCODE = 0x7800
TC = 0x0200
RD = 0x0100
RA = 0x0080
AD = 0x0020
CD = 0x0010
# what a reply copies from its query (as miekg/dns `SetReply` does)
_ECHOED = OPCODE | RD | CD

NOERROR = 0
FORMERR = 1
SERVFAIL = 2
NXDOMAIN = 3
NOTIMP = 4
REFUSED = 5
BADVERS = 16

CLASS_IN = 1
TYPE_A = 1
TYPE_PTR = 12
TYPE_AAAA = 28
TYPE_OPT = 41
TYPE_ANY = 255

UDP_PLAIN = 512
MAX_MESSAGE = 65535
# What we advertise in our OPT: the largest query we read (the listener's receive buffer).
ADVERTISED_UDP = 4096
EDNS_DO = 0x8000
_POINTER_TO_QUESTION = b"\xc0\x0c"


def opt_record(*, do: bool = False, ext_rcode: int = 0) -> bytes:
    """An OPT pseudo-record for a reply: root name, our UDP size, no options."""
    return b"\x00" + struct.pack(
        "!HHBBHH", TYPE_OPT, ADVERTISED_UDP, ext_rcode, 0, EDNS_DO if do else 0, 0
    )


_OPT = opt_record()
_OPT_DO = opt_record(do=True)


class Query:
    """One question from a client, with what its reply must echo."""

    __slots__ = ("flags", "id", "key", "limit", "opt", "qclass", "qtype", "question", "raw")

    def __init__(
        self,
        raw: bytes,
        qid: int,
        flags: int,
        question: bytes,
        qtype: int,
        qclass: int,
        opt: bytes,
        limit: int,
    ) -> None:
        self.raw = raw
        self.id = qid
        self.flags = flags
        self.question = question  # wire name + type + class, as asked
        self.key = question[:-4].lower()  # the wire name, lower case (length bytes are < 64)
        self.qtype = qtype
        self.qclass = qclass
        self.opt = opt  # the OPT our reply carries: empty unless the query had one
        self.limit = limit  # largest UDP reply the client takes

    @property
    def dnssec_ok(self) -> bool:
        return self.opt is _OPT_DO

    def reply(self, rcode: int, answers: Sequence[bytes] = (), *, tcp: bool = False) -> bytes:
        """A reply with whole answer records; on UDP those that do not fit are cut and TC set."""
        flags = QR | RA | (self.flags & _ECHOED) | rcode
        if answers:
            limit = MAX_MESSAGE if tcp else self.limit
            room = limit - 12 - len(self.question) - len(self.opt)
            if sum(map(len, answers)) > room:
                answers = _fit(answers, room)
                flags |= TC
        return (
            HEADER.pack(self.id, flags, 1, len(answers), 0, 1 if self.opt else 0)
            + self.question
            + b"".join(answers)
            + self.opt
        )


def _fit(answers: Sequence[bytes], room: int) -> list[bytes]:
    kept = []
    for record in answers:
        room -= len(record)
        if room < 0:
            break
        kept.append(record)
    return kept


def answer_record(rtype: int, rdata: bytes, ttl: int) -> bytes:
    """An answer for the question's name (a pointer to it), class IN."""
    return _POINTER_TO_QUESTION + _RR_FIXED.pack(rtype, CLASS_IN, ttl, len(rdata)) + rdata


def encode_name(text: str) -> bytes | None:
    """`web.mynet` → wire format; None when it cannot be a DNS name (empty or long labels)."""
    return encode_labels(text.rstrip(".").encode("ascii", "replace").split(b"."))


def encode_labels(labels: Sequence[bytes]) -> bytes | None:
    out = bytearray()
    for label in labels:
        if not 0 < len(label) < 64:
            return None
        out.append(len(label))
        out += label
    out.append(0)
    return bytes(out) if len(out) <= 255 else None


def parse_query(data: bytes) -> Query | bytes | None:
    """A query to answer, an error reply ready to send (FORMERR, NOTIMP, BADVERS) or None to
    drop the datagram (no readable header, or not a query at all)."""
    if len(data) < 12:
        return None
    qid, flags, qdcount, ancount, nscount, arcount = HEADER.unpack_from(data)
    if flags & QR:
        return None  # a reply: answering replies would let two resolvers ping-pong forever
    if flags & OPCODE:
        return _header_only(qid, flags, NOTIMP)
    if qdcount != 1:
        return _header_only(qid, flags, FORMERR)
    if not ancount and not nscount and arcount <= 1:
        simple = _parse_simple(data, qid, flags, arcount)
        if simple is not None:
            return simple
    return _parse_general(data, qid, flags)


def _parse_simple(data: bytes, qid: int, flags: int, arcount: int) -> Query | None:
    """The common shape, by hand; None means "ask the general parser"."""
    end = len(data)
    pos = 12
    while True:
        if pos >= end:
            return None
        length = data[pos]
        if length == 0:
            break
        if length > 63:
            return None  # a compression pointer or a reserved label type
        pos += length + 1
    if pos - 12 > 254:
        return None
    qend = pos + 5
    if qend > end:
        return None
    qtype = (data[pos + 1] << 8) | data[pos + 2]
    qclass = (data[pos + 3] << 8) | data[pos + 4]
    if not arcount:
        if qend != end:
            return None
        return Query(data, qid, flags, data[12:qend], qtype, qclass, b"", UDP_PLAIN)
    # one OPT record: root name, type 41, UDP size, ext rcode, version 0, flags, options
    if end < qend + 11 or data[qend] != 0 or data[qend + 1 : qend + 3] != b"\x00\x29":
        return None
    if data[qend + 6] != 0 or qend + 11 + ((data[qend + 9] << 8) | data[qend + 10]) != end:
        return None
    size = (data[qend + 3] << 8) | data[qend + 4]
    opt = _OPT_DO if data[qend + 7] & 0x80 else _OPT
    return Query(data, qid, flags, data[12:qend], qtype, qclass, opt, max(UDP_PLAIN, size))


def _parse_general(data: bytes, qid: int, flags: int) -> Query | bytes:
    try:
        message = dnslib.DNSRecord.parse(data)
        question = message.questions[0]
        name = encode_labels(question.qname.label)
    except Exception:  # untrusted bytes: whatever the codec trips over is a malformed query
        return _header_only(qid, flags, FORMERR)
    if name is None:
        return _header_only(qid, flags, FORMERR)
    opts = [rr for rr in message.ar if rr.rtype == TYPE_OPT]
    if len(opts) > 1:
        return _header_only(qid, flags, FORMERR)
    qtype, qclass = question.qtype, question.qclass
    wire_question = name + struct.pack("!HH", qtype, qclass)
    if not opts:
        return Query(data, qid, flags, wire_question, qtype, qclass, b"", UDP_PLAIN)
    opt = opts[0]
    do = bool(opt.ttl & EDNS_DO)
    if (opt.ttl >> 16) & 0xFF:
        return _header_only(qid, flags, BADVERS, opt_record(do=do, ext_rcode=BADVERS >> 4))
    reply_opt = _OPT_DO if do else _OPT
    limit = max(UDP_PLAIN, opt.rclass)
    return Query(data, qid, flags, wire_question, qtype, qclass, reply_opt, limit)


def _header_only(qid: int, flags: int, rcode: int, opt: bytes = b"") -> bytes:
    header = HEADER.pack(qid, QR | RA | (flags & _ECHOED) | (rcode & 0xF), 0, 0, 0, 1 if opt else 0)
    return header + opt


def with_id(message: bytes, qid: int) -> bytes:
    return qid.to_bytes(2, "big") + message[2:]


def rcode_of(message: bytes) -> int:
    return message[3] & 0xF


def replies_to(reply: bytes, question: bytes) -> bool:
    """True when `reply` is a response to `question` (any case): it repeats the question, or
    it is a bare truncated header (some servers send those; at worst the client retries over
    TCP)."""
    if len(reply) < 12 or not reply[2] & 0x80:
        return False
    if reply[4:6] == b"\x00\x00":
        return bool(reply[2] & (TC >> 8)) and reply[6:12] == b"\x00" * 6
    return reply[4:6] == b"\x00\x01" and reply[12 : 12 + len(question)].lower() == question.lower()
