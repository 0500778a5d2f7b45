"""`hatoba explain` through the service: one verdict per way a flow ends, for every direction
a flow can take (container↔container, container→outside, outside→published port,
host→published port, container→host)."""

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
        sb.hatoba("network", "create", "sample")
        sb.hatoba("network", "create", "other")
        sb.hatoba("run", "-d", "--name", "s1", "--net", "sample", "hostfs", "sleep", "1d")
        sb.hatoba("run", "-d", "--name", "o1", "--net", "other", "hostfs", "sleep", "1d")
        sb.hatoba(
            "run", "-d", "--name", "web", "--net", "sample", "--network-alias", "www",
            "-p", "8000:80", "hostfs", "busybox", "httpd", "-f", "-p", "80", "-h", "/tmp",
        )  # fmt: skip
        yield sb


def explain(sb: Sandbox, *args: str) -> dict[str, Any]:
    result = sb.hatoba("explain", *args, "--format", "json")
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def address(sb: Sandbox, name: str, network: str) -> str:
    info = json.loads(sb.hatoba("inspect", name).stdout)[0]
    return str(info["NetworkSettings"]["Networks"][network]["IPAddress"])


def test_isolation_between_two_networks(sb: Sandbox) -> None:
    verdict = explain(sb, "--from", "s1", "--to", address(sb, "o1", "other"))
    assert verdict["outcome"] == "dropped"
    assert verdict["sentence"] == "Dropped by hatoba: isolation between networks sample and other."
    assert any('comment "ISOLATION"' in line for line in verdict["evidence"])


def test_a_port_nobody_listens_on(sb: Sandbox) -> None:
    verdict = explain(sb, "--from", "s1", "--to", "web:81")
    assert verdict["sentence"] == "Refused: nothing listens on 81/tcp in web."
    assert any(line.startswith("TCP reset from ") for line in verdict["evidence"])
    assert "kernel: NO_SOCKET in tcp_v4_rcv" in verdict["evidence"]  # tracefs on this kernel


def test_a_host_table_that_drops_forwarding(sb: Sandbox) -> None:
    table = "add table inet filter; add chain inet filter forward { type filter hook forward priority 0; policy drop; }"  # noqa: E501
    sb.sh(["nft", table])
    try:
        verdict = explain(sb, "--from", "s1", "--to", INTERNET)
    finally:
        sb.sh(["nft", "delete table inet filter"])
    assert verdict["sentence"] == (
        "Dropped by the host's firewall: table inet filter, chain forward has policy drop."
    )
    assert "rule: inet filter forward policy drop" in verdict["evidence"]
    # the same words the host-firewall check writes in `hatoba info`
    assert "accept hatoba's bridges in it" in verdict["suggestions"][0]


def test_an_unknown_name_says_where_the_name_exists(sb: Sandbox) -> None:
    verdict = explain(sb, "--from", "o1", "--to", "www:80")
    assert verdict["outcome"] == "not-sent"
    assert verdict["sentence"] == (
        "Not sent: www does not resolve in o1: www is a name on sample, and o1 is on none of them."
    )
    verdict = explain(sb, "--from", "s1", "--to", "nowhere")
    assert "no container, alias or name on any network is called so" in verdict["sentence"]


@pytest.mark.parametrize(
    ("source", "target", "sentence"),
    [
        ("s1", "www:80", "Delivered: web answered on 80/tcp."),
        ("s1", INTERNET, f"Delivered: {INTERNET} answered the ping."),
        (
            "host",
            f"{HOST_UPLINK}:8000",
            "Delivered: web answered on 80/tcp (published on 203.0.113.1:8000, DNAT to {web}:80).",
        ),
        ("s1", "host", "Delivered: the host ({gateway}) answered the ping."),
    ],
)
def test_delivered(sb: Sandbox, source: str, target: str, sentence: str) -> None:
    web = address(sb, "web", "sample")
    gateway = ".".join(web.split(".")[:3]) + ".1"
    verdict = explain(sb, "--from", source, "--to", target)
    assert verdict["sentence"] == sentence.format(web=web, gateway=gateway)
    text = sb.hatoba("explain", "--from", source, "--to", target).stdout
    assert text.splitlines()[0] == verdict["sentence"]


def test_from_outside_to_a_published_port_waits_for_the_client(sb: Sandbox) -> None:
    argv = [*sb.hatoba_argv, "explain", "--from", CLIENT, "--to", f"{HOST_UPLINK}:8000"]
    proc = sb.popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    assert proc.stderr.readline().startswith("waiting for tcp")
    sb.sh(["busybox", "wget", "-qO-", f"http://{HOST_UPLINK}:8000/"], ns=sb.outside, check=False)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    web = address(sb, "web", "sample")
    assert out.splitlines()[0] == (
        f"Delivered: web answered on 80/tcp (published on {HOST_UPLINK}:8000, DNAT to {web}:80)."
    )
