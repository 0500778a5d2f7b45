"""`hatoba events` against a fake service: docker's line, its templates and JSON, and the
arguments sent as docker sends them."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from fakeapi import FakeApi, Reply

from hatoba.cli.events import go_time_nano

START = {
    "status": "start",
    "id": "c" * 64,
    "from": "hostfs",
    "Type": "container",
    "Action": "start",
    "Actor": {"ID": "c" * 64, "Attributes": {"name": "web", "image": "hostfs"}},
    "scope": "local",
    "time": 1_700_000_000,
    "timeNano": 1_700_000_000_123_456_789,
}
CREATE = {
    "Type": "network",
    "Action": "create",
    "Actor": {"ID": "n" * 64, "Attributes": {"name": "sample", "type": "bridge"}},
    "scope": "local",
    "time": 1_700_000_001,
    "timeNano": 1_700_000_001_000_000_000,
}


@pytest.fixture
def streaming(api: FakeApi) -> FakeApi:
    lines = [json.dumps(START).encode() + b"\n", json.dumps(CREATE).encode() + b"\n"]
    api.route("GET", "/events", Reply(chunks=lines))
    return api


def test_docker_s_line(
    streaming: FakeApi, hatoba: Callable[..., int], capfd: pytest.CaptureFixture[str]
) -> None:
    assert hatoba("events", "--since", "10m", "--until", "1700000002", "-f", "type=container") == 0
    assert capfd.readouterr().out.splitlines() == [
        f"{go_time_nano(START['timeNano'])} container start {'c' * 64} (image=hostfs, name=web)",
        f"{go_time_nano(CREATE['timeNano'])} network create {'n' * 64} (name=sample, type=bridge)",
    ]
    request = streaming.find("GET", "/events")
    assert (request.arg("since"), request.arg("until")) == ("10m", "1700000002")
    assert json.loads(request.arg("filters") or "") == {"type": {"container": True}}


def test_templates_and_json(
    streaming: FakeApi, hatoba: Callable[..., int], capfd: pytest.CaptureFixture[str]
) -> None:
    fmt = "{{.Type}} {{.Action}} {{.Actor.Attributes.name}} {{.Status}} {{.TimeNano}}"
    assert hatoba("system", "events", "--format", fmt) == 0
    assert capfd.readouterr().out.splitlines() == [
        "container start web start 1700000000123456789",
        "network create sample  1700000001000000000",
    ]
    assert hatoba("events", "--format", "json") == 0
    assert [json.loads(line) for line in capfd.readouterr().out.splitlines()] == [START, CREATE]


def test_go_time_nano_in_utc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")
    import time

    time.tzset()
    try:
        assert go_time_nano(1_700_000_000_000_000_042) == "2023-11-14T22:13:20.000000042Z"
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
