"""IPv6 through the CLI: dual-stack and IPv6-only networks, as Docker >= 27 makes them.

Every test runs the real service in a sandbox whose outside world is dual stack (host
2001:db8:1::1, client and router in 2001:db8:1::/64, "internet" 2001:db8:100::10, see
hatoba.testing.sandbox). Servers are tests/fixtures/fw_peer.py: each connection or datagram
is answered with the source address the server saw, so every reachability check is also a
check of the address the peer saw.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from fixtures.dns_tools import Dig, parse_dig, start_upstream, stop_upstreams
from fixtures.fw_probe import BLOCKED, PEER, PY, Where, frames_heard, idle, probe, probe_all, serve
from hatoba.model.container import link_local_for
from hatoba.testing import Sandbox
from hatoba.testing.resolver import KNOWN_ADDRESS6
from hatoba.testing.sandbox import HOST_UPLINK, HOST_UPLINK6, INTERNET6, RESOLVER6

pytestmark = pytest.mark.root

REFUSED = "ERROR Connection refused"


@pytest.fixture
def sb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    monkeypatch.setenv("HATOBA_DNS_TIMEOUT", "0.5")
    with Sandbox(with_outside=True) as sandbox:
        try:
            yield sandbox
        finally:
            stop_upstreams()


# --- helpers ----------------------------------------------------------------------------------


def inspect(sb: Sandbox, name: str, kind: str = "container") -> dict[str, Any]:
    return json.loads(sb.hatoba(kind, "inspect", name).stdout)[0]  # type: ignore[no-any-return]


def endpoint(sb: Sandbox, name: str, network: str) -> dict[str, Any]:
    return inspect(sb, name)["NetworkSettings"]["Networks"][network]  # type: ignore[no-any-return]


def v6(sb: Sandbox, name: str, network: str) -> str:
    return str(endpoint(sb, name, network)["GlobalIPv6Address"])


def gateway6(sb: Sandbox, network: str) -> str:
    configs = inspect(sb, network, "network")["IPAM"]["Config"]
    return next(str(c["Gateway"]) for c in configs if ":" in c["Subnet"])


def sysctl(sb: Sandbox, key: str, where: Where = None) -> str:
    """`key` (as under /proc/sys) on the host, or in a container."""
    if isinstance(where, str):
        return sb.hatoba("exec", where, "cat", f"/proc/sys/{key}").stdout.strip()
    return sb.sh(["cat", f"/proc/sys/{key}"]).stdout.strip()


def dig(sb: Sandbox, container: str, *args: str) -> Dig:
    out = sb.hatoba("exec", container, "dig", "+time=2", "+tries=1", *args, check=False).stdout
    return parse_dig(out)


def answers(reply: Dig, kind: str) -> list[str]:
    return sorted(a[4] for a in reply.answers if a[3] == kind)


def links(sb: Sandbox) -> list[str]:
    listing = sb.sh(["ip", "-o", "link"]).stdout.splitlines()
    return sorted(line.split(": ")[1].split("@")[0] for line in listing)


# --- networks and endpoints -------------------------------------------------------------------


def test_a_dual_stack_network_as_docker_shows_it_and_as_the_kernel_has_it(sb: Sandbox) -> None:
    sb.hatoba(
        "network", "create", "--ipv6", "--subnet", "10.10.0.0/24",
        "--subnet", "fd00:10::/64", "--gateway", "fd00:10::fe", "dual",
    )  # fmt: skip
    sb.hatoba("network", "create", "--ipv6", "auto")
    sb.hatoba("network", "create", "plain")
    dual, auto = inspect(sb, "dual", "network"), inspect(sb, "auto", "network")
    assert dual["EnableIPv6"] and auto["EnableIPv6"]
    assert not inspect(sb, "plain", "network")["EnableIPv6"]
    # what was asked shows as asked (no gateway unless given); what was chosen, with its gateway
    assert dual["IPAM"]["Config"] == [
        {"Subnet": "10.10.0.0/24"},
        {"Subnet": "fd00:10::/64", "Gateway": "fd00:10::fe"},
    ]
    assert auto["IPAM"]["Config"] == [
        {"Subnet": "172.18.0.0/16", "Gateway": "172.18.0.1"},
        {"Subnet": "fd00::/64", "Gateway": "fd00::1"},
    ]
    idle(sb, "c2", "--net", "dual")
    idle(sb, "c1", "--net", "dual", "--ip6", "fd00:10::99")
    c1, c2 = endpoint(sb, "c1", "dual"), endpoint(sb, "c2", "dual")
    assert c1["IPAMConfig"] == {"IPv6Address": "fd00:10::99"}
    picked = ("IPAddress", "IPPrefixLen", "Gateway", "GlobalIPv6Address")
    picked += ("GlobalIPv6PrefixLen", "IPv6Gateway")
    assert [c1[k] for k in picked] == [
        "10.10.0.3",
        24,
        "10.10.0.1",
        "fd00:10::99",
        64,
        "fd00:10::fe",
    ]
    # addresses from the pool in order (::1 is not the gateway here), not from the MAC
    assert c2["GlobalIPv6Address"] == "fd00:10::1" and c2["MacAddress"] == "02:42:0a:0a:00:02"
    members = inspect(sb, "dual", "network")["Containers"]
    assert {m["Name"]: m["IPv6Address"] for m in members.values()} == {
        "c1": "fd00:10::99/64",
        "c2": "fd00:10::1/64",
    }
    # the kernel: c1's eth0 has its address, its link-local one and a default route through
    # the gateway; IPv6 is on for that interface alone and takes no advice
    own = sb.hatoba("exec", "c1", "ip", "-6", "-o", "addr", "show", "dev", "eth0").stdout
    link_local = str(link_local_for(c1["MacAddress"]))
    assert [line.split()[3] for line in own.splitlines()] == ["fd00:10::99/64", f"{link_local}/64"]
    route = sb.hatoba("exec", "c1", "ip", "-6", "route", "show", "default").stdout
    assert route.startswith("default via fd00:10::fe dev eth0")
    sb.hatoba("network", "connect", "plain", "c1")
    for iface, off in (("eth0", "0"), ("eth1", "1"), ("default", "1")):
        assert sysctl(sb, f"net/ipv6/conf/{iface}/disable_ipv6", "c1") == off
        assert sysctl(sb, f"net/ipv6/conf/{iface}/accept_ra", "c1") == "0"
    assert "fd00:10::99\t" in sb.hatoba("exec", "c1", "cat", "/etc/hosts").stdout
    # the host: the bridge has both gateways, takes no advice, and IPv6 forwarding is on
    bridge = f"br-{dual['Id'][:12]}"
    addresses = sb.sh(["ip", "-o", "addr", "show", "dev", bridge]).stdout
    assert "10.10.0.1/24" in addresses and "fd00:10::fe/64" in addresses
    assert sysctl(sb, f"net/ipv6/conf/{bridge}/accept_ra") == "0"
    assert sysctl(sb, "net/ipv6/conf/all/forwarding") == "1"
    # anti-spoofing: c1's veth may send from its address and its link-local one
    owned = sb.sh(["nft", "list", "set", "bridge", "hatoba", "port_ip6s"]).stdout
    assert 'fd00:10::99 comment "c1"' in owned and f'{link_local} comment "c1"' in owned
    # dual-stack ping, TCP and UDP between the two
    assert probe(sb, "c2", ("tcp", "fd00:10::99", 80), ("icmp", "fd00:10::99", 0)) == [
        "ERROR Connection refused",
        "ok",
    ]
    serve(sb, "web", "--net", "dual")
    web = v6(sb, "web", "dual")
    assert probe(sb, "c1", ("tcp", web, 80), ("udp", web, 80), ("icmp", web, 0)) == [
        "fd00:10::99",
        "fd00:10::99",
        "ok",
    ]


def test_ipv6_reaches_the_outside_masqueraded_or_routed(sb: Sandbox) -> None:
    assert sb.outside is not None
    sb.popen([PY, PEER, "serve", "80"], ns=sb.outside, stdout=subprocess.DEVNULL)
    sb.hatoba("network", "create", "--ipv6", "dual")
    masq = "com.docker.network.bridge.enable_ip_masquerade=false"
    sb.hatoba("network", "create", "--ipv6", "--subnet", "fd00:20::/64", "-o", masq, "routed")
    sb.sh(["ip", "-6", "route", "add", "fd00:20::/64", "via", HOST_UPLINK6], ns=sb.outside)
    idle(sb, "c1", "--net", "dual")
    idle(sb, "r1", "--net", "routed")
    time.sleep(0.2)  # the outside server binds
    asks = [("tcp", INTERNET6, 80), ("udp", INTERNET6, 80), ("icmp", INTERNET6, 0)]
    seen = probe_all(sb, {"c1": asks, "r1": asks})
    assert seen["c1"] == [HOST_UPLINK6, HOST_UPLINK6, "ok"]
    assert seen["r1"] == [v6(sb, "r1", "routed")] * 2 + ["ok"]


def test_published_ports_over_ipv6_from_outside_and_from_loopback(sb: Sandbox) -> None:
    assert sb.outside is not None
    sb.hatoba("network", "create", "--ipv6", "dual")
    publish = ("8000:80", "[::1]:8001:80", "0.0.0.0:8002:80", "[::]:8003:80", "8004:80/udp")
    serve(sb, "web", "--net", "dual", *(f"-p={p}" for p in publish))
    ports = inspect(sb, "web")["NetworkSettings"]["Ports"]
    assert [(b["HostIp"], b["HostPort"]) for b in ports["80/tcp"]] == [
        ("0.0.0.0", "8000"),
        ("::", "8000"),
        ("::1", "8001"),
        ("0.0.0.0", "8002"),
        ("::", "8003"),
    ]
    outside = probe(
        sb,
        sb.outside,
        *(("tcp", HOST_UPLINK6, port) for port in (8000, 8001, 8002, 8003)),
        ("udp", HOST_UPLINK6, 8004),
        ("tcp", HOST_UPLINK, 8002),
        ("tcp", HOST_UPLINK, 8003),
    )
    # the container sees the client as it is (one of the outside's addresses), over IPv6
    assert all(a.startswith("2001:db8:1::") and a != HOST_UPLINK6 for a in outside[0:5:3]), outside
    assert outside[4].startswith("2001:db8:1::")
    assert outside[1:3] == [REFUSED, REFUSED]  # [::1] and 0.0.0.0 alone are not there
    assert outside[5].startswith("203.0.113.") and outside[6] == REFUSED
    # [::1] cannot be NATed: a proxy carries it, the container sees the bridge's gateway
    gateway = gateway6(sb, "dual")
    at_home = probe(
        sb,
        None,
        *(("tcp", "::1", port) for port in (8000, 8001, 8002, 8003)),
        ("udp", "::1", 8004),
        ("tcp", HOST_UPLINK6, 8000),
    )
    assert at_home == [gateway, gateway, REFUSED, gateway, gateway, HOST_UPLINK6]
    # another container reaches it through the host's address (hairpin), seen as itself
    idle(sb, "client", "--net", "dual")
    assert probe(sb, "client", ("tcp", HOST_UPLINK6, 8000)) == [v6(sb, "client", "dual")]
    sb.hatoba("rm", "-f", "web")
    assert probe(sb, None, ("tcp", "::1", 8000), ("tcp", "::1", 8001)) == [REFUSED, REFUSED]


def test_isolation_and_internal_networks_for_ipv6(sb: Sandbox) -> None:
    host_service = sb.popen([PY, PEER, "serve", "80"], stdout=subprocess.PIPE)
    assert host_service.stdout is not None and host_service.stdout.readline() == b"ready\n"
    for name in ("a", "b"):
        sb.hatoba("network", "create", "--ipv6", name)
    sb.hatoba("network", "create", "--ipv6", "--internal", "secret")
    for name, network in (("a1", "a"), ("b1", "b"), ("s2", "secret")):
        serve(sb, name, "--net", network)
    idle(sb, "a2", "--net", "a")
    idle(sb, "s1", "--net", "secret")
    a1, b1, s2 = v6(sb, "a1", "a"), v6(sb, "b1", "b"), v6(sb, "s2", "secret")
    host = [HOST_UPLINK6, *(gateway6(sb, n) for n in ("a", "secret"))]
    results = probe_all(
        sb,
        {
            "a2": [("tcp", a1, 80), ("tcp", b1, 80), ("tcp", HOST_UPLINK6, 80)],
            "b1": [("tcp", a1, 80), ("icmp", a1, 0)],
            "s1": [
                ("tcp", s2, 80),
                ("tcp", INTERNET6, 80),
                ("icmp", a1, 0),
                *(("tcp", address, 80) for address in host),
            ],
        },
    )
    assert results["a2"] == [v6(sb, "a2", "a"), BLOCKED, v6(sb, "a2", "a")]
    assert results["b1"] == [BLOCKED, BLOCKED]
    assert results["s1"] == [v6(sb, "s1", "secret")] + [BLOCKED] * 5
    # the host still reaches the internal network's containers
    assert probe(sb, None, ("icmp", s2, 0)) == ["ok"]


def test_no_router_advertisement_or_forged_source_from_a_container_on_an_ipv6_network(
    sb: Sandbox,
) -> None:
    sb.hatoba("network", "create", "--ipv6", "dual")
    idle(sb, "attacker", "--net", "dual")
    victim_ns = sb.run_root / "netns" / idle(sb, "victim", "--net", "dual").strip()
    victim = endpoint(sb, "victim", "dual")["IPAddress"]
    attacker_mac = endpoint(sb, "attacker", "dual")["MacAddress"]

    def heard(kind: str) -> list[str]:
        return frames_heard(sb, "attacker", attacker_mac, victim_ns, victim, kind)

    # the attacker's own IPv6 (multicast listener reports, neighbour discovery) passes
    assert not [f for f in heard("ra") if f.endswith(" 58 134")]
    assert not [f for f in heard("forged") if f.startswith("ipv6 fe80::1 ")]
    routes = sb.sh(["ip", "-6", "route"], ns=victim_ns).stdout
    assert "2001:db8" not in routes and routes.count("default") == 1
    assert f"default via {gateway6(sb, 'dual')} dev eth0" in routes
    assert probe(sb, "attacker", ("icmp", v6(sb, "victim", "dual"), 0)) == ["ok"]


# --- names ------------------------------------------------------------------------------------


def test_names_answer_aaaa_and_ip6_arpa_and_are_forwarded_over_ipv6(sb: Sandbox) -> None:
    assert sb.outside is not None
    upstream = start_upstream(sb, sb.outside, address=RESOLVER6)
    sb.hatoba("network", "create", "--ipv6", "dual")
    sb.hatoba("network", "create", "--ipv6", "--ipv4=false", "only6")
    idle(sb, "s1", "--net", "dual", "--network-alias", "db")
    idle(sb, "s2", "--net", "dual", "--dns", RESOLVER6)
    idle(sb, "o1", "--net", "only6")
    idle(sb, "o2", "--net", "only6")
    s1 = v6(sb, "s1", "dual")
    assert answers(dig(sb, "s2", "AAAA", "s1"), "AAAA") == [s1]
    assert answers(dig(sb, "s2", "AAAA", "db"), "AAAA") == [s1]
    assert answers(dig(sb, "s2", "A", "s1"), "A") == [endpoint(sb, "s1", "dual")["IPAddress"]]
    assert answers(dig(sb, "s2", "-x", s1), "PTR") == ["s1.dual."]
    # IPv6 only: an AAAA, and no A (an empty answer, never forwarded)
    only = dig(sb, "o2", "A", "o1")
    assert (only.status, only.answers) == ("NOERROR", [])
    assert answers(dig(sb, "o2", "AAAA", "o1"), "AAAA") == [v6(sb, "o1", "only6")]
    # the rest goes to the IPv6 upstream, from the container's namespace, masqueraded
    assert answers(dig(sb, "s2", "AAAA", "www.example.test"), "AAAA") == [KNOWN_ADDRESS6]
    assert upstream.queries() == [["udp", HOST_UPLINK6, "www.example.test.", "AAAA"]]


# --- IPv6 only, several subnets ---------------------------------------------------------------


def test_an_ipv6_only_network_and_a_network_of_several_subnets(sb: Sandbox) -> None:
    sb.hatoba("network", "create", "--ipv6", "--ipv4=false", "only6")
    assert inspect(sb, "only6", "network")["IPAM"]["Config"] == [
        {"Subnet": "fd00::/64", "Gateway": "fd00::1"}
    ]
    serve(sb, "o1", "--net", "only6")
    idle(sb, "o2", "--net", "only6")
    o1 = endpoint(sb, "o1", "only6")
    assert (o1["IPAddress"], o1["GlobalIPv6Address"], o1["MacAddress"]) == (
        "",
        "fd00::2",
        "02:42:00:00:00:02",
    )
    assert sb.hatoba("exec", "o2", "ip", "-4", "addr", "show", "dev", "eth0").stdout == ""
    assert probe(sb, "o2", ("tcp", "fd00::2", 80)) == ["fd00::3"]
    sb.hatoba(
        "network", "create", "--subnet", "10.30.0.0/30", "--subnet", "10.31.0.0/24",
        "--gateway", "10.31.0.254", "--subnet", "fd00:31::/64", "multi",
    )  # fmt: skip
    assert inspect(sb, "multi", "network")["IPAM"]["Config"] == [
        {"Subnet": "10.30.0.0/30"},
        {"Subnet": "10.31.0.0/24", "Gateway": "10.31.0.254"},
        {"Subnet": "fd00:31::/64"},
    ]
    serve(sb, "m1", "--net", "multi")  # the first subnet's only address
    idle(sb, "m2", "--net", "multi")  # then the next subnet
    idle(sb, "m3", "--net", "multi", "--ip", "10.31.0.9")
    addresses = [endpoint(sb, m, "multi")["IPAddress"] for m in ("m1", "m2", "m3")]
    assert addresses == ["10.30.0.2", "10.31.0.1", "10.31.0.9"]
    bridge = f"br-{inspect(sb, 'multi', 'network')['Id'][:12]}"
    own = sb.sh(["ip", "-o", "addr", "show", "dev", bridge]).stdout
    assert all(a in own for a in ("10.30.0.1/30", "10.31.0.254/24", "fd00:31::1/64"))
    # from one subnet to the other through the bridge's addresses, as a router
    assert probe(sb, "m3", ("tcp", "10.30.0.2", 80), ("tcp", "fd00:31::2", 80)) == [
        "10.31.0.9",
        v6(sb, "m3", "multi"),
    ]


# --- refused, and nothing left behind ---------------------------------------------------------


REFUSALS = [
    (
        ("network", "create", "--ipv4=false", "x"),
        "Error response from daemon: IPv4 or IPv6 must be enabled",
    ),
    (
        ("network", "create", "--ipv4=false", "--ipv6", "--subnet", "10.5.0.0/24", "x"),
        "IPv4 is disabled on this network, but it was given the IPv4 subnet 10.5.0.0/24",
    ),
    (
        ("network", "create", "--subnet", "fd00:7::/80", "x"),
        "Error response from daemon: Pool overlaps with other one on this address space",
    ),
    (
        ("run", "-d", "--net", "plain", "--ip6", "fd00:7::9", "hostfs", "true"),
        "user specified IP address is supported only when connecting to networks with user "
        "configured subnets",
    ),
    (
        ("run", "-d", "--net", "user6", "--ip6", "fd00:8::9", "hostfs", "true"),
        "Invalid address fd00:8::9: It does not belong to any of this network's subnets.",
    ),
    (
        ("run", "-d", "--net", "user6", "--ip6", "fd00:7::1", "hostfs", "true"),
        "Address already in use",
    ),
    (
        ("run", "-d", "--net", "plain", "-p", "[::]:8000:80", "hostfs", "true"),
        "cannot publish 80/tcp on ::: the container has no IPv6 address on network plain",
    ),
    (("network", "connect", "--ip6", "fd00:7::1", "user6", "idle"), "Address already in use"),
]


def test_refused_ipv6_options_say_why_and_leave_nothing_behind(sb: Sandbox) -> None:
    sb.hatoba("network", "create", "plain")
    sb.hatoba("network", "create", "--subnet", "fd00:7::/64", "user6")
    idle(sb, "idle", "--net", "plain")

    def everything() -> tuple[object, ...]:
        return (
            sb.hatoba("network", "ls", "-q").stdout,
            sb.hatoba("ps", "-aq").stdout,
            links(sb),
            sb.sh(["nft", "list", "ruleset"]).stdout,
        )

    before = everything()
    for argv, error in REFUSALS:
        failed = sb.hatoba(*argv, check=False)
        assert failed.returncode != 0 and error in failed.stderr, failed
        assert everything() == before, argv
