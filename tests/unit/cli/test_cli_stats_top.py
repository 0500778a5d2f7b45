"""`hatoba stats --no-stream` and `hatoba top` against a fake service: docker's arithmetic on
the stats documents, its table, its errors, and top's layout."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fakeapi import FakeApi, Request, error, json_reply

from hatoba.cli.render import bytes_size

WEB = "a" * 64
DOC: dict[str, Any] = {
    "read": "2026-12-06T10:00:01Z",
    "preread": "2026-12-06T10:00:00Z",
    "pids_stats": {"current": 3},
    "blkio_stats": {"io_service_bytes_recursive": [
        {"major": 8, "minor": 0, "op": "Read", "value": 4096},
        {"major": 8, "minor": 0, "op": "Write", "value": 0},
    ]},
    "cpu_stats": {"cpu_usage": {"total_usage": 1_000_000_000}, "system_cpu_usage": 4_000_000_000,
                  "online_cpus": 2},
    "precpu_stats": {"cpu_usage": {"total_usage": 500_000_000}, "system_cpu_usage": 2_000_000_000},
    "memory_stats": {"usage": 3 << 20, "stats": {"inactive_file": 1 << 20}, "limit": 48 << 20},
    "name": "/web",
    "id": WEB,
    "networks": {"eth0": {"rx_bytes": 150_000, "tx_bytes": 300},
                 "eth1": {"rx_bytes": 50_000, "tx_bytes": 0}},
}  # fmt: skip
ZEROS: dict[str, Any] = {
    "read": "0001-01-01T00:00:00Z",
    "cpu_stats": {"cpu_usage": {"total_usage": 0}},
    "precpu_stats": {"cpu_usage": {"total_usage": 0}},
    "memory_stats": {},
    "pids_stats": {},
    "blkio_stats": {},
    "name": "/db",
    "id": "b" * 64,
}


def test_no_stream_table(
    api: FakeApi, hatoba: Callable[..., int], capfd: pytest.CaptureFixture[str]
) -> None:
    api.route("GET", "/containers/json", json_reply([{"Id": WEB}, {"Id": "b" * 64}]))
    api.route("GET", f"/containers/{WEB}/stats", json_reply(DOC))
    api.route("GET", f"/containers/{'b' * 64}/stats", json_reply(ZEROS))
    assert hatoba("stats", "--no-stream") == 0
    assert capfd.readouterr().out == (
        "CONTAINER ID   NAME      CPU %     MEM USAGE / LIMIT   MEM %     NET I/O        "
        "BLOCK I/O    PIDS\n"
        "aaaaaaaaaaaa   web       50.00%    2MiB / 48MiB        4.17%     200kB / 300B   "
        "4.1kB / 0B   3\n"
        "bbbbbbbbbbbb   db        0.00%     0B / 0B             0.00%     0B / 0B        "
        "0B / 0B      0\n"
    )
    asked = [r for r in api.requests if r.path.endswith("/stats")]
    assert [r.arg("stream") for r in asked] == ["0", "0"]


def test_no_stream_names_format_and_errors(
    api: FakeApi, hatoba: Callable[..., int], capfd: pytest.CaptureFixture[str]
) -> None:
    api.route("GET", "/containers/web/stats", json_reply(DOC))
    api.route("GET", "/containers/nope/stats", error(404, "No such container: nope"))
    assert (
        hatoba("stats", "--no-stream", "--format", "{{.Container}}: {{.CPUPerc}}", "web", "nope")
        == 1
    )
    out, err = capfd.readouterr()
    assert out == "web: 50.00%\n"
    assert err == "Error response from daemon: No such container: nope\n"
    assert "/containers/json" not in [r.path for r in api.requests]


def test_bytes_size_is_go_units() -> None:
    assert [bytes_size(n) for n in (0, 1023, 1024, 1536, 23.5 * (1 << 30))] == [
        "0B", "1023B", "1KiB", "1.5KiB", "23.5GiB",
    ]  # fmt: skip


def test_top_layout_and_arguments(
    api: FakeApi, hatoba: Callable[..., int], capfd: pytest.CaptureFixture[str]
) -> None:
    listing = {
        "Titles": ["UID", "PID", "CMD"],
        "Processes": [["root", "1000", "sleep 1d"], ["nobody", "1001", "sh -c 'echo a  b'"]],
    }

    def answer(request: Request) -> Any:
        return json_reply(listing)

    api.route("GET", "/containers/web/top", answer)
    assert hatoba("top", "web") == 0
    assert capfd.readouterr().out == (
        "UID                 PID                 CMD\n"
        "root                1000                sleep 1d\n"
        "nobody              1001                sh -c 'echo a  b'\n"
    )
    assert api.find("GET", "/containers/web/top").arg("ps_args") is None
    assert hatoba("container", "top", "web", "-o", "pid,comm") == 0
    assert api.requests[-1].arg("ps_args") == "-o pid,comm"
    api.route("GET", "/containers/old/top", error(409, "Container 0123 is not running"))
    assert hatoba("top", "old") == 1
    assert capfd.readouterr().err.endswith(
        "Error response from daemon: Container 0123 is not running\n"
    )
