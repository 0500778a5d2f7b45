"""Links changed behind hatoba's back come back by themselves, through the CLI in a sandbox:
a bridge deleted by hand (its veths join the new one), a container's veth deleted by hand (made
again with the same address and MAC), a namespace handle unmounted (mounted again at the next
start, DNS included)."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator

import pytest

from fixtures.processes import eventually, wait_gone
from hatoba.testing import Sandbox

pytestmark = pytest.mark.root


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    with Sandbox() as sandbox:
        sandbox.hatoba("network", "create", "sample")
        for name in ("s1", "s2"):
            sandbox.hatoba("run", "-d", "--name", name, "--net", "sample", "hostfs", "sleep", "1d")
        yield sandbox


def inspect(sb: Sandbox, name: str) -> dict:  # type: ignore[type-arg]
    return json.loads(sb.hatoba("inspect", name).stdout)[0]  # type: ignore[no-any-return]


def endpoint(sb: Sandbox, name: str) -> dict:  # type: ignore[type-arg]
    return inspect(sb, name)["NetworkSettings"]["Networks"]["sample"]  # type: ignore[no-any-return]


def pings(sb: Sandbox, source: str, target: str) -> bool:
    done = sb.hatoba("exec", source, "ping", "-c", "1", "-W", "1", target, check=False)
    return done.returncode == 0


def test_a_bridge_deleted_by_hand_comes_back_with_its_containers(sb: Sandbox) -> None:
    name = "br-" + json.loads(sb.hatoba("network", "inspect", "sample").stdout)[0]["Id"][:12]
    sb.sh(["ip", "link", "del", name])
    assert eventually(lambda: pings(sb, "s1", "s2"))
    ports = sb.sh(["ip", "-o", "link", "show", "master", name]).stdout
    assert ports.count("veth") == 2


def test_a_veth_deleted_by_hand_is_made_again_the_same(sb: Sandbox) -> None:
    veth = sb.sh(["sh", "-c", "ip -o link | grep -o 'veth[0-9a-f]*' | head -1"]).stdout.strip()
    owner = sb.sh(["ip", "-d", "link", "show", veth]).stdout
    victim = "s1" if inspect(sb, "s1")["Id"] in owner else "s2"
    other = "s2" if victim == "s1" else "s1"
    before = endpoint(sb, victim)
    sb.sh(["ip", "link", "del", veth])
    assert eventually(lambda: pings(sb, other, victim))
    inside = sb.hatoba("exec", victim, "ip", "-o", "addr", "show", "eth0").stdout
    assert f"{before['IPAddress']}/{before['IPPrefixLen']}" in inside
    link = sb.hatoba("exec", victim, "ip", "-o", "link", "show", "eth0").stdout
    assert before["MacAddress"] in link
    assert endpoint(sb, victim) == before
    assert "damaged" not in sb.hatoba("ps").stdout


def test_an_unmounted_namespace_handle_keeps_dns_after_a_restart(sb: Sandbox) -> None:
    cid = inspect(sb, "s1")["Id"]
    sb.sh(["umount", str(sb.run_root / "netns" / cid)])
    pid = sb.service_pid()
    assert pid is not None
    os.kill(pid, signal.SIGTERM)
    wait_gone(pid, 10)
    # the next CLI call starts the service again; its reconcile mounts the handle again
    answer = sb.hatoba("exec", "s1", "dig", "+short", "+time=2", "+tries=1", "s2").stdout
    assert answer.strip() == endpoint(sb, "s2")["IPAddress"]
    assert "damaged" not in sb.hatoba("ps").stdout
