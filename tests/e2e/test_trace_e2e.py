"""`hatoba trace` through the service, in a sandbox with an outside world: every hop's
addresses on the masquerade path and the publish path, NAT where it happens, the rules met
and the conntrack entry; and the other directions a flow can take."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from hatoba.testing import Sandbox
from hatoba.testing.sandbox import CLIENT, HOST_UPLINK, INTERNET

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with Sandbox(with_outside=True) as sb:
        sb.hatoba("run", "-d", "--name", "c1", "hostfs", "sleep", "1d")
        sb.hatoba("run", "-d", "--name", "c2", "hostfs", "sleep", "1d")
        sb.hatoba(
            "run", "-d", "--name", "web", "-p", "8000:80",
            "hostfs", "busybox", "httpd", "-f", "-p", "80", "-h", "/tmp",
        )  # fmt: skip
        yield sb


def address(sb: Sandbox, name: str) -> str:
    info = json.loads(sb.hatoba("inspect", name).stdout)[0]
    return str(info["NetworkSettings"]["Networks"]["bridge"]["IPAddress"])


def trace(sb: Sandbox, *args: str) -> dict[str, Any]:
    result = sb.hatoba("trace", *args, "--format", "json")
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def at(timeline: dict[str, Any], hop: str, direction: str = "→") -> dict[str, Any]:
    """The first sighting of the flow's first packet (or answer) at `hop`."""
    return next(s for s in timeline["sightings"] if s["hop"] == hop and s["direction"] == direction)


def rules(timeline: dict[str, Any]) -> str:
    return "\n".join(f"{r['where']} {r['verdict']} {r['rule']}" for r in timeline["rules"])


def test_the_masquerade_path(sb: Sandbox) -> None:
    c1 = address(sb, "c1")
    timeline = trace(sb, "--from", "c1", "--to", INTERNET)
    hops = timeline["hops"]
    assert hops[0] == "eth0@c1"
    assert hops[-1] == "eth0@host"  # the uplink
    inside = at(timeline, "eth0@c1")
    assert (inside["src"], inside["dst"]) == (c1, INTERNET)
    bridge = at(timeline, "hatoba0@host")
    assert (bridge["src"], bridge["dst"], bridge["note"]) == (c1, INTERNET, "")
    out = at(timeline, "eth0@host")
    assert (out["src"], out["dst"]) == (HOST_UPLINK, INTERNET)
    assert out["note"] == f"masquerade {c1} → {HOST_UPLINK}"
    back = at(timeline, "eth0@c1", "←")
    assert (back["src"], back["dst"]) == (INTERNET, c1)
    assert "ICMP echo reply" in back["line"]
    assert timeline["conntrack"].endswith("(SNAT)")
    assert 'comment "OUTBOUND NAT"' in rules(timeline)


def test_the_publish_path_from_outside(sb: Sandbox) -> None:
    web = address(sb, "web")
    argv = ["trace", "--from", CLIENT, "--to", f"{HOST_UPLINK}:8000", "--format", "json"]
    proc = sb.popen(
        [*sb.hatoba_argv, *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    assert proc.stderr.readline().startswith(f"waiting for tcp {CLIENT} → {HOST_UPLINK}:8000")
    sb.sh(["busybox", "wget", "-qO-", f"http://{HOST_UPLINK}:8000/"], ns=sb.outside, check=False)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    timeline = json.loads(out)
    assert timeline["hops"][0] == "eth0@host"
    assert timeline["hops"][-1] == "eth0@web"
    uplink = at(timeline, "eth0@host")
    assert uplink["src"].startswith(f"{CLIENT}:")
    assert uplink["dst"] == f"{HOST_UPLINK}:8000"
    bridge = at(timeline, "hatoba0@host")
    assert bridge["dst"] == f"{web}:80"
    assert bridge["src"] == uplink["src"]  # the client's own address, no proxy
    assert bridge["note"] == f"DNAT {HOST_UPLINK}:8000 → {web}:80"
    inside = at(timeline, "eth0@web")
    assert (inside["src"], inside["dst"]) == (uplink["src"], f"{web}:80")
    answer = at(timeline, "eth0@host", "←")
    assert answer["src"] == f"{HOST_UPLINK}:8000"
    assert "Flags [S.]" in answer["line"]
    assert "(DNAT)" in timeline["conntrack"]
    assert 'comment "PUBLISHED ON ALL ADDRESSES"' in rules(timeline)


def test_between_containers_from_the_host_and_to_the_host(sb: Sandbox) -> None:
    c1, c2, web = address(sb, "c1"), address(sb, "c2"), address(sb, "web")
    timeline = trace(sb, "--from", "c1", "--to", "c2")
    assert timeline["hops"][0] == "eth0@c1"
    assert timeline["hops"][-1] == "eth0@c2"
    assert at(timeline, "eth0@c2")["src"] == c1
    assert at(timeline, "eth0@c1", "←")["src"] == c2

    timeline = trace(sb, "--from", "host", "--to", f"{HOST_UPLINK}:8000")
    assert timeline["hops"] == [timeline["hops"][0], timeline["hops"][1], "eth0@web"]
    assert at(timeline, "eth0@web")["dst"] == f"{web}:80"
    assert "(DNAT)" in timeline["conntrack"]

    timeline = trace(sb, "--from", "c1", "--to", "host")
    assert timeline["hops"][-1] == "hatoba0@host"
    assert at(timeline, "eth0@c1", "←")["src"] == "172.17.0.1"


def test_refusals(sb: Sandbox) -> None:
    result = sb.hatoba("trace", "--from", "c1", "--to", "nobody", check=False)
    assert (result.returncode, result.stderr.strip()) == (
        1,
        "Error response from daemon: no container is named nobody",
    )
    result = sb.hatoba("trace", "--from", "c1", "--to", "c2:80", "--proto", "icmp", check=False)
    assert "icmp has no ports" in result.stderr
    result = sb.hatoba("trace", "--from", "c1", check=False)
    assert result.returncode == 125
