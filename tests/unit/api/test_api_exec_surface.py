"""Detach keys as requests carry them: an exec's DetachKeys kept and shown as Docker 20.10
shows them (base64, Go's []byte), and keys no one can type refused with Docker's words, for
an exec and for an attach, before anything starts."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from served_world import ServedWorld, exchange


@pytest.fixture(scope="module")
def world() -> Iterator[ServedWorld]:
    with (
        tempfile.TemporaryDirectory(prefix="hatoba-exec-") as directory,
        ServedWorld(Path(directory)) as world,
    ):
        yield world


def ask(world: ServedWorld, method: str, target: str, body: Any = None) -> tuple[int, Any]:
    raw = json.dumps(body).encode() if body is not None else b""
    head = f"{method} {target} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(raw)}\r\n\r\n"
    reply = exchange(world.socket, head.encode() + raw, method)
    assert reply is not None
    return reply.status, json.loads(reply.body) if reply.body else None


def test_an_execs_keys_are_shown_as_docker_shows_them(world: ServedWorld) -> None:
    db = world.names()["db"]
    for keys, shown in (("ctrl-x,x", "GHg="), ("", "")):
        status, made = ask(
            world,
            "POST",
            f"/containers/{db}/exec",
            {"Cmd": ["sh"], "Tty": True, "DetachKeys": keys},
        )
        assert status == 201
        status, doc = ask(world, "GET", f"/exec/{made['Id']}/json")
        assert doc["DetachKeys"] == shown
        assert doc["Running"] is False and doc["ExitCode"] is None and doc["Pid"] == 0
        assert doc["ProcessConfig"] == {
            "tty": True,
            "entrypoint": "sh",
            "arguments": [],
            "privileged": False,
        }


def test_keys_no_one_can_type_are_refused(world: ServedWorld) -> None:
    db = world.names()["db"]
    before = world.snapshot()
    status, doc = ask(
        world, "POST", f"/containers/{db}/exec", {"Cmd": ["sh"], "DetachKeys": "ctrl-P"}
    )
    assert (status, doc["message"]) == (400, "Invalid escape keys (ctrl-P) provided")
    status, doc = ask(world, "POST", f"/containers/{db}/attach?stream=1&stdin=1&detachKeys=meta-x")
    assert (status, doc["message"]) == (400, "Invalid detach keys (meta-x) provided")
    assert world.snapshot() == before
