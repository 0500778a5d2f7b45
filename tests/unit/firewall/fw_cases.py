"""Firewall states shared by the unit tests: a few networks, endpoints and published ports."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

from hatoba.firewall import FirewallState, FwEndpoint, FwNetwork, FwPort
from hatoba.model.container import link_local_for

WEB = FwNetwork("a" * 64, "web", "br-aaaaaaaaaaaa", (IPv4Network("172.18.0.0/16"),))
QUIET = FwNetwork("b" * 64, "quiet", "br-bbbbbbbbbbbb", (IPv4Network("172.19.0.0/16"),), icc=False)
SECRET = FwNetwork(
    "c" * 64, "secret", "br-cccccccccccc", (IPv4Network("172.20.0.0/16"),), internal=True
)
NOMASQ = FwNetwork(
    "d" * 64, "routed", "br-dddddddddddd", (IPv4Network("10.9.0.0/24"),), masquerade=False
)
DUAL = FwNetwork(
    "e" * 64,
    "dual",
    "br-eeeeeeeeeeee",
    (IPv4Network("172.21.0.0/16"), IPv6Network("fd00:1::/64")),
)
SECRET6 = FwNetwork(
    "f" * 64, "secret6", "br-ffffffffffff", (IPv6Network("fd00:2::/64"),), internal=True
)
# an overlay network: bridged in a segment of its own, routed from the host by its link
OVERLAY = FwNetwork(
    "9" * 64, "ov", "ov-999999999999", (IPv4Network("10.0.0.0/24"),), segment="ov-999999999999"
)


def endpoint(name: str, net: FwNetwork, host: int) -> FwEndpoint:
    ips = [subnet.network_address + host for subnet in net.subnets]
    ipv4 = next((ip for ip in ips if isinstance(ip, IPv4Address)), None)
    ipv6 = next((ip for ip in ips if isinstance(ip, IPv6Address)), None)
    mac = "02:42:" + ":".join(f"{b:02X}" for b in ips[0].packed[-4:])
    link_local = link_local_for(mac) if ipv6 else None
    return FwEndpoint(
        f"{name}-id", name, net.network_id, f"veth{name[:7]}", ipv4, mac, ipv6, link_local
    )


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
        ip_address(host_ip) if host_ip else None,
        host_port,
        ep.ipv6,
    )


WEB1, WEB2 = endpoint("web1", WEB, 2), endpoint("web2", WEB, 3)
Q1, Q2 = endpoint("q1", QUIET, 2), endpoint("q2", QUIET, 3)
S1 = endpoint("s1", SECRET, 2)
R1 = endpoint("r1", NOMASQ, 2)
D1, D2 = endpoint("d1", DUAL, 2), endpoint("d2", DUAL, 3)
S6 = endpoint("s6", SECRET6, 2)
O1, O2 = endpoint("o1", OVERLAY, 2), endpoint("o2", OVERLAY, 3)

CASES: dict[str, FirewallState] = {
    "empty": FirewallState(),
    "one_network": FirewallState((WEB,)),
    "internal": FirewallState((SECRET,), (S1,)),
    "icc_off": FirewallState((QUIET,), (Q1, Q2)),
    "no_masquerade": FirewallState((NOMASQ,), (R1,)),
    "overlay": FirewallState((WEB, OVERLAY), (WEB1, O1, O2), (port(O1, 8000),)),
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
    "dual_stack": FirewallState(
        (DUAL, SECRET6),
        (D1, D2, S6),
        (
            # both families
            port(D1, 8000),
            # IPv4 alone, IPv6 alone, one IPv6 address, IPv6 loopback (no NAT: proxied)
            port(D2, 8001, host_ip="0.0.0.0"),
            port(D2, 8002, host_ip="::"),
            port(D2, 8003, 53, "udp", host_ip="2001:db8::1"),
            port(D2, 8004, host_ip="::1"),
        ),
    ),
}
