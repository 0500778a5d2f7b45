"""One captured Ethernet frame, read layer by layer: addresses, ports, ICMP, TCP flags.

The frame may be cut short (snap length); whatever a layer cannot read is left unset, so a
caller can always ask what was seen. The bytes are kept for those who print more (`lines`).
"""

from __future__ import annotations

import struct

ETH_IP, ETH_ARP, ETH_IP6, ETH_VLAN = 0x0800, 0x0806, 0x86DD, 0x8100
ICMP, TCP, UDP, ICMP6 = 1, 6, 17, 58
PROTO_NAMES = {ICMP: "icmp", TCP: "tcp", UDP: "udp", ICMP6: "icmp6"}
PROTO_NUMBERS = {name: number for number, name in PROTO_NAMES.items()}

# ICMP types whose body quotes the datagram that caused them
ICMP_ERRORS = frozenset({3, 4, 5, 11, 12})
ICMP_ECHO_REPLY, ICMP_UNREACHABLE, ICMP_ECHO = 0, 3, 8

FIN, SYN, RST, PSH, ACK, URG, ECE, CWR = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80

_IP4 = struct.Struct("!BBHHHBBH4s4s")
_IP6 = struct.Struct("!IHBB16s16s")
_PORTS = struct.Struct("!HH")


def ipv4_text(raw: bytes) -> str:
    return f"{raw[0]}.{raw[1]}.{raw[2]}.{raw[3]}"


def ipv6_text(raw: bytes) -> str:
    from ipaddress import IPv6Address  # only for the rare IPv6 frame: start-up time

    return IPv6Address(raw).compressed


def mac_text(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


class Packet:
    """The facts of one frame. `l4` is the offset of the transport header (-1: none seen)."""

    __slots__ = (
        "data",
        "dport",
        "dst",
        "ethertype",
        "icmp_code",
        "icmp_id",
        "icmp_type",
        "inner",
        "ip_header",
        "ip_length",
        "l3",
        "l4",
        "length",
        "proto",
        "sport",
        "src",
        "tcp_flags",
    )

    def __init__(self, data: bytes, length: int, l3: int = 14) -> None:
        self.data = data
        self.length = length  # on the wire (the capture may hold fewer bytes)
        self.l3 = l3
        self.ethertype = 0
        self.src = self.dst = ""
        self.proto = -1
        self.ip_header = 0
        self.ip_length = 0
        self.l4 = -1
        self.sport = self.dport = -1
        self.icmp_type = self.icmp_code = self.icmp_id = -1
        self.tcp_flags = 0
        # the datagram an ICMP error quotes (its addresses and ports), else None
        self.inner: Packet | None = None

    @property
    def proto_name(self) -> str:
        return PROTO_NAMES.get(self.proto, str(self.proto))

    @property
    def fragment_offset(self) -> int:
        """Non-zero for an IPv4 fragment after the first (no transport header in it)."""
        if self.ethertype != ETH_IP or len(self.data) < self.l3 + 8:
            return 0
        return int.from_bytes(self.data[self.l3 + 6 : self.l3 + 8], "big") & 0x1FFF

    def tuple(self) -> tuple[str, str, int, str, int]:
        """(protocol, source, source port, destination, destination port); ICMP echo uses its
        identifier for both ports, as conntrack does."""
        if self.proto == ICMP and self.icmp_type in (ICMP_ECHO, ICMP_ECHO_REPLY):
            return ("icmp", self.src, self.icmp_id, self.dst, self.icmp_id)
        return (self.proto_name, self.src, self.sport, self.dst, self.dport)


def parse(data: bytes, length: int | None = None) -> Packet:
    """An Ethernet frame (what a packet socket on a Linux interface returns)."""
    packet = Packet(data, len(data) if length is None else length)
    if len(data) < 14:
        return packet
    ethertype = int.from_bytes(data[12:14], "big")
    offset = 14
    if ethertype == ETH_VLAN and len(data) >= 18:
        ethertype = int.from_bytes(data[16:18], "big")
        offset = 18
    packet.ethertype = ethertype
    packet.l3 = offset
    if ethertype == ETH_IP:
        _ipv4(packet, data, offset)
    elif ethertype == ETH_IP6:
        _ipv6(packet, data, offset)
    elif ethertype == ETH_ARP and len(data) >= offset + 28:
        packet.src = ipv4_text(data[offset + 14 : offset + 18])
        packet.dst = ipv4_text(data[offset + 24 : offset + 28])
    return packet


def parse_ip(data: bytes) -> Packet:
    """A datagram without its link header (the quote in an ICMP error, nftrace's copies)."""
    packet = Packet(data, len(data), l3=0)
    if data and data[0] >> 4 == 4:
        packet.ethertype = ETH_IP
        _ipv4(packet, data, 0)
    elif data and data[0] >> 4 == 6:
        packet.ethertype = ETH_IP6
        _ipv6(packet, data, 0)
    return packet


def _ipv4(packet: Packet, data: bytes, offset: int) -> None:
    if len(data) < offset + 20:
        return
    vhl, _tos, total, _ident, frag, _ttl, proto, _sum, src, dst = _IP4.unpack_from(data, offset)
    packet.src, packet.dst = ipv4_text(src), ipv4_text(dst)
    packet.proto = proto
    packet.ip_header = (vhl & 0x0F) * 4
    packet.ip_length = total
    if frag & 0x1FFF:
        return
    _transport(packet, data, offset + packet.ip_header)


def _ipv6(packet: Packet, data: bytes, offset: int) -> None:
    if len(data) < offset + 40:
        return
    _vtf, payload, nxt, _hops, src, dst = _IP6.unpack_from(data, offset)
    packet.src, packet.dst = ipv6_text(src), ipv6_text(dst)
    packet.proto = nxt
    packet.ip_header = 40
    packet.ip_length = payload + 40
    _transport(packet, data, offset + 40)


def _transport(packet: Packet, data: bytes, l4: int) -> None:
    proto = packet.proto
    if proto in (TCP, UDP) and len(data) >= l4 + 4:
        packet.l4 = l4
        packet.sport, packet.dport = _PORTS.unpack_from(data, l4)
        if proto == TCP and len(data) >= l4 + 14:
            packet.tcp_flags = data[l4 + 13]
    elif proto in (ICMP, ICMP6) and len(data) >= l4 + 4:
        packet.l4 = l4
        packet.icmp_type, packet.icmp_code = data[l4], data[l4 + 1]
        if len(data) >= l4 + 8:
            packet.icmp_id = int.from_bytes(data[l4 + 4 : l4 + 6], "big")
        if proto == ICMP and packet.icmp_type in ICMP_ERRORS and len(data) >= l4 + 28:
            packet.inner = parse_ip(data[l4 + 8 :])
