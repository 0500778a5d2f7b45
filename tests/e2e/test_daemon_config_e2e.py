"""`<root>/daemon.json` through the CLI in a sandbox: what is in force shown by `hatoba info`
and found in the kernel (the default bridge's addresses of both families, range and MTU, new
networks from the pools of both families, icc off in the bridge table, the resolvers in a
container); a bad file refuses to start with its key and reason."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from hatoba.testing import Sandbox

pytestmark = pytest.mark.root

CONFIG = {
    "default-address-pools": [
        {"base": "10.10.0.0/16", "size": 24},
        {"base": "fd00:10::/48", "size": 64},
    ],
    "bip": "10.99.0.1/24",
    "fixed-cidr": "10.99.0.128/25",
    "ipv6": True,
    "fixed-cidr-v6": "fd00:99::/64",
    "mtu": 1400,
    "icc": False,
    "ip-masq": True,
    "dns": ["192.0.2.53"],
    "dns-search": ["corp.example"],
}


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with Sandbox() as sb:
        sb.root.mkdir(mode=0o700)
        (sb.root / "daemon.json").write_text(json.dumps(CONFIG))
        yield sb


def test_info_shows_what_is_in_force(sb: Sandbox) -> None:
    info = sb.hatoba("info").stdout
    assert f" Config File: {sb.root / 'daemon.json'}\n" in info
    pools = "   Base: 10.10.0.0/16, Size: 24\n   Base: fd00:10::/48, Size: 64\n"
    assert f" Default Address Pools:\n{pools}" in info
    assert (
        " Default Bridge: bip=10.99.0.1/24, fixed-cidr=10.99.0.128/25, "
        "fixed-cidr-v6=fd00:99::/64, mtu=1400, ip-masq=true, icc=false\n"
    ) in info
    assert " DNS: 192.0.2.53\n DNS Search: corp.example\n IPv6: true\n" in info
    pools = json.loads(sb.hatoba("info", "--format", "{{json .DefaultAddressPools}}").stdout)
    assert pools == [{"Base": "10.10.0.0/16", "Size": 24}, {"Base": "fd00:10::/48", "Size": 64}]


def test_the_default_bridge_and_new_networks_in_the_kernel(sb: Sandbox) -> None:
    bridge = sb.sh(["ip", "-o", "addr", "show", "hatoba0"]).stdout
    assert " 10.99.0.1/24 " in bridge and " fd00:99::1/64 " in bridge
    assert " mtu 1400 " in sb.sh(["ip", "-o", "link", "show", "hatoba0"]).stdout
    nid = sb.hatoba("network", "create", "pooled").stdout.strip()
    pooled = sb.sh(["ip", "-o", "addr", "show", f"br-{nid[:12]}"]).stdout
    # "ipv6" is the default bridge's alone: a user-defined network asks with --ipv6
    assert " 10.10.0.1/24 " in pooled and " inet6 fd" not in pooled
    nid6 = sb.hatoba("network", "create", "--ipv6", "pooled6").stdout.strip()
    pooled6 = sb.sh(["ip", "-o", "addr", "show", f"br-{nid6[:12]}"]).stdout
    assert " 10.10.1.1/24 " in pooled6 and " fd00:10::1/64 " in pooled6
    sb.hatoba("run", "-d", "--name", "c1", "hostfs", "sleep", "1d")
    inside = sb.hatoba("exec", "c1", "ip", "-o", "addr", "show", "eth0").stdout
    # the first address of fixed-cidr Docker hands out (not the range's own network address)
    assert " 10.99.0.129/24 " in inside and " fd00:99::2/64 " in inside
    ping = ["ping", "-6", "-c", "1", "-W", "2", "fd00:99::1"]
    assert sb.hatoba("exec", "c1", *ping, check=False).returncode == 0
    resolv = sb.hatoba("exec", "c1", "cat", "/etc/resolv.conf").stdout
    assert "nameserver 192.0.2.53\n" in resolv and "search corp.example\n" in resolv
    veth = json.loads(sb.hatoba("inspect", "c1").stdout)[0]["Id"]
    no_icc = sb.sh(["nft", "-j", "list", "set", "bridge", "hatoba", "no_icc_ports"]).stdout
    links = sb.sh(["ip", "-d", "-j", "link", "show", "master", "hatoba0"]).stdout
    (port,) = [link["ifname"] for link in json.loads(links) if veth in link.get("ifalias", "")]
    assert port in no_icc


@pytest.mark.parametrize(
    ("config", "reason"),
    [
        ({"bip": "10.99.0.0/24"}, '"bip": 10.99.0.0/24: the bridge\'s own address with the '
         "subnet's prefix length"),
        ({"fixed-cidr-v6": "fd00::/64"}, '"fixed-cidr-v6": the default bridge\'s IPv6 subnet '
         'needs "ipv6": true'),
        ({"log-driver": "journald"}, "the following directives don't match any configuration "
         "option: log-driver"),
    ],
    ids=["bip", "fixed-cidr-v6", "unknown"],
)  # fmt: skip
def test_a_bad_file_refuses_to_start_with_the_key_and_reason(
    config: dict[str, object], reason: str
) -> None:
    with Sandbox() as sb:
        sb.root.mkdir(mode=0o700)
        path = sb.root / "daemon.json"
        path.write_text(json.dumps(config))
        refused = sb.hatoba("network", "ls", check=False)
        assert refused.returncode == 1
        assert (
            f"hatoba service: unable to configure hatoba with file {path}: {reason}\n"
        ) in refused.stderr
        assert sb.service_pid() is None
