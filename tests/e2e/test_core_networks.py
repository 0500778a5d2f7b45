"""Network creation against the host it finds: MTU of the uplink, pools around host routes."""

from __future__ import annotations

import json

import pytest

from hatoba.testing import Sandbox

pytestmark = pytest.mark.root


def _mtu(sb: Sandbox, ifname: str, ns: object = None) -> int:
    out = sb.sh(["ip", "-j", "link", "show", ifname], ns=ns).stdout  # type: ignore[arg-type]
    return int(json.loads(out)[0]["mtu"])


def test_mtu_follows_the_uplink_and_the_option() -> None:
    with Sandbox(with_outside=True, uplink_mtu=1400) as sb:
        sb.hatoba("run", "-d", "--name", "c1", "hostfs", "sleep", "inf")
        assert _mtu(sb, "hatoba0") == 1400
        inspect = json.loads(sb.hatoba("network", "inspect", "bridge").stdout)[0]
        assert inspect["Options"]["com.docker.network.driver.mtu"] == "1400"
        assert "mtu 1400" in sb.hatoba("exec", "c1", "ip", "link", "show", "eth0").stdout
        sb.hatoba(
            "network",
            "create",
            "-o",
            "com.docker.network.driver.mtu=1300",
            "-o",
            "com.docker.network.bridge.name=mybr0",
            "small",
        )
        assert _mtu(sb, "mybr0") == 1300
        sb.hatoba("run", "-d", "--name", "c2", "--net", "small", "hostfs", "sleep", "inf")
        assert "mtu 1300" in sb.hatoba("exec", "c2", "ip", "link", "show", "eth0").stdout


def test_pools_skip_host_routes() -> None:
    with Sandbox() as sb:
        # a VPN-like route over 172.17/16 and an address in 172.18/16 on the host
        sb.sh(["ip", "link", "add", "vpn0", "type", "veth", "peer", "name", "vpn1"])
        sb.sh(["ip", "addr", "add", "172.18.5.1/24", "dev", "vpn0"])
        sb.sh(["ip", "link", "set", "vpn0", "up"])
        sb.sh(["ip", "route", "add", "172.17.0.0/16", "dev", "vpn0"])
        bridge = json.loads(sb.hatoba("network", "inspect", "bridge").stdout)[0]
        assert bridge["IPAM"]["Config"] == [{"Subnet": "172.19.0.0/16"}]
        sb.hatoba("network", "create", "next")
        nxt = json.loads(sb.hatoba("network", "inspect", "next").stdout)[0]
        assert nxt["IPAM"]["Config"][0]["Subnet"] == "172.20.0.0/16"
        r = sb.hatoba("network", "create", "--subnet", "172.18.0.0/16", "clash", check=False)
        assert r.returncode == 1
        assert "Pool overlaps with other one on this address space" in r.stderr


def test_a_network_made_again_right_after_its_removal() -> None:
    """`network rm` answers before the kernel has deleted the bridge; a create of the same
    name, subnet and bridge name right after it waits for that and works."""
    with Sandbox() as sb:
        create = ["network", "create", "--subnet", "10.77.0.0/24"]
        create += ["-o", "com.docker.network.bridge.name=again0", "again"]
        sb.hatoba(*create)
        hatoba = " ".join(sb.hatoba_argv)
        again = f"{hatoba} network rm again && {hatoba} {' '.join(create)}"
        sb.sh(["sh", "-c", f"{again} && {again}"])
        sb.hatoba("run", "-d", "--name", "c1", "--net", "again", "hostfs", "sleep", "inf")
        sb.hatoba("exec", "c1", "ping", "-c", "1", "-W", "2", "10.77.0.1")
        links = json.loads(sb.sh(["ip", "-j", "link", "show", "type", "bridge"]).stdout)
        assert [link["ifname"] for link in links if link["ifname"] == "again0"] == ["again0"]


def test_a_full_bridge_says_so_and_leaves_nothing() -> None:
    """The kernel numbers a bridge's ports in 10 bits: the 1024th interface is refused."""
    with Sandbox() as sb:
        sb.hatoba("network", "create", "-o", "com.docker.network.bridge.name=fullbr", "small")
        batch = sb.dir / "fill"
        batch.write_text(
            "".join(
                f"link add fx{i} type veth peer name fy{i}\nlink set fx{i} master fullbr\n"
                for i in range(1023)
            )
        )
        sb.sh(["ip", "-batch", str(batch)])
        links = sb.sh(["ip", "-o", "link"]).stdout
        r = sb.hatoba("run", "-d", "--name", "one", "--net", "small", "hostfs", "true", check=False)
        assert r.returncode == 125
        assert "failed to create endpoint one on network small: adding interface veth" in r.stderr
        assert "to bridge fullbr failed: exchange full" in r.stderr
        assert sb.hatoba("ps", "-aq").stdout == ""
        assert sb.sh(["ip", "-o", "link"]).stdout == links
        sb.sh(["ip", "link", "del", "fx0"])  # a port free again
        sb.hatoba("run", "-d", "--name", "one", "--net", "small", "hostfs", "true")
