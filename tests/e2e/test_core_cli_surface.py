"""The rest of the engine core's surface through the CLI: IPAM flags, files, info, and Docker's
error texts (reference/docker.md §2.4), each leaving nothing behind."""

from __future__ import annotations

import json

import pytest

from hatoba.testing import Sandbox

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def sb():
    with Sandbox() as sandbox:
        sandbox.hatoba("network", "create", "sample")
        sandbox.hatoba(
            "network", "create", "--subnet", "172.30.0.0/16", "--gateway", "172.30.0.254",
            "--ip-range", "172.30.9.0/24", "--label", "team=a", "fixed",
        )  # fmt: skip
        sandbox.hatoba("network", "create", "--subnet", "10.99.99.0/30", "tiny")
        sandbox.hatoba("run", "-d", "--name", "busy", "--net", "sample", "hostfs", "sleep", "inf")
        yield sandbox


def _ip(sb: Sandbox, name: str, network: str) -> str:
    out = sb.hatoba("inspect", name).stdout
    return str(json.loads(out)[0]["NetworkSettings"]["Networks"][network]["IPAddress"])


def test_ipam_flags(sb: Sandbox) -> None:
    inspect = json.loads(sb.hatoba("network", "inspect", "fixed").stdout)[0]
    assert inspect["IPAM"]["Config"] == [
        {"Subnet": "172.30.0.0/16", "IPRange": "172.30.9.0/24", "Gateway": "172.30.0.254"}
    ]
    assert inspect["Labels"] == {"team": "a"}
    assert sb.hatoba("network", "ls", "-q", "--filter", "label=team=a").stdout.split() == [
        inspect["Id"][:12]
    ]
    sb.hatoba("run", "-d", "--name", "r1", "--net", "fixed", "hostfs", "sleep", "inf")
    assert _ip(sb, "r1", "fixed") == "172.30.9.1"  # first of the range, as Docker
    sb.hatoba("run", "-d", "--name", "f1", "--net", "fixed", "--ip", "172.30.200.50", "hostfs",
              "sleep", "inf")  # fmt: skip
    assert _ip(sb, "f1", "fixed") == "172.30.200.50"
    route = sb.hatoba("exec", "f1", "ip", "route").stdout
    assert "default via 172.30.0.254 dev eth0" in route


def test_files_of_a_container(sb: Sandbox) -> None:
    sb.hatoba("run", "-d", "--name", "files", "--net", "sample", "-h", "myhost",
              "--add-host", "foo:10.1.2.3", "--dns-search", "example.org", "hostfs",
              "sleep", "inf")  # fmt: skip
    address = _ip(sb, "files", "sample")
    hosts = sb.hatoba("exec", "files", "cat", "/etc/hosts").stdout
    assert hosts.endswith(f"10.1.2.3\tfoo\n{address}\tmyhost\n")
    assert sb.hatoba("exec", "files", "hostname").stdout == "myhost\n"
    resolv = sb.hatoba("exec", "files", "cat", "/etc/resolv.conf").stdout
    assert resolv == "search example.org\nnameserver 127.0.0.11\noptions ndots:0\n"


def test_info_and_version(sb: Sandbox) -> None:
    info = sb.hatoba("system", "info").stdout
    assert str(sb.root) in info
    version = sb.hatoba("version").stdout
    assert "1.41" in version


ERRORS = [
    (
        ["network", "create", "--subnet", "172.30.5.0/24", "ovl2"],
        1,
        "Error response from daemon: Pool overlaps with other one on this address space\n",
    ),
    (
        ["network", "create", "--subnet", "172.17.5.0/24", "ovl3"],
        1,
        "Error response from daemon: Pool overlaps with other one on this address space\n",
    ),
    (
        ["network", "create", "--subnet", "10.98.0.0/16", "--gateway", "10.97.0.1", "badgw"],
        1,
        "no matching subnet for gateway 10.97.0.1\n",  # docker's CLI checks this itself
    ),
    (
        ["network", "create", "--subnet", "10.99.98.0/31", "tiny31"],
        1,
        "Error response from daemon: failed to allocate gateway (): "
        "No available addresses on this pool\n",
    ),
    (
        ["network", "create", "-d", "null", "sample3"],
        1,
        'Error response from daemon: only one instance of "null" network is allowed\n',
    ),
    (
        ["network", "rm", "host"],
        1,
        "Error response from daemon: host is a pre-defined network and cannot be removed\n",
    ),
    (
        ["network", "rm", "none"],
        1,
        "Error response from daemon: none is a pre-defined network and cannot be removed\n",
    ),
    (
        ["run", "--rm", "--net", "bridge", "--ip", "172.17.0.50", "hostfs", "true"],
        125,
        "hatoba: Error response from daemon: user specified IP address is supported on user "
        "defined networks only.\nSee 'hatoba run --help'.\n",
    ),
    (
        ["run", "--rm", "--net", "sample", "--ip", "172.18.0.50", "hostfs", "true"],
        125,
        "hatoba: Error response from daemon: user specified IP address is supported only when "
        "connecting to networks with user configured subnets.\nSee 'hatoba run --help'.\n",
    ),
    (
        ["run", "--rm", "--net", "fixed", "--ip", "172.31.201.50", "hostfs", "true"],
        125,
        "hatoba: Error response from daemon: Invalid address 172.31.201.50: It does not belong "
        "to any of this network's subnets.\nSee 'hatoba run --help'.\n",
    ),
    (
        ["run", "--rm", "--net", "bridge", "--network-alias", "foo", "hostfs", "true"],
        125,
        None,  # docker refuses client-side: network-scoped aliases are only supported for …
    ),
    (
        ["network", "connect", "host", "busy"],
        1,
        "Error response from daemon: container cannot be disconnected from host network or "
        "connected to host network\n",
    ),
]


@pytest.mark.parametrize(("argv", "code", "stderr"), ERRORS, ids=lambda v: str(v)[:40])
def test_docker_error_texts(sb: Sandbox, argv: list[str], code: int, stderr: str | None) -> None:
    before = (sb.hatoba("ps", "-aq").stdout, sb.hatoba("network", "ls", "-q").stdout)
    r = sb.hatoba(*argv, check=False)
    assert r.returncode == code, r.stderr
    if stderr is None:
        assert "network-scoped aliases are only supported for user-defined networks" in r.stderr
    else:
        assert r.stderr == stderr
    assert (sb.hatoba("ps", "-aq").stdout, sb.hatoba("network", "ls", "-q").stdout) == before


def test_address_errors_at_start(sb: Sandbox) -> None:
    sb.hatoba("run", "-d", "--name", "t1", "--net", "tiny", "hostfs", "sleep", "inf")
    r = sb.hatoba("run", "-d", "--name", "t2", "--net", "tiny", "hostfs", "sleep", "inf",
                  check=False)  # fmt: skip
    tiny = json.loads(sb.hatoba("network", "inspect", "tiny").stdout)[0]["Id"]
    assert r.returncode == 125
    assert r.stderr == (
        "hatoba: Error response from daemon: no available IPv4 addresses on this network's "
        f"address pools: tiny ({tiny}).\n"
    )
    assert "t2" not in sb.hatoba("ps", "-a", "--format", "{{.Names}}").stdout  # nothing left
    r = sb.hatoba("run", "-d", "--name", "f2", "--net", "fixed", "--ip", "172.30.200.50",
                  "hostfs", "true", check=False)  # fmt: skip
    assert r.returncode == 125
    assert "Address already in use" in r.stderr
    r = sb.hatoba("run", "-d", "--name", "busy", "hostfs", "true", check=False)
    assert r.returncode == 125
    assert 'Conflict. The container name "/busy" is already in use by container' in r.stderr
    r = sb.hatoba("network", "rm", "sample", check=False)
    sample = json.loads(sb.hatoba("network", "inspect", "sample").stdout)[0]["Id"]
    assert r.stderr == (
        "Error response from daemon: error while removing network: network sample id "
        f"{sample} has active endpoints\n"
    )
