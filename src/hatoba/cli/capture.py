"""`hatoba capture`: packets on a container's eth0, a network's bridge or any interface, as
`tcpdump -tnl` lines or written to a pcap/pcapng file (`-w -`: to stdout, for Wireshark).

The service opens the packet socket in the right namespace and streams pcapng over a hijacked
connection; this command only renders it, at the lowest CPU priority. Ctrl-C half-closes the
connection: the service stops, sends the kernel's counts, and `N packets captured, M dropped
by kernel` is printed.
"""

from __future__ import annotations

import os
import signal
import sys

from hatoba.cli.errors import UsageError
from hatoba.cli.parsing import Parser
from hatoba.observe import pcapng

TYPE_CHECKING = False  # `typing` costs ~4 ms of start-up; mypy treats this name as True
if TYPE_CHECKING:
    from typing import BinaryIO

    from hatoba.cli.client import Conn
    from hatoba.cli.context import Context

SNAPLEN = 262144


def capture(ctx: Context, args: list[str]) -> int:
    p = Parser(
        ctx.prog,
        "[OPTIONS] [FILTER...]",
        "Capture packets on a container, a network's bridge or an interface\n\n"
        "FILTER is a tcpdump filter expression (compiled by libpcap).",
    )
    p.option("--container", help="Capture on the container's eth0 (or -i) in its namespace")
    p.option("--network", help="Capture on the network's bridge")
    p.option("-i", "--interface", help="Interface to capture on (default: eth0 of --container)")
    p.option("--netns", help="Namespace of -i: a container, or host (default)")
    p.option("-c", "--count", help="Exit after receiving count packets", type=int, metavar="int")
    p.option("-w", "--write", help='Write packets to a pcap file ("-": stdout), pcapng if *.pcapng')
    p.flag("--pcapng", help="Write pcapng (with interface names) whatever the file's name")
    p.option(
        "-s",
        "--snaplen",
        help=f"Bytes kept of each packet (default {SNAPLEN})",
        type=int,
        metavar="int",
    )
    ns = p.parse(args)
    if ns.count is not None and ns.count <= 0:
        raise UsageError(
            f'invalid argument "{ns.count}" for "-c, --count" flag: must be > 0', ctx.prog
        )
    query = {
        "container": ns.container,
        "network": ns.network,
        "interface": ns.interface,
        "netns": ns.netns,
        "count": ns.count,
        "snaplen": ns.snaplen,
        "filter": " ".join(ns.args) or None,
    }
    conn = ctx.client.hijack("POST", "/hatoba/capture", query)
    # The service sends no faster than we take: at the lowest priority, a busy host drops
    # (and counts) packets rather than slow the traffic being watched.
    os.nice(19)
    if ns.write is None:
        sink: _Sink = _Lines()
    else:
        pcapng_out = ns.pcapng or ns.write.endswith(".pcapng")
        out = sys.stdout.buffer if ns.write == "-" else open(ns.write, "wb", 1 << 20)  # noqa: SIM115
        sink = _Pcapng(out) if pcapng_out else _Pcap(out)
    try:
        captured, dropped, note = _receive(conn, sink)
    finally:
        sink.close()
    if note:
        sys.stderr.write(note + "\n")
    sys.stderr.write(f"{captured} packets captured, {dropped} dropped by kernel\n")
    return 0


class _Sink:
    """Where the stream goes: each block as read, or the bytes as they came (`raw`)."""

    def raw(self, data: bytes) -> None:
        return None

    def interface(self, found: pcapng.Interface) -> None:
        return None

    def packet(self, found: pcapng.Packet) -> None:
        return None

    def close(self) -> None:
        return None


class _Lines(_Sink):
    def __init__(self) -> None:
        from hatoba.observe.lines import LineFormatter

        self._formatter = LineFormatter()

    def interface(self, found: pcapng.Interface) -> None:
        sys.stderr.write(_listening(found))
        sys.stderr.flush()

    def packet(self, found: pcapng.Packet) -> None:
        sys.stdout.write(self._formatter.line(found.data, found.length) + "\n")
        sys.stdout.flush()


class _Pcap(_Sink):
    def __init__(self, out: BinaryIO) -> None:
        self._out = out

    def interface(self, found: pcapng.Interface) -> None:
        sys.stderr.write(_listening(found))
        self._out.write(pcapng.pcap_header(found.snaplen, found.linktype))
        self._out.flush()

    def packet(self, found: pcapng.Packet) -> None:
        self._out.write(
            pcapng.pcap_record_header(found.timestamp_ns, len(found.data), found.length)
        )
        self._out.write(found.data)

    def close(self) -> None:
        self._out.flush()
        if self._out is not sys.stdout.buffer:
            self._out.close()


class _Pcapng(_Pcap):
    """The service's stream as it came (it is pcapng already)."""

    def interface(self, found: pcapng.Interface) -> None:
        sys.stderr.write(_listening(found))

    def packet(self, found: pcapng.Packet) -> None:
        return None

    def raw(self, data: bytes) -> None:
        self._out.write(data)
        self._out.flush()


def _listening(found: pcapng.Interface) -> str:
    where = f" ({found.description})" if found.description else ""
    return (
        f"listening on {found.name}{where}, link-type EN10MB (Ethernet), "
        f"snapshot length {found.snaplen} bytes\n"
    )


def _receive(conn: Conn, sink: _Sink) -> tuple[int, int, str]:
    """Until the service ends the stream: (packets received, dropped by kernel, note)."""
    reader = pcapng.Reader(with_data=not isinstance(sink, _Pcapng))
    stopping = False

    def interrupted(signum: int, frame: object) -> None:
        nonlocal stopping
        if stopping:  # a second Ctrl-C: do not wait for the counts
            raise KeyboardInterrupt
        stopping = True
        conn.shutdown_write()

    previous = signal.signal(signal.SIGINT, interrupted)
    captured = dropped = 0
    note = ""
    try:
        while data := conn.recv(1 << 20):  # a fast capture comes in large pieces
            sink.raw(data)
            for block in reader.feed(data):
                if isinstance(block, pcapng.Packet):
                    captured += 1
                    sink.packet(block)
                elif isinstance(block, pcapng.Interface):
                    sink.interface(block)
                else:
                    dropped += block.dropped
                    note = block.comment or note
    finally:
        signal.signal(signal.SIGINT, previous)
        conn.close()
    return captured, dropped, note
