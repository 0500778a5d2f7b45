"""Firewall states shared by the unit tests: a few networks, endpoints and published ports."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

from hatoba.firewall import FirewallState, FwEndpoint, FwNetwork, FwPort

WEB = FwNetwork(
    "a" * 64, "web", "br-aaaaaaaaaaaa", IPv4Network("172.18.0.0/16"), IPv4Address("172.18.0.1")
)
QUIET = FwNetwork(
    "b" * 64,
    "quiet",
    "br-bbbbbbbbbbbb",
    IPv4Network("172.19.0.0/16"),
    IPv4Address("172.19.0.1"),
    icc=False,
)
SECRET = FwNetwork(
    "c" * 64,
    "secret",
    "br-cccccccccccc",
    IPv4Network("172.20.0.0/16"),
    IPv4Address("172.20.0.1"),
    internal=True,
)
NOMASQ = FwNetwork(
    "d" * 64,
    "routed",
    "br-dddddddddddd",
    IPv4Network("10.9.0.0/24"),
    IPv4Address("10.9.0.1"),
    masquerade=False,
)


def endpoint(name: str, net: FwNetwork, host: int) -> FwEndpoint:
    ip = net.subnet.network_address + host
    mac = "02:42:" + ":".join(f"{b:02X}" for b in ip.packed)
    return FwEndpoint(f"{name}-id", name, net.network_id, f"veth{name[:7]}", ip, mac)


def port(
    ep: FwEndpoint,
    host_port: int,
    container_port: int = 80,
    proto: str = "tcp",
    host_ip: str | None = None,
) -> FwPort:
    return FwPort(
        ep.container_id,
        ep.container_name,
        ep.network_id,
        ep.ipv4,
        container_port,
        proto,
        IPv4Address(host_ip) if host_ip else None,
        host_port,
    )


WEB1, WEB2 = endpoint("web1", WEB, 2), endpoint("web2", WEB, 3)
Q1, Q2 = endpoint("q1", QUIET, 2), endpoint("q2", QUIET, 3)
S1 = endpoint("s1", SECRET, 2)
R1 = endpoint("r1", NOMASQ, 2)

CASES: dict[str, FirewallState] = {
    "empty": FirewallState(),
    "one_network": FirewallState((WEB,)),
    "internal": FirewallState((SECRET,), (S1,)),
    "icc_off": FirewallState((QUIET,), (Q1, Q2)),
    "no_masquerade": FirewallState((NOMASQ,), (R1,)),
    "ports": FirewallState(
        (WEB, QUIET),
        (WEB1, WEB2, Q1),
        (
            port(WEB1, 8000),
            # -p 8080-8082:80-82
            *(port(WEB2, 8080 + n, 80 + n) for n in range(3)),
            port(WEB2, 8001, host_ip="127.0.0.1"),
            port(WEB2, 5353, 53, "udp"),
            port(Q1, 9000, 9000, "sctp", host_ip="172.19.0.1"),
        ),
    ),
}
