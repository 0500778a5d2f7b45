"""`tcpdump -tnl` lines from frames built in the tests: ours against a golden file, and the
golden file against tcpdump itself reading the same frames from a pcap file."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from fixtures.frames import ACK, SYN, SYN_OPTIONS, seed_frames, tcp
from hatoba.observe import pcapng
from hatoba.observe.lines import LineFormatter

GOLDEN = Path(__file__).parent / "golden" / "lines.txt"


def _golden() -> list[tuple[str, str]]:
    rows = [line.split("\t", 1) for line in GOLDEN.read_text().splitlines()]
    return [(name, text) for name, text in rows]


def _pcap(path: Path, frames: list[bytes]) -> None:
    with path.open("wb") as out:
        out.write(pcapng.pcap_header(262144))
        for i, data in enumerate(frames):
            out.write(
                pcapng.pcap_record_header(1_700_000_000_000_000_000 + i, len(data), len(data))
            )
            out.write(data)


def test_lines_match_the_golden_file() -> None:
    formatter = LineFormatter()
    ours = [(name, formatter.line(data)) for name, data in seed_frames()]
    assert ours == _golden()


@pytest.mark.skipif(shutil.which("tcpdump") is None, reason="tcpdump is not installed")
def test_the_golden_file_is_what_tcpdump_prints(tmp_path: Path) -> None:
    path = tmp_path / "frames.pcap"
    _pcap(path, [data for _, data in seed_frames()])
    out = subprocess.run(
        ["tcpdump", "-tnl", "-r", str(path)], capture_output=True, text=True, check=True
    ).stdout
    # tcpdump follows the line of an unknown ethertype with a hex dump (lines of their own)
    printed = [line for line in out.splitlines() if not line.startswith("\t")]
    assert printed == [text for _, text in _golden()]


def test_sequence_numbers_are_relative_after_the_first_ack() -> None:
    formatter = LineFormatter()
    a, b = "10.0.0.1", "10.0.0.2"
    lines = [
        formatter.line(tcp(a, 50000, b, 80, SYN, 4000000000, options=SYN_OPTIONS)),
        formatter.line(tcp(b, 80, a, 50000, SYN | ACK, 77, 4000000001)),
        formatter.line(tcp(a, 50000, b, 80, ACK, 4000000001, 78, payload=b"x" * 300)),
    ]
    assert ", seq 4000000000, " in lines[0]
    assert ", seq 77, ack 4000000001, " in lines[1]
    # relative, across the 32-bit wrap: 4000000001 + 300 is past 2**32
    assert "Flags [.], seq 1:301, ack 1, " in lines[2]


def test_a_cut_frame_still_gives_a_line() -> None:
    syn = tcp("10.0.0.1", 50000, "10.0.0.2", 80, SYN, 1, options=SYN_OPTIONS)
    for size in range(len(syn)):
        assert LineFormatter().line(syn[:size], len(syn))  # no exception, some text
