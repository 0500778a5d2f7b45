"""Packet sockets: capture on one interface of one network namespace, filtered in the kernel.

Filters are tcpdump expressions compiled by libpcap itself (`pcap_compile` through ctypes on
Debian's libpcap0.8), so every expression tcpdump takes means the same here, and attached to
the socket as a classic BPF program (SO_ATTACH_FILTER): what the filter rejects never leaves
the kernel. The program also cuts each packet to the snap length, so only those bytes are
copied. A socket opened inside a namespace (on a short-lived thread) keeps capturing there.

The socket is made with protocol 0, which receives nothing; it gets its filter and only then
is bound to the interface for every protocol, so no unfiltered packet is ever queued.
"""

from __future__ import annotations

import ctypes
import socket
import struct
import threading
import time

from hatoba.errors import InvalidArgument, KernelError, NotFound
from hatoba.kernel.netns import call_in_netns
from hatoba.observe import pcapng

SNAPLEN_MAX = 262144
_ETH_P_ALL = 0x0003
_SOL_PACKET = 263
_PACKET_STATISTICS = 6
_PACKET_AUXDATA = 8
_PACKET_ADD_MEMBERSHIP, _PACKET_MR_PROMISC = 1, 1
_PACKET_OUTGOING = 4
_SO_ATTACH_FILTER = 26
_SO_TIMESTAMPNS = 35
_SO_RCVBUFFORCE = 33
_RCVBUF = 8 << 20  # bursts of a fast flow wait here while the reader catches up
_DLT_EN10MB = 1
_PCAP_NETMASK_UNKNOWN = 0xFFFFFFFF
_TIMESPEC = struct.Struct("=qq")
_STATS = struct.Struct("=II")
_AUXDATA = struct.Struct("=IIIHHHH")  # tpacket_auxdata: status, len (on the wire), snaplen, …
_ANCILLARY = socket.CMSG_SPACE(_TIMESPEC.size) + socket.CMSG_SPACE(_AUXDATA.size)


class _Insn(ctypes.Structure):
    _fields_ = [
        ("code", ctypes.c_ushort),
        ("jt", ctypes.c_ubyte),
        ("jf", ctypes.c_ubyte),
        ("k", ctypes.c_uint32),
    ]


class _Program(ctypes.Structure):
    _fields_ = [("len", ctypes.c_uint), ("insns", ctypes.POINTER(_Insn))]


_lib: ctypes.CDLL | None = None
_lib_lock = threading.Lock()


def _libpcap() -> ctypes.CDLL:
    global _lib
    if _lib is None:
        try:
            lib = ctypes.CDLL("libpcap.so.0.8")
        except OSError as exc:
            raise KernelError(f"libpcap is not installed (Debian: libpcap0.8): {exc}") from exc
        lib.pcap_open_dead.restype = ctypes.c_void_p
        lib.pcap_open_dead.argtypes = [ctypes.c_int, ctypes.c_int]
        lib.pcap_compile.argtypes = [
            ctypes.c_void_p,
            ctypes.POINTER(_Program),
            ctypes.c_char_p,
            ctypes.c_int,
            ctypes.c_uint32,
        ]
        lib.pcap_geterr.restype = ctypes.c_char_p
        lib.pcap_geterr.argtypes = [ctypes.c_void_p]
        lib.pcap_freecode.argtypes = [ctypes.POINTER(_Program)]
        lib.pcap_close.argtypes = [ctypes.c_void_p]
        _lib = lib
    return _lib


def compile_filter(expression: str, snaplen: int) -> bytes:
    """`expression` (tcpdump syntax; "" takes everything) as the bytes of a sock_fprog's
    instructions, for Ethernet frames cut to `snaplen` bytes."""
    with _lib_lock:  # libpcap's parser keeps state in the pcap_t, and we share one library
        lib = _libpcap()
        handle = lib.pcap_open_dead(_DLT_EN10MB, snaplen)
        if not handle:
            raise KernelError("pcap_open_dead failed")
        program = _Program()
        try:
            rc = lib.pcap_compile(
                handle, ctypes.byref(program), expression.encode(), 1, _PCAP_NETMASK_UNKNOWN
            )
            if rc != 0:
                reason = (lib.pcap_geterr(handle) or b"").decode(errors="replace")
                raise InvalidArgument(f'invalid capture filter "{expression}": {reason}')
            try:
                return ctypes.string_at(program.insns, program.len * ctypes.sizeof(_Insn))
            finally:
                lib.pcap_freecode(ctypes.byref(program))
        finally:
            lib.pcap_close(handle)


class PacketTap:
    """A filtered packet socket on one interface; read it when its descriptor is readable."""

    def __init__(self, sock: socket.socket, ifname: str, snaplen: int) -> None:
        self._sock = sock
        self.ifname = ifname
        self.snaplen = snaplen
        self._buffer = bytearray(snaplen)
        self.accepted = 0  # packets the filter took (read or dropped), as the kernel counts
        self.dropped = 0  # of those, dropped because the socket's buffer was full
        self.started_ns = time.time_ns()

    def fileno(self) -> int:
        return self._sock.fileno()

    def _receive(self, into: memoryview) -> tuple[int, int, bool] | None:
        """One frame into `into` (cut to its size): (length on the wire, timestamp, outgoing),
        or None when none is waiting."""
        try:
            length, ancillary, _flags, address = self._sock.recvmsg_into(
                [into], _ANCILLARY, socket.MSG_TRUNC | socket.MSG_DONTWAIT
            )
        except BlockingIOError:
            return None
        except OSError as exc:
            raise KernelError(f"capture on {self.ifname}: {exc.strerror}", exc.errno) from exc
        stamp = 0
        for level, kind, value in ancillary:
            if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS:
                seconds, nanos = _TIMESPEC.unpack_from(value)
                stamp = seconds * 1_000_000_000 + nanos
            elif level == _SOL_PACKET and kind == _PACKET_AUXDATA:
                # the filter cut the packet to the snap length: its own length is only here
                length = _AUXDATA.unpack_from(value)[1]
        return length, stamp or time.time_ns(), address[2] == _PACKET_OUTGOING

    def read(self, limit: int = 256) -> list[pcapng.Packet]:
        """Up to `limit` frames waiting now (none when there are none)."""
        frames = []
        view, snaplen = memoryview(self._buffer), self.snaplen
        for _ in range(limit):
            got = self._receive(view)
            if got is None:
                break
            length, stamp, outgoing = got
            data = bytes(view[: min(length, snaplen)])
            frames.append(pcapng.Packet(0, stamp, data, length, outgoing))
        return frames

    def read_blocks(self, into: bytearray, interface_id: int, limit: int = 256) -> tuple[int, int]:
        """Up to `limit` waiting frames as pcapng packet blocks, received in place into `into`
        (each packet's bytes are copied once, by the kernel): (bytes filled, frames)."""
        room = pcapng.packet_block_room(self.snaplen)
        at = count = 0
        with memoryview(into) as view:
            while count < limit and at + room <= len(into):
                start = at + pcapng.PACKET_HEAD
                got = self._receive(view[start : start + self.snaplen])
                if got is None:
                    break
                length, stamp, outgoing = got
                at = pcapng.finish_packet(
                    into, at, interface_id, stamp, length, self.snaplen, outgoing
                )
                count += 1
        return at, count

    def count(self) -> tuple[int, int]:
        """(accepted, dropped) since the tap was opened."""
        try:
            raw = self._sock.getsockopt(_SOL_PACKET, _PACKET_STATISTICS, _STATS.size)
        except OSError:
            return self.accepted, self.dropped
        packets, drops = _STATS.unpack(raw)  # the kernel resets them on every read
        self.accepted += packets
        self.dropped += drops
        return self.accepted, self.dropped

    def close(self) -> None:
        self._sock.close()


def open_tap(netns: str | None, ifname: str, expression: str, snaplen: int) -> PacketTap:
    """A tap on `ifname` in the namespace whose handle is `netns` (None: the caller's)."""
    if not 0 < snaplen <= SNAPLEN_MAX:
        raise InvalidArgument(f"invalid snap length {snaplen}: must be 1 to {SNAPLEN_MAX}")
    program = compile_filter(expression, snaplen)

    def work() -> PacketTap:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        try:
            fprog = ctypes.create_string_buffer(program)
            sock.setsockopt(
                socket.SOL_SOCKET,
                _SO_ATTACH_FILTER,
                struct.pack("HL", len(program) // 8, ctypes.addressof(fprog)),
            )
            sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
            sock.setsockopt(_SOL_PACKET, _PACKET_AUXDATA, 1)
            sock.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, _RCVBUF)
            try:
                index = socket.if_nametoindex(ifname)
            except OSError as exc:
                raise NotFound(f"no such interface: {ifname}") from exc
            sock.bind((ifname, _ETH_P_ALL))
            # as tcpdump: a bridge shows the frames it forwards between its ports only then;
            # the kernel takes the setting back when the socket closes
            sock.setsockopt(
                _SOL_PACKET,
                _PACKET_ADD_MEMBERSHIP,
                struct.pack("iHH8s", index, _PACKET_MR_PROMISC, 0, b""),
            )
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            raise KernelError(f"capture on {ifname}: {exc.strerror}", exc.errno) from exc
        except BaseException:
            sock.close()
            raise
        return PacketTap(sock, ifname, snaplen)

    return work() if netns is None else call_in_netns(netns, work)
