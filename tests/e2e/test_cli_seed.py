"""The seed walkthrough through the CLI and a real service in a sandbox: the default bridge,
a user-defined bridge with names, `--net host`, and the error texts of the reference logs."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from fixtures.busybox_images import busybox_images
from fixtures.image_sandbox import import_busybox
from hatoba.images.busybox import RootfsImage
from hatoba.testing import Sandbox

__all__ = ["busybox_images"]

pytestmark = pytest.mark.root

Images = tuple[RootfsImage, RootfsImage]
HEX64 = re.compile(r"^[0-9a-f]{64}\n$")


@pytest.fixture(scope="module")
def sb(busybox_images: Images) -> Iterator[Sandbox]:
    with Sandbox() as sandbox:
        import_busybox(sandbox, busybox_images)
        yield sandbox


def table(text: str) -> list[list[str]]:
    return [re.split(r"\s{3,}", line) for line in text.splitlines()]


def test_fresh_engine_lists_the_three_networks(sb: Sandbox) -> None:
    out = sb.hatoba("network", "ls").stdout
    rows = table(out)
    assert rows[0] == ["NETWORK ID", "NAME", "DRIVER", "SCOPE"]
    assert [r[1:] for r in rows[1:]] == [
        ["bridge", "bridge", "local"],
        ["host", "host", "local"],
        ["none", "null", "local"],
    ]
    assert all(re.fullmatch("[0-9a-f]{12}", r[0]) for r in rows[1:])
    # docker's layout: each column padded to its widest cell + 3, at least 10
    assert out.splitlines()[0] == "NETWORK ID     NAME      DRIVER    SCOPE"


def test_default_bridge_by_address_not_by_name(sb: Sandbox) -> None:
    for name in ("alpine-sample1", "alpine-sample2"):
        assert HEX64.match(sb.hatoba("run", "-itd", "--name", name, "alpine:latest").stdout)
    ifconfig = sb.hatoba("exec", "alpine-sample1", "ifconfig", "eth0").stdout
    assert "inet addr:172.17.0.2  Bcast:172.17.255.255  Mask:255.255.0.0" in ifconfig
    ping = sb.hatoba("exec", "alpine-sample1", "ping", "-c", "1", "172.17.0.3")
    assert "1 packets transmitted, 1 packets received, 0% packet loss" in ping.stdout
    fmt = (
        "{{.NetworkSettings.IPAddress}} {{range $k, $v := .NetworkSettings.Networks}}{{$k}}{{end}}"
    )
    assert sb.hatoba("inspect", "-f", fmt, "alpine-sample2").stdout == "172.17.0.3 bridge\n"
    resolv = sb.hatoba("exec", "alpine-sample1", "cat", "/etc/resolv.conf").stdout
    assert "127.0.0.11" not in resolv
    sb.hatoba("rm", "-f", "alpine-sample1", "alpine-sample2")


def test_user_defined_bridge_resolves_names(sb: Sandbox) -> None:
    created = sb.hatoba("network", "create", "sample").stdout
    assert HEX64.match(created)
    rows = table(sb.hatoba("network", "ls", "--filter", "name=sample").stdout)
    assert rows[1][:3] == [created[:12], "sample", "bridge"]
    ipam = sb.hatoba("network", "inspect", "-f", "{{json .IPAM}}", "sample").stdout
    assert ipam == (
        '{"Driver":"default","Options":{},"Config":[{"Subnet":"172.18.0.0/16",'
        '"Gateway":"172.18.0.1"}]}\n'
    )
    for name in ("s1", "s2"):
        sb.hatoba("run", "-itd", "--name", name, "--net", "sample", "alpine:latest")
    ping = sb.hatoba("exec", "s1", "ping", "-c", "1", "s2").stdout
    assert ping.startswith("PING s2 (172.18.0.3): 56 data bytes\n")
    assert sb.hatoba("exec", "s1", "cat", "/etc/resolv.conf").stdout.startswith(
        "nameserver 127.0.0.11\n"
    )
    address = sb.hatoba(
        "inspect", "-f", "{{.NetworkSettings.Networks.sample.IPAddress}}", "s1"
    ).stdout
    assert address == "172.18.0.2\n"
    names = sb.hatoba("ps", "--filter", "network=sample", "--format", "{{.Names}}").stdout
    assert sorted(names.split()) == ["s1", "s2"]


def test_user_defined_bridge_errors(sb: Sandbox) -> None:
    r = sb.hatoba("network", "create", "-d", "host", "sample", check=False)
    assert (r.returncode, r.stderr) == (
        1,
        'Error response from daemon: only one instance of "host" network is allowed\n',
    )
    r = sb.hatoba("network", "create", "sample", check=False)
    assert (r.returncode, r.stderr) == (
        1,
        "Error response from daemon: network with name sample already exists\n",
    )
    r = sb.hatoba("network", "rm", "doesnotexist", check=False)
    assert (r.returncode, r.stdout, r.stderr) == (1, "", "Error: No such network: doesnotexist\n")
    r = sb.hatoba("network", "rm", "bridge", check=False)
    assert r.returncode == 1
    assert r.stderr == (
        "Error response from daemon: bridge is a pre-defined network and cannot be removed\n"
    )
    r = sb.hatoba("run", "--rm", "--net", "doesnotexist", "alpine:latest", "true", check=False)
    assert r.returncode == 125
    assert "network doesnotexist not found" in r.stderr
    assert r.stderr.startswith("hatoba: Error response from daemon: ")


def test_connect_and_disconnect(sb: Sandbox) -> None:
    sb.hatoba("network", "create", "netb")
    sb.hatoba("run", "-itd", "--name", "b1", "--net", "netb", "alpine:latest")
    sb.hatoba("network", "connect", "--alias", "s1alias", "netb", "s1")
    assert "eth1" in sb.hatoba("exec", "s1", "ip", "-o", "addr").stdout
    nslookup = sb.hatoba("exec", "b1", "nslookup", "s1alias").stdout
    assert "Name:\ts1alias" in nslookup
    r = sb.hatoba("network", "connect", "netb", "s1", check=False)
    assert (r.returncode, r.stderr) == (
        1,
        "Error response from daemon: endpoint with name s1 already exists in network netb\n",
    )
    sb.hatoba("network", "disconnect", "netb", "s1")
    assert "eth1" not in sb.hatoba("exec", "s1", "ip", "-o", "addr").stdout
    sb.hatoba("rm", "-f", "b1")


def test_host_network(sb: Sandbox) -> None:
    sb.hatoba("run", "-d", "--name", "httpd", "--net", "host", "httpd:latest")
    host_links = sb.sh(["ip", "-o", "link"]).stdout
    container_links = sb.hatoba("exec", "httpd", "ip", "-o", "link").stdout
    assert "hatoba0" in host_links and "hatoba0" in container_links
    sb.hatoba("rm", "-f", "httpd")


def test_cleanup_and_prune(sb: Sandbox) -> None:
    removed = sb.hatoba("rm", "-f", "s1", "s2").stdout
    assert removed == "s1\ns2\n"
    assert sb.hatoba("ps", "-aq").stdout == ""
    pruned = sb.hatoba("network", "prune", "-f").stdout
    assert pruned.startswith("Deleted Networks:\n")
    assert sorted(pruned.splitlines()[1:-1]) == ["netb", "sample"]
    assert pruned.endswith("\n\n")
    assert len(table(sb.hatoba("network", "ls").stdout)) == 4
