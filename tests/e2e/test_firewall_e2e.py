"""hatoba's firewall through the CLI: outbound NAT, published ports, isolation, repair.

Every test runs the real service in a sandbox with an outside world (client 203.0.113.150,
host 203.0.113.1, "internet" 198.51.100.10). Servers are tests/fixtures/fw_peer.py: each
connection or datagram is answered with the source address the server saw, so every
reachability check is also a check of the address the container saw.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from fixtures.fw_probe import (
    BLOCKED,
    GATEWAY,
    PEER,
    PY,
    Target,
    Where,
    address,
    frames_heard,
    idle,
    probe,
    probe_all,
    serve,
)
from fixtures.processes import kill_unsupervised, wait_gone
from hatoba.testing import Sandbox
from hatoba.testing.sandbox import CLIENT, HOST_UPLINK, INTERNET

pytestmark = pytest.mark.root


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    with Sandbox(with_outside=True) as sandbox:
        yield sandbox


# --- helpers ----------------------------------------------------------------------------------


def inspect(sb: Sandbox, name: str, kind: str = "container") -> dict[str, Any]:
    return json.loads(sb.hatoba(kind, "inspect", name).stdout)[0]  # type: ignore[no-any-return]


def gateway(sb: Sandbox, network: str) -> str:
    return str(inspect(sb, network, "network")["IPAM"]["Config"][0]["Gateway"])


def sysctl(sb: Sandbox, key: str) -> str:
    """`key` (as under /proc/sys) in the sandbox's host namespace."""
    return sb.sh(["cat", f"/proc/sys/{key}"]).stdout.strip()


def seen(sb: Sandbox, name: str) -> list[str]:
    """The "proto address" lines a fw_peer server in a container printed."""
    log = sb.hatoba("logs", name).stdout.splitlines()
    return [line.removeprefix("seen ") for line in log if line.startswith("seen ")]


def ruleset(sb: Sandbox) -> str:
    return sb.sh(["nft", "list", "ruleset"]).stdout


def tables(sb: Sandbox) -> list[object]:
    """hatoba's tables, without handles, set elements in order: equal when they hold the same."""
    listing = json.loads(sb.sh(["nft", "-j", "list", "ruleset"]).stdout)["nftables"]
    out = []
    for obj in listing:
        ((kind, body),) = obj.items()
        if kind == "metainfo" or body.get("table", body.get("name")) != "hatoba":
            continue
        body = {k: v for k, v in body.items() if k != "handle"}
        if "elem" in body:
            body["elem"] = sorted(body["elem"], key=lambda e: json.dumps(e, sort_keys=True))
        out.append({kind: body})
    return sorted(out, key=lambda o: json.dumps(o, sort_keys=True))


def failed_run(sb: Sandbox, *argv: str) -> subprocess.CompletedProcess[str]:
    result = sb.hatoba("run", "-d", *argv, check=False)
    assert result.returncode == 125, result
    return result


# --- outbound -------------------------------------------------------------------------------


def test_containers_reach_the_internet_from_the_hosts_address(sb: Sandbox) -> None:
    assert sb.outside is not None
    # count echo requests by source in the outside world
    counter = "table ip seen {\n chain input {\n type filter hook input priority 0\n"
    counter += f" ip saddr {HOST_UPLINK} icmp type echo-request counter\n }}\n}}\n"
    sb.sh(["nft", "-f", "-"], ns=sb.outside, input=counter)
    sb.popen([PY, PEER, "serve", "80"], ns=sb.outside, stdout=subprocess.DEVNULL)
    sb.hatoba("network", "create", "sample")
    idle(sb, "c1")
    idle(sb, "s1", "--net", "sample")
    time.sleep(0.2)  # the outside server binds
    for name in ("c1", "s1"):
        assert probe(sb, name, ("tcp", INTERNET, 80), ("udp", INTERNET, 80)) == [HOST_UPLINK] * 2
        ping = sb.hatoba("exec", name, "ping", "-c", "2", "-W", "2", INTERNET)
        assert "2 received" in ping.stdout
    listing = sb.sh(["nft", "list", "table", "ip", "seen"], ns=sb.outside).stdout
    assert "counter packets 4 " in listing  # the 4 echo requests came from 203.0.113.1
    assert sb.sh(["sysctl", "-n", "net.ipv4.ip_forward"]).stdout.strip() == "1"


def test_mss_is_clamped_when_a_network_mtu_exceeds_the_uplinks() -> None:
    with Sandbox(with_outside=True, uplink_mtu=1280) as sb:
        sink = sb.popen([PY, PEER, "sink", "9000"], ns=sb.outside, stdout=subprocess.PIPE)
        assert sink.stdout is not None and sink.stdout.readline().strip() == b"ready"
        sb.hatoba("network", "create", "-o", "com.docker.network.driver.mtu=1500", "big")
        idle(sb, "c1", "--net", "big")
        dump = sb.popen(
            ["tcpdump", "-lni", "eth0", "-c", "1", "tcp[tcpflags] & tcp-syn != 0 and port 9000"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(0.5)  # tcpdump attaches
        size = 1 << 20
        sent = sb.hatoba("exec", "c1", PY, PEER, "send", INTERNET, "9000", str(size))
        assert sent.stdout.strip() == str(size)
        syn = dump.communicate(timeout=10)[0].decode()
        # the container offered 1460 (MTU 1500); the uplink allows 1280 - 40
        assert "[mss 1240," in syn, syn


# --- publishing -----------------------------------------------------------------------------


def test_a_published_port_from_everywhere_with_the_real_client_address(sb: Sandbox) -> None:
    serve(sb, "web", "-p", "8000:80", "-p", "8000:80/udp", "-p", "8002:80")
    sb.hatoba("network", "create", "other")
    idle(sb, "neighbour")
    idle(sb, "stranger", "--net", "other")
    web, neighbour = address(sb, "web"), address(sb, "neighbour")
    stranger = address(sb, "stranger", "other")
    results = probe_all(
        sb,
        {
            sb.outside: [
                ("tcp", HOST_UPLINK, 8000),
                ("udp", HOST_UPLINK, 8000),
                ("tcp", HOST_UPLINK, 8002),
            ],
            None: [
                ("tcp", HOST_UPLINK, 8000),
                ("tcp", "127.0.0.1", 8000),
                ("udp", "127.0.0.1", 8000),
                ("tcp", GATEWAY, 8000),
            ],
            "neighbour": [("tcp", HOST_UPLINK, 8000), ("udp", HOST_UPLINK, 8000)],
            "stranger": [("tcp", HOST_UPLINK, 8000), ("tcp", web, 80)],
            "web": [("tcp", HOST_UPLINK, 8000)],
        },
    )
    # an outside client keeps its address: the container sees 203.0.113.150
    assert results[sb.outside] == [CLIENT] * 3
    # the host by an address of its own keeps it; by 127.0.0.1 it is masqueraded
    assert results[None] == [HOST_UPLINK, GATEWAY, GATEWAY, GATEWAY]
    # hairpin on the same network keeps the neighbour's address
    assert results["neighbour"] == [neighbour] * 2
    # another network reaches the published port (not the container itself), unmasked
    assert results["stranger"] == [stranger, BLOCKED]
    # a container reaching itself through its own published port (masqueraded, as Docker)
    assert results["web"] == [GATEWAY]
    assert f"tcp {CLIENT}" in seen(sb, "web") and f"udp {CLIENT}" in seen(sb, "web")
    # held on both families, as Docker shows it
    assert sb.hatoba("port", "web").stdout == (
        "80/tcp -> 0.0.0.0:8000\n80/tcp -> :::8000\n80/tcp -> 0.0.0.0:8002\n"
        "80/tcp -> :::8002\n80/udp -> 0.0.0.0:8000\n80/udp -> :::8000\n"
    )


def test_random_ranges_publish_all_and_what_port_and_ps_show(sb: Sandbox) -> None:
    serve(sb, "rnd", "-p", "80", "-p", "127.0.0.1::80/udp")
    serve(sb, "ranged", "-p", "8100-8101:80-81")
    serve(sb, "all", "-P", "--expose", "80", "--expose", "81/udp")
    rnd = sb.hatoba("port", "rnd").stdout.splitlines()
    assert [line.rsplit(":", 1)[0] for line in rnd] == [
        "80/tcp -> 0.0.0.0",
        "80/tcp -> ::",
        "80/udp -> 127.0.0.1",
    ]
    tcp_port = int(rnd[0].rsplit(":", 1)[1])
    assert rnd[1] == f"80/tcp -> :::{tcp_port}"  # one number for both families
    assert sb.hatoba("port", "ranged").stdout == (
        "80/tcp -> 0.0.0.0:8100\n80/tcp -> :::8100\n81/tcp -> 0.0.0.0:8101\n81/tcp -> :::8101\n"
    )
    every = sb.hatoba("port", "all").stdout.splitlines()
    assert [line.split(" -> ")[0] for line in every] == ["80/tcp", "80/tcp", "81/udp", "81/udp"]
    all_tcp = int(every[0].rsplit(":", 1)[1])
    assert probe(
        sb,
        sb.outside,
        ("tcp", HOST_UPLINK, tcp_port),
        ("tcp", HOST_UPLINK, 8100),
        ("tcp", HOST_UPLINK, all_tcp),
    ) == [CLIENT, CLIENT, CLIENT]
    ps = sb.hatoba("ps", "--format", "{{.Names}} {{.Ports}}").stdout.splitlines()
    assert f"rnd 0.0.0.0:{tcp_port}->80/tcp, 127.0.0.1:" in "\n".join(ps)
    assert f":::{tcp_port}->80/tcp" in "\n".join(ps)
    assert (
        "ranged 0.0.0.0:8100->80/tcp, :::8100->80/tcp, 0.0.0.0:8101->81/tcp, :::8101->81/tcp" in ps
    )
    # the ports are the container's while it runs, and given back when it stops
    sb.hatoba("stop", "-t", "0", "ranged")
    assert sb.hatoba("port", "ranged").stdout == ""
    assert probe(sb, sb.outside, ("tcp", HOST_UPLINK, 8100)) == ["ERROR Connection refused"]
    sb.hatoba("start", "ranged")
    assert "80/tcp -> 0.0.0.0:8100" in sb.hatoba("port", "ranged").stdout


def test_a_port_on_127_0_0_1_is_the_hosts_alone(sb: Sandbox) -> None:
    serve(sb, "local", "-p", "127.0.0.1:8001:80")
    assert probe(sb, None, ("tcp", "127.0.0.1", 8001)) == [GATEWAY]
    assert probe(sb, sb.outside, ("tcp", HOST_UPLINK, 8001)) == ["ERROR Connection refused"]
    # a neighbour that routes 127.0.0.1 to us (moby#45610) gets nothing through
    out = sb.outside
    assert out is not None
    sb.sh(["ip", "route", "del", "local", "127.0.0.0/8", "table", "local"], ns=out)
    sb.sh(["ip", "route", "del", "local", "127.0.0.1", "table", "local"], ns=out)
    sb.sh(["sysctl", "-qw", "net.ipv4.conf.uplink.route_localnet=1"], ns=out)
    sb.sh(["ip", "route", "add", "127.0.0.1/32", "via", HOST_UPLINK], ns=out)
    assert probe(sb, out, ("tcp", "127.0.0.1", 8001)) == [BLOCKED]
    assert seen(sb, "local") == [f"tcp {GATEWAY}"]


def test_a_taken_host_port_is_refused_and_the_run_leaves_nothing(sb: Sandbox) -> None:
    serve(sb, "web", "-p", "8000:80")
    before, containers = tables(sb), sb.hatoba("ps", "-aq").stdout
    taken = failed_run(sb, "--name", "late", "-p", "8001:81", "-p", "8000:80", "hostfs", "true")
    assert taken.stderr.startswith(
        "hatoba: Error response from daemon: driver failed programming external connectivity "
        "on endpoint late ("
    )
    assert taken.stderr.rstrip().endswith(
        "): Bind for 0.0.0.0:8000 failed: port is already allocated."
    )
    holder = sb.popen(
        [
            PY,
            "-c",
            "import socket,time; s=socket.socket(); s.bind(('0.0.0.0', 8003)); "
            "s.listen(); print('ready', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
    )
    assert holder.stdout is not None and holder.stdout.readline() == b"ready\n"
    busy = failed_run(sb, "--name", "busy", "-p", "8003:80", "hostfs", "true")
    assert busy.stderr.rstrip().endswith(
        "Error starting userland proxy: listen tcp4 0.0.0.0:8003: bind: address already in use."
    )
    holder.kill()
    holder.wait()
    assert sb.hatoba("ps", "-aq").stdout == containers
    assert tables(sb) == before
    # and the ports the failed runs wanted are free: 8001 was given back
    serve(sb, "again", "-p", "8001:80", "-p", "8003:81")


def test_udp_flows_follow_a_replaced_container(sb: Sandbox) -> None:
    """A client that keeps sending from one port reaches the new container, not the old."""
    serve(sb, "old", "-p", "5353:53/udp", port=53)
    client = (
        "import socket,sys; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
        "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('', 40000)); "
        f"s.settimeout(1); s.sendto(b'?', ('{HOST_UPLINK}', 5353)); "
        "print(s.recv(100).decode())"
    )

    def ask() -> str:
        return sb.sh([PY, "-c", client], ns=sb.outside, check=False).stdout.strip()

    assert ask() == CLIENT
    sb.hatoba("rm", "-f", "old")
    serve(sb, "new", "-p", "5353:53/udp", port=53)
    assert ask() == CLIENT
    assert seen(sb, "new") == [f"udp {CLIENT}"]


# --- isolation and internal networks -------------------------------------------------------


def test_networks_are_isolated_pairwise_for_icmp_tcp_and_udp(sb: Sandbox) -> None:
    names = ("n0", "n1", "n2")
    for name in names:
        sb.hatoba("network", "create", name)
        serve(sb, f"c-{name}", "--net", name)
    idle(sb, "mate", "--net", "n0")
    ips = {name: address(sb, f"c-{name}", name) for name in names}
    plan: dict[Where, list[Target]] = {
        f"c-{name}": [
            (proto, ips[other], 80)
            for other in names
            if other != name
            for proto in ("icmp", "tcp", "udp")
        ]
        for name in names
    }
    plan["mate"] = [("icmp", ips["n0"], 0), ("tcp", ips["n0"], 80), ("udp", ips["n0"], 80)]
    results = probe_all(sb, plan)
    for name in names:
        assert results[f"c-{name}"] == [BLOCKED] * 6, name
    mate = address(sb, "mate", "n0")
    assert results["mate"] == ["ok", mate, mate]


def test_internal_networks_and_disabled_icc(sb: Sandbox) -> None:
    sb.popen([PY, PEER, "serve", "80"], ns=sb.outside, stdout=subprocess.DEVNULL)
    sb.hatoba("network", "create", "--internal", "secret")
    sb.hatoba("network", "create", "-o", "com.docker.network.bridge.enable_icc=false", "quiet")
    before, containers = ruleset(sb), sb.hatoba("ps", "-aq").stdout
    refused = failed_run(sb, "--net", "secret", "-p", "8000:80", "hostfs", "true")
    assert refused.stderr == (
        "hatoba: Error response from daemon: cannot publish ports on internal network secret: "
        "it has no connectivity outside the network.\n"
        "See 'hatoba run --help'.\n"
    )
    assert (ruleset(sb), sb.hatoba("ps", "-aq").stdout) == (before, containers)
    serve(sb, "i1", "--net", "secret")
    idle(sb, "i2", "--net", "secret")
    serve(sb, "q1", "--net", "quiet")
    idle(sb, "q2", "--net", "quiet")
    i1, i2, q1 = (
        address(sb, "i1", "secret"),
        address(sb, "i2", "secret"),
        address(sb, "q1", "quiet"),
    )
    results = probe_all(
        sb,
        {
            "i2": [("tcp", INTERNET, 80), ("icmp", INTERNET, 0), ("tcp", i1, 80)],
            "q2": [("tcp", q1, 80), ("icmp", q1, 0), ("tcp", INTERNET, 80)],
        },
    )
    assert results["i2"] == [BLOCKED, BLOCKED, i2]
    assert results["q2"] == [BLOCKED, BLOCKED, HOST_UPLINK]
    masq = sb.sh(["nft", "list", "set", "inet", "hatoba", "masq_subnets"]).stdout
    assert masq.count('comment "secret"') == 0 and 'comment "quiet"' in masq


def test_an_internal_network_reaches_no_address_of_the_host(sb: Sandbox) -> None:
    host_service = sb.popen([PY, PEER, "serve", "80"], stdout=subprocess.PIPE)
    assert host_service.stdout is not None and host_service.stdout.readline() == b"ready\n"
    sb.hatoba("network", "create", "--internal", "secret")
    sb.hatoba("network", "create", "sample")
    idle(sb, "inside", "--net", "secret")
    idle(sb, "outside", "--net", "sample")
    # the host's addresses: its uplink, and the gateways of this and the other networks
    addresses = [HOST_UPLINK, GATEWAY, *(gateway(sb, net) for net in ("secret", "sample"))]
    asks = [("tcp", addr, 80) for addr in addresses] + [("icmp", addr, 0) for addr in addresses]
    results = probe_all(sb, {"inside": asks, "outside": asks})
    assert results["inside"] == [BLOCKED] * 8
    assert results["outside"] == [address(sb, "outside", "sample")] * 4 + ["ok"] * 4
    # the host still reaches the internal network's containers
    assert probe(sb, None, ("icmp", address(sb, "inside", "secret"), 0)) == ["ok"]


# --- IPv6: router advertisements and sources -------------------------------------------------


def test_no_router_advertisement_or_forged_ipv6_source_reaches_a_neighbour(sb: Sandbox) -> None:
    """CVE-2020-13401: a container with CAP_NET_RAW sends a router advertisement (and an IPv6
    packet from a forged link-local address) to every container on its bridge."""
    sb.hatoba("network", "create", "sample")
    idle(sb, "attacker", "--net", "sample")
    victim_ns = sb.run_root / "netns" / idle(sb, "victim", "--net", "sample").strip()
    victim = address(sb, "victim", "sample")
    attacker_mac = inspect(sb, "attacker")["NetworkSettings"]["Networks"]["sample"]["MacAddress"]

    def heard(kind: str) -> list[str]:
        return frames_heard(sb, "attacker", attacker_mac, victim_ns, victim, kind)

    assert heard("ra") == []
    assert heard("forged") == []
    learned = "".join(sb.sh(["ip", "-6", what], ns=victim_ns).stdout for what in ("r", "a"))
    assert "2001:db8" not in learned and "default" not in learned


def test_containers_bridges_and_host_veths_take_no_ipv6_advice(sb: Sandbox) -> None:
    sb.hatoba("network", "create", "sample")
    idle(sb, "c1", "--net", "sample")
    sb.hatoba("network", "connect", "bridge", "c1")
    grep = "grep -r . /proc/sys/net/ipv6/conf --include=disable_ipv6 --include=accept_ra"
    listing = sb.hatoba("exec", "c1", "sh", "-c", grep).stdout.splitlines()
    inside = dict(line.split("/conf/")[1].split(":") for line in listing)
    for iface in ("default", "eth0", "eth1"):
        assert (inside[f"{iface}/disable_ipv6"], inside[f"{iface}/accept_ra"]) == ("1", "0")
    # lo keeps ::1, the address /etc/hosts gives localhost; no interface has another
    addresses = sb.hatoba("exec", "c1", "ip", "-6", "-o", "addr").stdout.splitlines()
    assert [line.split()[1:4] for line in addresses] == [["lo", "inet6", "::1/128"]]
    # the host side: bridges ignore router advertisements, the veth ends have no IPv6
    bridge = f"br-{inspect(sb, 'sample', 'network')['Id'][:12]}"
    for iface in (bridge, "hatoba0"):
        assert sysctl(sb, f"net/ipv6/conf/{iface}/accept_ra") == "0"
    links = sb.sh(["ip", "-o", "link", "show", "type", "veth"]).stdout.splitlines()
    veths = [line.split(": ")[1].split("@")[0] for line in links if "alias hatoba:" in line]
    assert len(veths) == 2
    for veth in veths:
        assert sysctl(sb, f"net/ipv6/conf/{veth}/disable_ipv6") == "1"


# --- repair, restart, reset ------------------------------------------------------------------


def test_a_flushed_ruleset_is_back_within_a_second(sb: Sandbox) -> None:
    serve(sb, "web", "-p", "8000:80")
    before = tables(sb)
    for damage in (["nft", "flush", "ruleset"], ["nft", "delete", "table", "inet", "hatoba"]):
        sb.sh(damage)
        start = time.monotonic()
        while tables(sb) != before:
            assert time.monotonic() - start < 1.0, f"not restored after {damage}"
            time.sleep(0.02)
        assert probe(sb, sb.outside, ("tcp", HOST_UPLINK, 8000)) == [CLIENT]


def test_changes_to_our_tables_are_undone_and_reload_rebuilds_from_the_records(
    sb: Sandbox,
) -> None:
    serve(sb, "web", "-p", "8000:80")
    before = tables(sb)
    # a stray mapping and a rule inserted into our chain: gone again within a second
    stray = "add element inet hatoba dnat_any_addr { tcp . 9999 : 172.17.0.99 }\n"
    stray += "add element inet hatoba dnat_any_port { tcp . 9999 : 80 }\n"
    stray += "insert rule inet hatoba forward tcp dport 80 drop\n"
    sb.sh(["nft", "-f", "-"], input=stray)
    deadline = time.monotonic() + 1.0
    while tables(sb) != before:
        assert time.monotonic() < deadline, "the watcher left someone's change in our tables"
        time.sleep(0.05)
    assert probe(sb, sb.outside, ("tcp", HOST_UPLINK, 8000)) == [CLIENT]
    sb.hatoba("system", "firewall-reload")
    assert tables(sb) == before


def test_after_a_crash_the_tables_match_the_records(sb: Sandbox) -> None:
    serve(sb, "web", "-p", "8000:80")
    serve(sb, "doomed", "-p", "8001:80", "-p", "8001:80/udp")
    doomed_pid = json.loads(sb.hatoba("inspect", "doomed").stdout)[0]["State"]["Pid"]
    pid = kill_unsupervised(sb)
    os.kill(doomed_pid, signal.SIGKILL)  # dies while nobody watches
    wait_gone(doomed_pid, seconds=4)
    # the next command starts the service again
    assert "Exited" in sb.hatoba("ps", "-a", "--filter", "name=doomed").stdout
    assert sb.service_pid() != pid
    listing = sb.sh(["nft", "list", "table", "inet", "hatoba"]).stdout
    assert "8001" not in listing and "tcp . 8000" in listing
    synced = tables(sb)
    sb.hatoba("system", "firewall-reload")
    assert tables(sb) == synced  # what the records make, exactly
    assert probe(sb, sb.outside, ("tcp", HOST_UPLINK, 8000)) == [CLIENT]
    # the new service holds web's port again and none of doomed's
    failed_run(sb, "--name", "thief", "-p", "8000:80", "hostfs", "true")
    serve(sb, "heir", "-p", "8001:80")


def test_reset_leaves_the_ruleset_as_it_was(sb: Sandbox) -> None:
    empty = ruleset(sb)
    sb.hatoba("network", "create", "sample")
    serve(sb, "web", "-p", "8000:80", "--net", "sample")
    idle(sb, "c1")
    assert "table inet hatoba" in ruleset(sb)
    sb.hatoba("system", "reset", "-f")
    assert ruleset(sb) == empty == ""
