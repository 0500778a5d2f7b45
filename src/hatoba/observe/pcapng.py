"""pcapng (what the service streams, with interface names) and classic pcap (what `-w x.pcap`
writes), as bytes: block builders, an incremental block reader and a pcap record writer.

A capture stream is one section: a section header, one interface description per interface
(name, description, nanosecond timestamps), an enhanced packet block per packet, and at the
end one interface statistics block per interface with what the kernel counted (packets the
filter accepted, packets dropped because the reader fell behind). Wireshark and tshark read
it as it comes (`hatoba capture -w - | wireshark -k -i -`).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

LINKTYPE_ETHERNET = 1
SHB, IDB, EPB, ISB = 0x0A0D0D0A, 1, 6, 5
_MAGIC = 0x1A2B3C4D
_BLOCK = struct.Struct("<II")
_EPB = struct.Struct("<IIIII")
_PCAP_HEADER = struct.Struct("<IHHiIII")
_PCAP_RECORD = struct.Struct("<IIII")
_PCAP_MAGIC_MICRO = 0xA1B2C3D4

# option codes
_END, _COMMENT = 0, 1
_IF_NAME, _IF_DESCRIPTION, _IF_TSRESOL = 2, 3, 9
_SHB_USERAPPL = 4
_EPB_FLAGS = 2  # bits 0-1: 1 inbound, 2 outbound
_ISB_STARTTIME, _ISB_ENDTIME, _ISB_FILTERACCEPT, _ISB_OSDROP, _ISB_USRDELIV = 2, 3, 6, 7, 8


def _pad(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def _option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + _pad(value)


def _block(kind: int, body: bytes) -> bytes:
    size = len(body) + 12
    return _BLOCK.pack(kind, size) + body + struct.pack("<I", size)


def _options(options: list[bytes]) -> bytes:
    return b"".join(options) + (_option(_END, b"") if options else b"")


def section_header(application: str) -> bytes:
    body = struct.pack("<IHHq", _MAGIC, 1, 0, -1)
    return _block(SHB, body + _options([_option(_SHB_USERAPPL, application.encode())]))


def interface(name: str, description: str, snaplen: int) -> bytes:
    """An interface description; packets name it by its index in the stream (0, 1, …)."""
    options = [_option(_IF_NAME, name.encode()), _option(_IF_TSRESOL, b"\x09")]
    if description:
        options.append(_option(_IF_DESCRIPTION, description.encode()))
    body = struct.pack("<HHI", LINKTYPE_ETHERNET, 0, snaplen) + _options(options)
    return _block(IDB, body)


PACKET_HEAD = _BLOCK.size + _EPB.size  # what a packet block holds before the packet's bytes
_FLAGS_TAIL = 12  # the direction option and the end of options
_PACKED_FLAGS = {
    None: b"",
    False: struct.pack("<HHIHH", _EPB_FLAGS, 4, 1, _END, 0),
    True: struct.pack("<HHIHH", _EPB_FLAGS, 4, 2, _END, 0),
}


def packet(
    interface_id: int, timestamp_ns: int, data: bytes, length: int, outgoing: bool | None = None
) -> bytes:
    """A packet as seen on an interface; `outgoing` (None: not known) becomes its direction."""
    head = _EPB.pack(interface_id, timestamp_ns >> 32, timestamp_ns & 0xFFFFFFFF, len(data), length)
    return _block(EPB, head + _pad(data) + _PACKED_FLAGS[outgoing])


def packet_block_room(snaplen: int) -> int:
    """The most bytes one packet block of a capture with this snap length takes."""
    return PACKET_HEAD + snaplen + 3 + _FLAGS_TAIL + 4


def finish_packet(
    buffer: bytearray,
    at: int,
    interface_id: int,
    timestamp_ns: int,
    length: int,
    snaplen: int,
    outgoing: bool | None,
) -> int:
    """Complete the packet block at `at` whose bytes were already received at
    `at + PACKET_HEAD` (no copy of them); return where the next block starts."""
    caplen = min(length, snaplen)
    pad = -caplen % 4
    end = at + PACKET_HEAD + caplen
    buffer[end : end + pad] = b"\0" * pad
    end += pad
    tail = _PACKED_FLAGS[outgoing]
    buffer[end : end + len(tail)] = tail
    size = end + len(tail) + 4 - at
    buffer[end + len(tail) : end + len(tail) + 4] = struct.pack("<I", size)
    _BLOCK.pack_into(buffer, at, EPB, size)
    _EPB.pack_into(
        buffer,
        at + _BLOCK.size,
        interface_id,
        timestamp_ns >> 32,
        timestamp_ns & 0xFFFFFFFF,
        caplen,
        length,
    )
    return at + size


def statistics(
    interface_id: int,
    start_ns: int,
    end_ns: int,
    accepted: int,
    dropped: int,
    delivered: int,
    note: str = "",
) -> bytes:
    """What the kernel counted for one interface: `accepted` by the filter, `dropped` because
    the reader fell behind, `delivered` to the reader; `note`: why the capture ended, if it
    was not asked to."""

    def stamp(code: int, ns: int) -> bytes:
        return _option(code, struct.pack("<II", ns >> 32, ns & 0xFFFFFFFF))

    options = [_option(_COMMENT, note.encode())] if note else []
    options += [
        stamp(_ISB_STARTTIME, start_ns),
        stamp(_ISB_ENDTIME, end_ns),
        _option(_ISB_FILTERACCEPT, struct.pack("<Q", accepted)),
        _option(_ISB_OSDROP, struct.pack("<Q", dropped)),
        _option(_ISB_USRDELIV, struct.pack("<Q", delivered)),
    ]
    head = struct.pack("<III", interface_id, end_ns >> 32, end_ns & 0xFFFFFFFF)
    return _block(ISB, head + _options(options))


# --- reading ---------------------------------------------------------------------------------


@dataclass(slots=True)
class Interface:
    linktype: int
    snaplen: int
    name: str
    description: str


@dataclass(slots=True)
class Packet:
    """A captured packet: when, on which interface of the stream, its bytes (up to the snap
    length), its length on the wire, and its direction when known."""

    interface: int
    timestamp_ns: int
    data: bytes
    length: int
    outgoing: bool | None = None


@dataclass(slots=True)
class Statistics:
    interface: int
    accepted: int = 0
    dropped: int = 0
    delivered: int = 0
    comment: str = ""


Block = Interface | Packet | Statistics


class Reader:
    """Blocks of a pcapng stream as bytes arrive (little-endian sections, as written here).
    `with_data=False`: packets come without their bytes (for counting what passes through)."""

    def __init__(self, with_data: bool = True) -> None:
        self._pending = bytearray()
        self._with_data = with_data
        self.interfaces: list[Interface] = []

    def feed(self, data: bytes) -> Iterator[Block]:
        self._pending += data
        pending = self._pending
        at = 0
        while len(pending) - at >= 12:
            kind, size = _BLOCK.unpack_from(pending, at)
            if size < 12 or size % 4:
                raise ValueError(f"not a pcapng stream (block of {size} bytes)")
            if len(pending) - at < size:
                break
            with memoryview(pending)[at + 8 : at + size - 4] as body:
                block = self._block(kind, body)
            at += size
            if block is not None:
                yield block
        del pending[:at]

    def _block(self, kind: int, body: memoryview) -> Block | None:
        if kind == EPB:
            iface, high, low, caplen, length = _EPB.unpack_from(body)
            outgoing = None
            for code, value in _read_options(body[20 + caplen + (-caplen % 4) :]):
                if code == _EPB_FLAGS and len(value) == 4 and value[0] & 3:
                    outgoing = value[0] & 3 == 2
            data = bytes(body[20 : 20 + caplen]) if self._with_data else b""
            return Packet(iface, high << 32 | low, data, length, outgoing)
        if kind == IDB:
            linktype, _reserved, snaplen = struct.unpack_from("<HHI", body)
            opts = dict(_read_options(body[8:]))
            found = Interface(
                linktype,
                snaplen,
                bytes(opts.get(_IF_NAME, b"")).decode(errors="replace"),
                bytes(opts.get(_IF_DESCRIPTION, b"")).decode(errors="replace"),
            )
            self.interfaces.append(found)
            return found
        if kind == ISB:
            (iface,) = struct.unpack_from("<I", body)
            stats = Statistics(iface)
            for code, value in _read_options(body[12:]):
                if code == _ISB_FILTERACCEPT:
                    stats.accepted = int.from_bytes(value, "little")
                elif code == _ISB_OSDROP:
                    stats.dropped = int.from_bytes(value, "little")
                elif code == _ISB_USRDELIV:
                    stats.delivered = int.from_bytes(value, "little")
                elif code == _COMMENT:
                    stats.comment = bytes(value).decode(errors="replace")
            return stats
        if kind == SHB and struct.unpack_from("<I", body)[0] != _MAGIC:
            raise ValueError("pcapng section in a byte order this reader does not take")
        return None


def _read_options(raw: memoryview) -> Iterator[tuple[int, memoryview]]:
    at = 0
    while at + 4 <= len(raw):
        code, size = struct.unpack_from("<HH", raw, at)
        if code == _END:
            return
        yield code, raw[at + 4 : at + 4 + size]
        at += 4 + size + (-size % 4)


# --- classic pcap ------------------------------------------------------------------------------


def pcap_header(snaplen: int, linktype: int = LINKTYPE_ETHERNET) -> bytes:
    """libpcap's file header, microsecond timestamps (what tcpdump -w writes)."""
    return _PCAP_HEADER.pack(_PCAP_MAGIC_MICRO, 2, 4, 0, 0, snaplen, linktype)


def pcap_record_header(timestamp_ns: int, caplen: int, length: int) -> bytes:
    """What precedes a packet's bytes in a pcap file."""
    seconds, rest = divmod(timestamp_ns, 1_000_000_000)
    return _PCAP_RECORD.pack(seconds, rest // 1000, caplen, length)
