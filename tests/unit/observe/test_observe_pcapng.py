"""pcapng streams and pcap files as written here: read back by our reader and by tshark."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from fixtures.frames import echo, seed_frames
from hatoba.observe import pcapng

needs_tshark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")
T0 = 1_765_000_000_123_456_789


def _stream() -> bytes:
    frames = [data for _, data in seed_frames()]
    out = pcapng.section_header("hatoba test")
    out += pcapng.interface("eth0", "container web", 262144)
    out += pcapng.interface("hatoba0", "bridge of network bridge", 96)
    for i, data in enumerate(frames):
        out += pcapng.packet(
            i % 2, T0 + i * 1000, data[:96] if i % 2 else data, len(data), i % 3 == 0
        )
    note = "capture ended: the interface went away"
    return out + pcapng.statistics(
        0, T0, T0 + 10**9, accepted=20, dropped=7, delivered=13, note=note
    )


def _tshark(path: Path, *fields: str) -> list[list[str]]:
    argv = ["tshark", "-r", str(path), "-T", "fields"] + [a for f in fields for a in ("-e", f)]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    return [line.split("\t") for line in out.splitlines()]


def test_the_reader_gets_back_what_was_written() -> None:
    reader = pcapng.Reader()
    stream = _stream()
    blocks = [b for i in range(0, len(stream), 7) for b in reader.feed(stream[i : i + 7])]
    interfaces = [b for b in blocks if isinstance(b, pcapng.Interface)]
    packets = [b for b in blocks if isinstance(b, pcapng.Packet)]
    stats = [b for b in blocks if isinstance(b, pcapng.Statistics)]
    assert [(i.name, i.description, i.snaplen) for i in interfaces] == [
        ("eth0", "container web", 262144),
        ("hatoba0", "bridge of network bridge", 96),
    ]
    frames = [data for _, data in seed_frames()]
    assert [p.data for p in packets] == [d[:96] if i % 2 else d for i, d in enumerate(frames)]
    assert [p.length for p in packets] == [len(d) for d in frames]
    assert [p.timestamp_ns - T0 for p in packets] == [i * 1000 for i in range(len(frames))]
    assert [p.outgoing for p in packets] == [i % 3 == 0 for i in range(len(frames))]
    assert (stats[0].accepted, stats[0].dropped, stats[0].delivered) == (20, 7, 13)
    assert stats[0].comment == "capture ended: the interface went away"


def test_packets_completed_in_place_equal_whole_blocks() -> None:
    data = echo("10.0.0.1", "10.0.0.2", 1, 2, size=61)  # a length that needs padding
    for snaplen, outgoing in ((262144, True), (40, False), (64, None)):
        buffer = bytearray(pcapng.packet_block_room(snaplen) * 2)
        kept = data[:snaplen]
        buffer[pcapng.PACKET_HEAD : pcapng.PACKET_HEAD + len(kept)] = kept
        end = pcapng.finish_packet(buffer, 0, 3, T0, len(data), snaplen, outgoing)
        assert bytes(buffer[:end]) == pcapng.packet(3, T0, kept, len(data), outgoing)


@needs_tshark
def test_tshark_reads_the_stream_with_interface_names(tmp_path: Path) -> None:
    path = tmp_path / "capture.pcapng"
    path.write_bytes(_stream())
    rows = _tshark(path, "frame.interface_name", "frame.interface_description", "frame.len")
    frames = [data for _, data in seed_frames()]
    assert len(rows) == len(frames)
    assert rows[0] == ["eth0", "container web", str(len(frames[0]))]
    assert rows[1] == ["hatoba0", "bridge of network bridge", str(len(frames[1]))]
    sources = _tshark(path, "ip.src")
    assert ["203.0.113.150"] in sources


@needs_tshark
def test_tshark_reads_a_pcap_file(tmp_path: Path) -> None:
    path = tmp_path / "capture.pcap"
    frames = [data for _, data in seed_frames()]
    with path.open("wb") as out:
        out.write(pcapng.pcap_header(262144))
        for i, data in enumerate(frames):
            out.write(pcapng.pcap_record_header(T0 + i * 1000, len(data), len(data)))
            out.write(data)
    rows = _tshark(path, "frame.time_epoch", "frame.len")
    assert len(rows) == len(frames)
    assert rows[0][0].startswith("1765000000.123456")
    assert [int(r[1]) for r in rows] == [len(d) for d in frames]
