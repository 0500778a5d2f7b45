"""`hatoba capture` against a fake service streaming pcapng: lines, files, the counts, flags."""

from __future__ import annotations

import os
import signal
import socket
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from fakeapi import FakeApi, Reply, error, read_until_eof

from fixtures.frames import echo, seed_frames
from hatoba.observe import pcapng

T0 = 1_765_000_000_000_000_000


def _stream(frames: list[bytes], *, dropped: int = 0, note: str = "") -> bytes:
    out = pcapng.section_header("fake")
    out += pcapng.interface("eth0", "container web", 262144)
    for i, data in enumerate(frames):
        out += pcapng.packet(0, T0 + i * 1000, data, len(data))
    return out + pcapng.statistics(
        0, T0, T0 + 10**9, len(frames) + dropped, dropped, len(frames), note
    )


def _serve(stream: bytes) -> Reply:
    def run(conn: socket.socket, _rest: bytes) -> None:
        conn.sendall(stream)

    return Reply(hijack=run)


def test_lines_and_counts(
    api: FakeApi, hatoba: Callable[..., int], capfd: pytest.CaptureFixture[str]
) -> None:
    frames = [
        echo("172.17.0.2", "172.17.0.3", 14, 0),
        echo("172.17.0.3", "172.17.0.2", 14, 0, reply=True),
    ]
    api.route("POST", "/hatoba/capture", _serve(_stream(frames, dropped=3)))
    assert hatoba("capture", "--container", "web", "-c", "2", "icmp", "and", "host", "x") == 0
    out, err = capfd.readouterr()
    assert out.splitlines() == [
        "IP 172.17.0.2 > 172.17.0.3: ICMP echo request, id 14, seq 0, length 64",
        "IP 172.17.0.3 > 172.17.0.2: ICMP echo reply, id 14, seq 0, length 64",
    ]
    assert err.splitlines() == [
        "listening on eth0 (container web), link-type EN10MB (Ethernet), "
        "snapshot length 262144 bytes",
        "2 packets captured, 3 dropped by kernel",
    ]
    request = api.find("POST", "/hatoba/capture")
    assert request.arg("container") == "web"
    assert request.arg("count") == "2"
    assert request.arg("filter") == "icmp and host x"
    assert request.arg("network") is None


def test_write_pcap_and_pcapng(api: FakeApi, hatoba: Callable[..., int], tmp_path: Path) -> None:
    frames = [data for _, data in seed_frames()]
    stream = _stream(frames)
    api.route("POST", "/hatoba/capture", _serve(stream))
    assert hatoba("capture", "-i", "hatoba0", "-w", str(tmp_path / "a.pcap")) == 0
    raw = (tmp_path / "a.pcap").read_bytes()
    assert raw[:24] == pcapng.pcap_header(262144)
    assert len(raw) == 24 + sum(16 + len(f) for f in frames)
    assert hatoba("capture", "-i", "hatoba0", "-w", str(tmp_path / "a.pcapng")) == 0
    assert (tmp_path / "a.pcapng").read_bytes() == stream


def test_the_reason_a_capture_ended_is_told(
    api: FakeApi, hatoba: Callable[..., int], capfd: pytest.CaptureFixture[str]
) -> None:
    api.route("POST", "/hatoba/capture", _serve(_stream([], note="capture ended: gone")))
    assert hatoba("capture", "--network", "sample") == 0
    assert capfd.readouterr().err.splitlines()[-2:] == [
        "capture ended: gone",
        "0 packets captured, 0 dropped by kernel",
    ]


def test_ctrl_c_half_closes_and_waits_for_the_counts(
    api: FakeApi,
    hatoba: Callable[..., int],
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    frame = echo("172.17.0.2", "172.17.0.3", 14, 0)
    handling = threading.Event()
    install = signal.signal

    def watched(signum: int, handler: object) -> object:
        previous = install(signum, handler)  # type: ignore[arg-type]
        if signum == signal.SIGINT and callable(handler):
            handling.set()
        return previous

    monkeypatch.setattr(signal, "signal", watched)

    def run(conn: socket.socket, _rest: bytes) -> None:
        head = pcapng.section_header("fake") + pcapng.interface("eth0", "", 262144)
        conn.sendall(head + pcapng.packet(0, T0, frame, len(frame)))
        assert handling.wait(10)
        os.kill(os.getpid(), signal.SIGINT)  # the user's Ctrl-C
        read_until_eof(conn)  # the client half-closes; the service then sends the counts
        conn.sendall(pcapng.statistics(0, T0, T0, 9, 8, 1))

    api.route("POST", "/hatoba/capture", Reply(hijack=run))
    assert threading.current_thread() is threading.main_thread()
    assert hatoba("capture", "--container", "web") == 0
    assert capfd.readouterr().err.splitlines()[-1] == "1 packets captured, 8 dropped by kernel"


def test_refusals(
    api: FakeApi, hatoba: Callable[..., int], capfd: pytest.CaptureFixture[str]
) -> None:
    api.route(
        "POST", "/hatoba/capture", error(400, 'invalid capture filter "tcp prt 80": syntax error')
    )
    assert hatoba("capture", "--container", "web", "tcp", "prt", "80") == 1
    assert "invalid capture filter" in capfd.readouterr().err
    assert hatoba("capture", "-c", "0") == 125
    assert "must be > 0" in capfd.readouterr().err
