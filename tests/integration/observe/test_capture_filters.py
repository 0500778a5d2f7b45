"""Capture filters: libpcap compiles them, the kernel runs them on a live packet socket, and
the frames that get through are exactly those tcpdump's own filter picks from the same frames.

The frames (tests/fixtures/frames.py) are sent on one end of a veth pair with a raw packet
socket and captured on the other end, inside another namespace.
"""

from __future__ import annotations

import select
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.frames import seed_frames
from hatoba.kernel.capture import PacketTap, open_tap
from hatoba.kernel.netns import call_in_netns
from hatoba.observe import pcapng
from hatoba.testing import Sandbox

pytestmark = pytest.mark.root

FILTERS = (
    "",
    "icmp",
    "tcp port 80",
    "udp and dst port 53",
    "arp",
    "host 172.17.0.3",
    "tcp[tcpflags] & tcp-syn != 0",
    "not ip",
    "ip6",
    "net 203.0.113.0/24",
    "greater 100",
    "ether src 02:42:ac:11:00:03",
    "icmp[icmptype] == icmp-unreach",
)


@pytest.fixture(scope="module")
def wire() -> Iterator[tuple[Sandbox, Path]]:
    with Sandbox() as sb:
        far = sb.dir / "ns" / "far"
        from hatoba.kernel.netns import create_netns

        create_netns(str(far))
        try:
            sb.sh(
                ["ip", "link", "add", "wa", "type", "veth", "peer", "name", "wb", "netns", str(far)]
            )
            sb.sh(["sysctl", "-qw", "net.ipv6.conf.wa.disable_ipv6=1"])
            sb.sh(["ip", "link", "set", "wa", "up"])
            sb.sh(["sysctl", "-qw", "net.ipv6.conf.wb.disable_ipv6=1"], ns=far)
            sb.sh(["ip", "link", "set", "wb", "up"], ns=far)
            yield sb, far
        finally:
            from hatoba.kernel.netns import remove_handle

            remove_handle(str(far))


def _tcpdump_picks(tmp_path: Path, expression: str) -> list[bytes]:
    frames = [data for _, data in seed_frames()]
    path = tmp_path / "frames.pcap"
    with path.open("wb") as out:
        out.write(pcapng.pcap_header(262144))
        for i, data in enumerate(frames):
            out.write(pcapng.pcap_record_header(i * 1000, len(data), len(data)))
            out.write(data)
    picked = tmp_path / "picked.pcap"
    argv = ["tcpdump", "-r", str(path), "-w", str(picked)]
    subprocess.run([*argv, *expression.split()], capture_output=True, check=True)
    blocks = pcapng_from_pcap(picked.read_bytes())
    return blocks


def pcapng_from_pcap(raw: bytes) -> list[bytes]:
    """The packets of a pcap file (microsecond, little-endian, as tcpdump -w writes here)."""
    out, at = [], 24
    while at + 16 <= len(raw):
        caplen = int.from_bytes(raw[at + 8 : at + 12], "little")
        out.append(raw[at + 16 : at + 16 + caplen])
        at += 16 + caplen
    return out


def _send_all(sb: Sandbox) -> None:
    def work() -> None:
        with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as sock:
            sock.bind(("wa", 0))
            for _, data in seed_frames():
                sock.send(data)

    call_in_netns(str(sb.host), work)


def _received(tap: PacketTap, wanted: int) -> list[bytes]:
    """What the tap got of the frames we sent (the link may carry its own chatter)."""
    sent = {data for _, data in seed_frames()}
    got: list[bytes] = []
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        # once all expected frames came, a short wait shows whether more were let through
        wait = 0.1 if len(got) >= wanted else deadline - time.monotonic()
        ready, _, _ = select.select([tap.fileno()], [], [], max(wait, 0))
        if not ready:
            if len(got) >= wanted:
                break
            continue
        got += [f.data for f in tap.read() if not f.outgoing and f.data in sent]
    return got


@pytest.mark.parametrize("expression", FILTERS)
def test_the_kernel_lets_through_what_tcpdump_picks(
    wire: tuple[Sandbox, Path], tmp_path: Path, expression: str
) -> None:
    sb, far = wire
    expected = _tcpdump_picks(tmp_path, expression)
    tap = open_tap(str(far), "wb", expression, 262144)
    try:
        _send_all(sb)
        got = _received(tap, len(expected))
    finally:
        tap.close()
    assert got == expected


def test_the_snap_length_cuts_frames_in_the_kernel(wire: tuple[Sandbox, Path]) -> None:
    sb, far = wire
    tap = open_tap(str(far), "wb", "icmp", 40)
    try:
        _send_all(sb)
        frames = []
        while len(frames) < 4:
            select.select([tap.fileno()], [], [], 2)
            frames += [f for f in tap.read() if not f.outgoing]
    finally:
        tap.close()
    assert {len(f.data) for f in frames} == {40}
    assert all(f.length > 40 for f in frames)


def test_a_filter_libpcap_rejects_is_an_invalid_argument() -> None:
    from hatoba.errors import InvalidArgument

    with pytest.raises(InvalidArgument, match='invalid capture filter "tcp prot 80"'):
        open_tap(None, "lo", "tcp prot 80", 262144)
