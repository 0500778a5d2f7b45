"""Frames as `tcpdump -tnl` prints them: one line per packet, no timestamp, no name lookups.

    IP 172.18.0.3 > 172.18.0.2: ICMP echo request, id 14, seq 0, length 64
    IP 172.18.0.2.41234 > 172.18.0.3.80: Flags [S], seq 1234, win 64240, options [...], length 0
    IP 172.18.0.2.39375 > 127.0.0.11.53: 4660+ A? web. (21)
    ARP, Request who-has 172.17.0.3 tell 172.17.0.2, length 28

What tcpdump 4.99 prints for Ethernet, ARP, IPv4, IPv6, ICMP, TCP (sequence numbers relative
to the first ACK of a connection, as tcpdump counts them), UDP and DNS; other protocols get a
shorter line of the same shape. `LineFormatter` keeps the per-connection state, so one
formatter follows one capture.
"""

from __future__ import annotations

import struct

from hatoba.observe.packets import (
    ACK,
    CWR,
    ECE,
    ETH_ARP,
    ETH_IP,
    ETH_IP6,
    FIN,
    ICMP,
    ICMP6,
    PSH,
    RST,
    SYN,
    TCP,
    UDP,
    URG,
    Packet,
    ipv4_text,
    ipv6_text,
    mac_text,
    parse,
)

_TCP = struct.Struct("!HHIIBBHHH")
_FLAGS: tuple[tuple[int, str], ...] = (
    (FIN, "F"),
    (SYN, "S"),
    (RST, "R"),
    (PSH, "P"),
    (ACK, "."),
    (URG, "U"),
    (ECE, "E"),
    (CWR, "W"),
)

_IP_PROTOS = {2: "IGMP", 4: "IPIP", 41: "IP6", 47: "GREv0", 50: "ESP", 51: "AH", 89: "OSPF"}
_ICMP_UNREACH = {
    0: "net {dst} unreachable",
    1: "host {dst} unreachable",
    2: "{dst} protocol {proto} unreachable",
    4: "{dst} unreachable - need to frag",
    5: "{dst} unreachable - source route failed",
    6: "net {dst} unreachable - unknown",
    7: "host {dst} unreachable - unknown",
    9: "net {dst} unreachable - admin prohibited",
    10: "host {dst} unreachable - admin prohibited",
    13: "host {dst} unreachable - admin prohibited filter",
}
_ICMP_NAMES = {
    0: "echo reply",
    4: "source quench",
    5: "redirect",
    8: "echo request",
    9: "router advertisement",
    10: "router solicitation",
    11: "time exceeded in-transit",
    12: "parameter problem",
    13: "time stamp request",
    14: "time stamp reply",
}
_ICMP6_NAMES = {
    1: "destination unreachable",
    2: "packet too big",
    3: "time exceeded in-transit",
    4: "parameter problem",
    128: "echo request",
    129: "echo reply",
    133: "router solicitation",
    134: "router advertisement",
    135: "neighbor solicitation",
    136: "neighbor advertisement",
    137: "redirect",
    143: "multicast listener report v2",
}
_DNS_TYPES = {
    1: "A",
    2: "NS",
    5: "CNAME",
    6: "SOA",
    12: "PTR",
    15: "MX",
    16: "TXT",
    28: "AAAA",
    33: "SRV",
    41: "OPT",
    64: "SVCB",
    65: "HTTPS",
    255: "ANY",
}
_DNS_RCODES = ("", " FormErr", " ServFail", " NXDomain", " NotImp", " Refused")
_DNS_OPCODES = ("", " inv_q", " stat", " op3", " notify", " update")
_DNS_PORTS = frozenset({53, 5353})
_HTTP_PORTS = frozenset({80, 3128, 8080})
_HTTP_STARTS = (b"GET ", b"POST ", b"PUT ", b"HEAD ", b"DELETE ", b"OPTIONS ", b"HTTP/1.")


class LineFormatter:
    """Lines for the frames of one capture, in order (TCP numbering depends on the past)."""

    def __init__(self) -> None:
        # tcpdump's tcp_seq_hash: a connection (either direction) → its initial seq and ack
        self._tcp: dict[tuple[str, str, int], tuple[int, int]] = {}

    def line(self, data: bytes, length: int | None = None) -> str:
        packet = parse(data, length)
        if packet.ethertype == ETH_IP:
            return "IP " + self._ip(packet)
        if packet.ethertype == ETH_IP6:
            return "IP6 " + self._ip(packet)
        if packet.ethertype == ETH_ARP:
            return _arp(packet)
        # tcpdump names the link addresses of what it cannot read (and hexdumps the rest)
        macs = f"{mac_text(data[6:12])} > {mac_text(data[0:6])}, " if len(data) >= 12 else ""
        return f"{macs}ethertype Unknown (0x{packet.ethertype:04x}), length {packet.length}: "

    def _ip(self, packet: Packet) -> str:
        if not packet.src:
            return "[|ip]"
        head = f"{packet.src} > {packet.dst}: "
        payload = packet.ip_length - packet.ip_header
        if packet.l4 < 0:
            if packet.fragment_offset:
                return head + f"ip-proto-{packet.proto}"
            return head + _other_proto(packet, payload)
        if packet.proto == TCP:
            return self._tcp_line(packet, payload)
        if packet.proto == UDP:
            return _udp(packet)
        if packet.proto == ICMP:
            return head + _icmp(packet, payload)
        if packet.proto == ICMP6:
            return head + _icmp6(packet, payload)
        return head + _other_proto(packet, payload)

    def _tcp_line(self, packet: Packet, length: int) -> str:
        data, l4 = packet.data, packet.l4
        head = f"{packet.src}.{packet.sport} > {packet.dst}.{packet.dport}: "
        if len(data) < l4 + 20:
            return head + "Flags [" + _flag_text(packet.tcp_flags) + "] [|tcp]"
        sport, dport, seq, ack, off, flags, win, _sum, urp = _TCP.unpack_from(data, l4)
        hlen = (off >> 4) * 4
        text = "Flags [" + _flag_text(flags) + "]"
        if flags & ACK:
            seq, ack = self._relative(packet, sport, dport, seq, ack, flags)
        if hlen > length:
            return head + text + f", [bad hdr length {hlen} - too long, > {length}]"
        length -= hlen
        if length > 0 or flags & (SYN | FIN | RST):
            text += f", seq {seq}"
            if length > 0:
                text += f":{(seq + length) & 0xFFFFFFFF}"
        if flags & ACK:
            text += f", ack {ack}"
        text += f", win {win}"
        if flags & URG:
            text += f", urg {urp}"
        if hlen > 20:
            text += ", options [" + _tcp_options(data[l4 + 20 : l4 + hlen]) + "]"
        text += f", length {length}"
        body = data[l4 + hlen :]
        if length > 0 and not flags & RST:
            if (sport in _HTTP_PORTS or dport in _HTTP_PORTS) and body.startswith(_HTTP_STARTS):
                text += ": HTTP: " + _first_line(body)
            elif (sport in _DNS_PORTS or dport in _DNS_PORTS) and length > 2:
                text += " " + _dns(body[2:], length - 2)
        return head + text

    def _relative(
        self, packet: Packet, sport: int, dport: int, seq: int, ack: int, flags: int
    ) -> tuple[int, int]:
        """tcpdump's numbering: relative to what the first ACK of the connection showed."""
        rev = sport > dport or (sport == dport and packet.src > packet.dst)
        key = (
            (packet.dst, packet.src, dport << 16 | sport)
            if rev
            else (packet.src, packet.dst, sport << 16 | dport)
        )
        known = self._tcp.get(key)
        if known is None or flags & SYN:
            self._tcp[key] = (ack - 1, seq) if rev else (seq, ack - 1)
            return seq, ack
        base_seq, base_ack = known
        if rev:
            return (seq - base_ack) & 0xFFFFFFFF, (ack - base_seq) & 0xFFFFFFFF
        return (seq - base_seq) & 0xFFFFFFFF, (ack - base_ack) & 0xFFFFFFFF


def _flag_text(flags: int) -> str:
    return "".join(letter for bit, letter in _FLAGS if flags & bit) or "none"


def _tcp_options(raw: bytes) -> str:
    out = []
    i = 0
    while i < len(raw):
        kind = raw[i]
        if kind == 0:
            out.append("eol")
            break
        if kind == 1:
            out.append("nop")
            i += 1
            continue
        if i + 1 >= len(raw) or raw[i + 1] < 2:
            out.append("[bad opt]")
            break
        size = raw[i + 1]
        body = raw[i + 2 : i + size]
        if kind == 2 and len(body) == 2:
            out.append(f"mss {int.from_bytes(body, 'big')}")
        elif kind == 3 and len(body) == 1:
            out.append(f"wscale {body[0]}")
        elif kind == 4:
            out.append("sackOK")
        elif kind == 8 and len(body) == 8:
            val, ecr = struct.unpack("!II", body)
            out.append(f"TS val {val} ecr {ecr}")
        elif kind == 5 and len(body) % 8 == 0:
            blocks = [struct.unpack_from("!II", body, j) for j in range(0, len(body), 8)]
            out.append(f"sack {len(blocks)} " + "".join(f"{{{s}:{e}}}" for s, e in blocks))
        else:
            out.append(f"unknown-{kind} 0x{body.hex()}")
        i += size
    return ",".join(out)


def _first_line(body: bytes) -> str:
    end = body.find(b"\r\n")
    line = body if end < 0 else body[:end]
    return line.decode("ascii", "replace")


def _udp(packet: Packet) -> str:
    data, l4 = packet.data, packet.l4
    head = f"{packet.src}.{packet.sport} > {packet.dst}.{packet.dport}: "
    if len(data) < l4 + 8:
        return head + "[|udp]"
    length = int.from_bytes(data[l4 + 4 : l4 + 6], "big") - 8
    if (packet.sport in _DNS_PORTS or packet.dport in _DNS_PORTS) and length >= 12:
        return head + _dns(data[l4 + 8 :], length)
    return head + f"UDP, length {length}"


def _icmp(packet: Packet, length: int) -> str:
    data, l4, kind, code = packet.data, packet.l4, packet.icmp_type, packet.icmp_code
    if kind in (0, 8):
        seq = int.from_bytes(data[l4 + 6 : l4 + 8], "big") if len(data) >= l4 + 8 else 0
        name = _ICMP_NAMES[kind]
        return f"ICMP {name}, id {packet.icmp_id}, seq {seq}, length {length}"
    inner = packet.inner
    if kind == 3 and inner is not None and inner.src:
        if code == 3 and inner.l4 >= 0:
            text = f"{inner.dst} {inner.proto_name} port {inner.dport} unreachable"
        elif code in _ICMP_UNREACH:
            text = _ICMP_UNREACH[code].format(dst=inner.dst, proto=inner.proto)
        else:
            text = f"{inner.dst} unreachable - #{code}"
        return f"ICMP {text}, length {length}"
    if kind == 11 and inner is not None and inner.src:
        what = "in-transit" if code == 0 else "reassembly"
        return f"ICMP time exceeded {what}, length {length}"
    name = _ICMP_NAMES.get(kind, f"type-#{kind}")
    return f"ICMP {name}, length {length}"


def _icmp6(packet: Packet, length: int) -> str:
    data, l4, kind = packet.data, packet.l4, packet.icmp_type
    name = _ICMP6_NAMES.get(kind, f"type-#{kind}")
    if kind in (128, 129) and len(data) >= l4 + 8:
        seq = int.from_bytes(data[l4 + 6 : l4 + 8], "big")
        return f"ICMP6, {name}, id {packet.icmp_id}, seq {seq}, length {length}"
    if kind in (135, 136) and len(data) >= l4 + 24:
        target = ipv6_text(data[l4 + 8 : l4 + 24])
        what = "who has" if kind == 135 else "tgt is"
        return f"ICMP6, {name}, {what} {target}, length {length}"
    return f"ICMP6, {name}, length {length}"


def _other_proto(packet: Packet, length: int) -> str:
    name = _IP_PROTOS.get(packet.proto)
    if name:
        return f"{name}, length {length}"
    return f"ip-proto-{packet.proto} {length}"


def _arp(packet: Packet) -> str:
    data, at = packet.data, packet.l3
    length = packet.length - at
    if len(data) < at + 28:
        return f"ARP, length {length}"
    op = int.from_bytes(data[at + 6 : at + 8], "big")
    sha, spa = data[at + 8 : at + 14], ipv4_text(data[at + 14 : at + 18])
    tpa = ipv4_text(data[at + 24 : at + 28])
    if op == 1:
        tha = data[at + 18 : at + 24]
        asked = f" ({mac_text(tha)})" if any(tha) else ""
        return f"ARP, Request who-has {tpa}{asked} tell {spa}, length {length}"
    if op == 2:
        return f"ARP, Reply {spa} is-at {mac_text(sha)}, length {length}"
    return f"ARP, Unknown opcode ({op}), length {length}"


# --- DNS ---------------------------------------------------------------------------------------


class _Truncated(Exception):
    pass


def _dns(msg: bytes, length: int) -> str:
    """tcpdump's one-line DNS summary, then the message length in parentheses."""
    try:
        return _dns_summary(msg) + f" ({length})"
    except (_Truncated, IndexError):
        return "[|domain]"


def _dns_summary(msg: bytes) -> str:
    if len(msg) < 12:
        raise _Truncated
    ident, flags, qd, an, ns, ar = struct.unpack_from("!HHHHHH", msg)
    opcode = (flags >> 11) & 0xF
    op = _DNS_OPCODES[opcode] if opcode < len(_DNS_OPCODES) else f" op{opcode}"
    at = 12
    if flags & 0x8000:  # a response
        rcode = flags & 0xF
        text = str(ident) + op
        text += _DNS_RCODES[rcode] if rcode < len(_DNS_RCODES) else f" Resp{rcode}"
        text += "*" if flags & 0x0400 else ""
        text += "" if flags & 0x0080 else "-"
        text += "|" if flags & 0x0200 else ""
        text += "$" if flags & 0x0020 else ""
        if qd != 1:
            text += f" [{qd}q]"
        for _ in range(qd):
            at = _skip_name(msg, at) + 4
        text += f" {an}/{ns}/{ar}"
        records = []
        for _ in range(an):
            record, at = _record(msg, at)
            records.append(record)
        return text + ",".join(records)
    text = str(ident) + op + ("+" if flags & 0x0100 else "") + ("%" if flags & 0x0010 else "")
    if flags & 0x6CF:
        text += f" [b2&3=0x{flags:x}]"
    if an:
        text += f" [{an}a]"
    if qd != 1:
        text += f" [{qd}q]"
    if ns:
        text += f" [{ns}n]"
    if ar:
        text += f" [{ar}au]"
    for _ in range(qd):
        name, at = _name(msg, at)
        if at + 4 > len(msg):
            raise _Truncated
        qtype, qclass = struct.unpack_from("!HH", msg, at)
        at += 4
        text += f" {_dns_type(qtype)}?{_dns_class(qclass)} {name}"
    return text


def _dns_type(kind: int) -> str:
    return _DNS_TYPES.get(kind, f"Type{kind}")


def _dns_class(klass: int) -> str:
    klass &= 0x7FFF
    return "" if klass == 1 else f" [{'CHAOS' if klass == 3 else f'Class{klass}'}]"


def _record(msg: bytes, at: int) -> tuple[str, int]:
    _name_text, at = _name(msg, at)
    if at + 10 > len(msg):
        raise _Truncated
    kind, klass, _ttl, size = struct.unpack_from("!HHIH", msg, at)
    at += 10
    rdata = msg[at : at + size]
    if len(rdata) < size:
        raise _Truncated
    text = f" {_dns_type(kind)}{_dns_class(klass)}"
    if kind == 1 and size == 4:
        text += " " + ipv4_text(rdata)
    elif kind == 28 and size == 16:
        text += " " + ipv6_text(rdata)
    elif kind in (2, 5, 12):
        text += " " + _name(msg, at)[0]
    elif kind == 15:
        text += f" {_name(msg, at + 2)[0]} {int.from_bytes(rdata[:2], 'big')}"
    return text, at + size


def _skip_name(msg: bytes, at: int) -> int:
    return _name(msg, at)[1]


def _name(msg: bytes, at: int) -> tuple[str, int]:
    """A (possibly compressed) name as tcpdump writes it (`web.sample.`, `.` for the root),
    and where the record goes on after it."""
    labels: list[str] = []
    end = -1
    hops = 0
    while True:
        if at >= len(msg):
            raise _Truncated
        size = msg[at]
        if size & 0xC0 == 0xC0:
            if at + 1 >= len(msg) or hops > 64:
                raise _Truncated
            if end < 0:
                end = at + 2
            at = (size & 0x3F) << 8 | msg[at + 1]
            hops += 1
            continue
        if size == 0:
            break
        label = msg[at + 1 : at + 1 + size]
        if len(label) < size:
            raise _Truncated
        labels.append(label.decode("ascii", "replace"))
        at += 1 + size
    if end < 0:
        end = at + 1
    return ("".join(f"{label}." for label in labels) or "."), end
