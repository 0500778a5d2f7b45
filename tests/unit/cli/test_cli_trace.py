"""`hatoba trace` and `explain` against a fake service: progress, the rendered answer, errors."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable

import pytest
from fakeapi import FakeApi, Reply

from hatoba.observe.timeline import RuleMet, Sighting, Timeline, Verdict

TIMELINE = Timeline(
    title="tcp 172.17.0.2:40000 → 172.17.0.3:80",
    route="c1 172.17.0.2 → c2 172.17.0.3",
    hops=("eth0@c1", "eth0@c2"),
    sightings=(
        Sighting(0, 0, "eth0@c1", "eth0 of c1", "→", "172.17.0.2:40000", "172.17.0.3:80", "IP a"),
        Sighting(0, 5, "eth0@c2", "eth0 of c2", "→", "172.17.0.2:40000", "172.17.0.3:80", "IP b"),
    ),
    rules=(RuleMet("inet hatoba forward", "drop", 'drop comment "ISOLATION"', 12),),
    conntrack="",
)


def _answer(*docs: dict[str, object]) -> Reply:
    def run(conn: socket.socket, _rest: bytes) -> None:
        conn.sendall(b"".join(json.dumps(d).encode() + b"\n" for d in docs))

    return Reply(hijack=run)


def test_trace_text_and_json(
    api: FakeApi, hatoba: Callable[..., int], capfd: pytest.CaptureFixture[str]
) -> None:
    api.route(
        "POST",
        "/hatoba/trace",
        _answer({"progress": "waiting for it"}, {"timeline": TIMELINE.to_json()}),
    )
    assert hatoba("trace", "--from", "c1", "--to", "c2:80", "--wait") == 0
    out, err = capfd.readouterr()
    assert err == "waiting for it\n"
    assert out.splitlines()[:2] == [
        "trace tcp 172.17.0.2:40000 → 172.17.0.3:80",
        "  c1 172.17.0.2 → c2 172.17.0.3",
    ]
    assert '  inet hatoba forward  drop  [handle 12: drop comment "ISOLATION"]' in out
    request = api.find("POST", "/hatoba/trace")
    assert (request.arg("from"), request.arg("to"), request.arg("wait")) == ("c1", "c2:80", "1")
    assert hatoba("trace", "--from", "c1", "--to", "c2:80", "--format", "json") == 0
    assert Timeline.from_json(json.loads(capfd.readouterr().out)) == TIMELINE


def test_explain_prints_the_verdict_first(
    api: FakeApi, hatoba: Callable[..., int], capfd: pytest.CaptureFixture[str]
) -> None:
    verdict = Verdict(
        "dropped", "Dropped: isolation between networks a and b.", ("rule x",), TIMELINE
    )
    api.route("POST", "/hatoba/explain", _answer({"verdict": verdict.to_json()}))
    assert hatoba("explain", "--from", "c1", "--to", "c2:80") == 0
    out = capfd.readouterr().out
    assert out == "Dropped: isolation between networks a and b.\n  - rule x\n"
    assert hatoba("explain", "--from", "c1", "--to", "c2:80", "--trace") == 0
    assert "trace tcp 172.17.0.2:40000" in capfd.readouterr().out


def test_errors(
    api: FakeApi, hatoba: Callable[..., int], capfd: pytest.CaptureFixture[str]
) -> None:
    api.route("POST", "/hatoba/trace", _answer({"error": "nftables tracing failed"}))
    assert hatoba("trace", "--from", "c1", "--to", "c2") == 1
    assert capfd.readouterr().err == "Error: nftables tracing failed\n"
    assert hatoba("trace", "--to", "c2") == 125
    assert "both --from and --to are required" in capfd.readouterr().err
