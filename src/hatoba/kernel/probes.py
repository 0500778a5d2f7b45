"""Probes: one TCP SYN, UDP datagram or ICMP echo request sent from inside a namespace, as a
program there would send it, so that a trace has a flow to follow.

A probe is made in two steps: `prepare` opens its socket in the namespace and learns the
source address and port the kernel will use (so the flow can be traced before it starts),
then `send` sends. The socket is kept until `close`: a TCP probe that got an answer is then
reset, so nothing is left half-open in the server.
"""

from __future__ import annotations

import os
import socket
import struct
import threading

from hatoba.kernel.netns import call_in_netns
from hatoba.model.flows import Flow

_PAYLOAD = b"hatoba probe\n"
_ECHO_DATA = (b"hatoba trace " * 5)[:56]  # the 56 bytes ping sends


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


class Probe:
    def __init__(self, sock: socket.socket, flow: Flow) -> None:
        self._sock = sock
        self.flow = flow
        self.error = ""  # why it could not be sent (no route, …)
        self.sender = 0  # the thread id that sent it (the kernel's drops name their task)

    def send(self) -> None:
        """Send the probe (on the calling thread; it never blocks)."""
        self.sender = threading.get_native_id()
        flow = self.flow
        try:
            if flow.proto == "tcp":
                code = self._sock.connect_ex((flow.dst, flow.dport or 0))
                if code not in (0, 115):  # EINPROGRESS: the SYN is on its way
                    raise OSError(code, os.strerror(code))
            elif flow.proto == "udp":
                self._sock.sendto(_PAYLOAD, (flow.dst, flow.dport or 0))
            else:
                self._sock.sendto(_echo(flow.sport or 0), (flow.dst, 0))
        except OSError as exc:
            self.error = exc.strerror or str(exc)

    def close(self) -> None:
        # a connection that got an answer ends with a reset, not a FIN dance
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self._sock.close()


def _echo(ident: int) -> bytes:
    header = struct.pack("!BBHHH", 8, 0, 0, ident, 0)
    return header[:2] + struct.pack("!H", _checksum(header + _ECHO_DATA)) + header[4:] + _ECHO_DATA


def prepare(netns: str | None, proto: str, dst: str, dport: int | None, echo_id: int) -> Probe:
    """A probe's socket, opened in the namespace whose handle is `netns` (None: the caller's),
    and the flow it will make. Raises nothing for a missing route: `send` records that."""

    def work() -> Probe:
        src = _source_for(dst)
        if proto == "icmp":
            sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
            sock.setblocking(False)
            return Probe(sock, Flow("icmp", src, dst, echo_id, echo_id))
        kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
        sock = socket.socket(socket.AF_INET, kind)
        sock.setblocking(False)
        sock.bind((src or "0.0.0.0", 0))
        port = sock.getsockname()[1]
        return Probe(sock, Flow(proto, src, dst, port, dport))

    return work() if netns is None else call_in_netns(netns, work)


def _source_for(dst: str) -> str | None:
    """The address the kernel sends from toward `dst` (None: it has no route there)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect((dst, 9))  # a UDP connect only picks the route
        except OSError:
            return None
        return str(sock.getsockname()[0])
