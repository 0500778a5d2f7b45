"""The fixed part of hatoba's tables: sets, maps, base chains and the rules that use them.

Nothing here depends on the state. Every per-network or per-port fact is an element of a set
or map declared here, or a rule in a per-network chain, so the rules below never change and
adding the 1000th published port is one element in each of a few maps.

Two tables, both named `hatoba`:

* `inet hatoba` does NAT, isolation, forwarding policy, and keeps internal networks off the
  host's own addresses: an internal network reaches nothing beyond itself (Docker 20.10 let
  it reach the host through INPUT).
* `bridge hatoba` exists because the inet hooks cannot see what happens *inside* a bridge:
  container-to-container frames on one bridge never reach them unless br_netfilter is loaded
  (and even then the bridge port is not visible in `forward`), and the MAC address and ARP
  sender a container uses are layer-2 facts. Anti-spoofing and `enable_icc=false` live there.
  IPv6 from a container port passes only from an address in `port_ip6s` (its address from
  the pool and its link-local one, on networks with IPv6), and router advertisements and
  redirects from containers never pass.

IPv6 has sets and maps of its own beside IPv4's (`…6`): a map holds one address type. Ports
published on `::1` are not NATed at all: IPv6 has no `route_localnet`, so the kernel would
drop the answers on the bridge; the port reservation proxies them instead
(`hatoba.kernel.portbind`).
"""

from __future__ import annotations

from dataclasses import dataclass

from hatoba.firewall import nftjson as j

TABLE = "hatoba"
INET, BRIDGE = "inet", "bridge"
FAMILIES = (INET, BRIDGE)

# inet sets and maps
BRIDGES = "bridges"  # every hatoba bridge
INTERNAL_BRIDGES = "internal_bridges"  # bridges of internal networks
MASQ_SUBNETS = "masq_subnets"  # subnets whose traffic is masqueraded on the way out
FROM_BRIDGE = "from_bridge"  # bridge name -> jump to that network's forward chain
ROUTED_SUBNETS = "routed_subnets"  # a segment's routed link . its network's IPv4 subnet
PUBLISHED = "published"  # container ip . proto . port reachable through a DNAT
OWN_PORT = "own_port"  # container ip . container ip . proto . port: a container to itself
DNAT_ANY_ADDR, DNAT_ANY_PORT = "dnat_any_addr", "dnat_any_port"  # proto . host port
DNAT_IP_ADDR, DNAT_IP_PORT = "dnat_ip_addr", "dnat_ip_port"  # host ip . proto . host port
# the same for IPv6
MASQ_SUBNETS6, PUBLISHED6, OWN_PORT6 = "masq_subnets6", "published6", "own_port6"
DNAT_ANY_ADDR6, DNAT_ANY_PORT6 = "dnat_any_addr6", "dnat_any_port6"
DNAT_IP_ADDR6, DNAT_IP_PORT6 = "dnat_ip_addr6", "dnat_ip_port6"

# bridge sets
PORTS = "ports"  # host-side veths of hatoba endpoints
PORT_MACS = "port_macs"  # veth . the MAC its container owns
PORT_IPS = "port_ips"  # veth . the IPv4 address its container owns
PORT_IP6S = "port_ip6s"  # veth . an IPv6 address its container owns
NO_ICC_PORTS = "no_icc_ports"  # veths on networks with enable_icc=false

DNAT_CHAIN = "published-dnat"

# comments of the rules that drop, as `hatoba explain` names them
ISOLATION = "ISOLATION"
INTERNAL_OFF_HOST = "INTERNAL NETWORKS DO NOT REACH THE HOST"
LOOPBACK_ONLY = "LOOPBACK ONLY FROM lo"
SPOOFING = "ANTI-SPOOFING"  # followed by what was checked: MAC, IPV4, ARP, IPV6
ROUTER_ADVICE = "ROUTER ADVERTISEMENT OR REDIRECT"
ICC_DISABLED = "ICC DISABLED"
# per-network rules: "<network name>: <what>"
NETWORK_ICC, NETWORK_INTERNAL = "ICC", "INTERNAL NETWORK"

_PROTO_PORT = ["inet_proto", "inet_service"]
_IP_PROTO_PORT = ["ipv4_addr", "inet_proto", "inet_service"]
_IP6_PROTO_PORT = ["ipv6_addr", "inet_proto", "inet_service"]

SETS: dict[tuple[str, str], dict[str, object]] = {
    (INET, BRIDGES): {"type": "ifname"},
    (INET, INTERNAL_BRIDGES): {"type": "ifname"},
    (INET, MASQ_SUBNETS): {"type": "ipv4_addr", "flags": ["interval"]},
    (INET, ROUTED_SUBNETS): {"type": ["ifname", "ipv4_addr"], "flags": ["interval"]},
    (INET, FROM_BRIDGE): {"type": "ifname", "map": "verdict"},
    (INET, PUBLISHED): {"type": _IP_PROTO_PORT},
    (INET, OWN_PORT): {"type": ["ipv4_addr", *_IP_PROTO_PORT]},
    (INET, DNAT_ANY_ADDR): {"type": _PROTO_PORT, "map": "ipv4_addr"},
    (INET, DNAT_ANY_PORT): {"type": _PROTO_PORT, "map": "inet_service"},
    (INET, DNAT_IP_ADDR): {"type": _IP_PROTO_PORT, "map": "ipv4_addr"},
    (INET, DNAT_IP_PORT): {"type": _IP_PROTO_PORT, "map": "inet_service"},
    (INET, MASQ_SUBNETS6): {"type": "ipv6_addr", "flags": ["interval"]},
    (INET, PUBLISHED6): {"type": _IP6_PROTO_PORT},
    (INET, OWN_PORT6): {"type": ["ipv6_addr", *_IP6_PROTO_PORT]},
    (INET, DNAT_ANY_ADDR6): {"type": _PROTO_PORT, "map": "ipv6_addr"},
    (INET, DNAT_ANY_PORT6): {"type": _PROTO_PORT, "map": "inet_service"},
    (INET, DNAT_IP_ADDR6): {"type": _IP6_PROTO_PORT, "map": "ipv6_addr"},
    (INET, DNAT_IP_PORT6): {"type": _IP6_PROTO_PORT, "map": "inet_service"},
    (BRIDGE, PORTS): {"type": "ifname"},
    (BRIDGE, PORT_MACS): {"type": ["ifname", "ether_addr"]},
    (BRIDGE, PORT_IPS): {"type": ["ifname", "ipv4_addr"]},
    (BRIDGE, PORT_IP6S): {"type": ["ifname", "ipv6_addr"]},
    (BRIDGE, NO_ICC_PORTS): {"type": "ifname"},
}

IIF, OIF = j.meta("iifname"), j.meta("oifname")
_L4 = (j.meta("l4proto"), j.payload("th", "dport"))
_PROTO_DPORT = j.concat(*_L4)
_DADDR_PROTO_DPORT = j.concat(j.payload("ip", "daddr"), *_L4)
_DADDR6_PROTO_DPORT = j.concat(j.payload("ip6", "daddr"), *_L4)
_LOOPBACK = j.prefix("127.0.0.0", 8)
_IPV4, _IPV6 = j.match(j.meta("nfproto"), "ipv4"), j.match(j.meta("nfproto"), "ipv6")

Rule = tuple[str, list[j.Expr]]  # (comment, expressions)


@dataclass(frozen=True)
class Chain:
    family: str
    name: str
    rules: tuple[Rule, ...]
    hook: tuple[str, str, int] | None = None  # (type, hook, priority); None: a regular chain


_IN_BRIDGES, _OUT_BRIDGES = j.match(IIF, j.ref(BRIDGES)), j.match(OIF, j.ref(BRIDGES))
_SADDR, _DADDR = j.payload("ip", "saddr"), j.payload("ip", "daddr")
_SADDR6, _DADDR6 = j.payload("ip6", "saddr"), j.payload("ip6", "daddr")
_REPLIES = j.match(j.ct("state"), ["established", "related"], "in")

FORWARD = Chain(
    INET,
    "forward",
    hook=("filter", "forward", 0),
    rules=(
        ("MSS CLAMP", [_IN_BRIDGES, *j.clamp_mss_to_route()]),
        ("MSS CLAMP", [_OUT_BRIDGES, *j.clamp_mss_to_route()]),
        ("REPLIES", [_REPLIES, j.accept()]),
        ("PER-NETWORK POLICY", [j.vmap(IIF, FROM_BRIDGE)]),
        *(
            (
                "PUBLISHED PORT",
                [
                    _OUT_BRIDGES,
                    j.match(j.ct("status"), "dnat", "in"),
                    j.match(key, j.ref(published)),
                    j.accept(),
                ],
            )
            for key, published in (
                (_DADDR_PROTO_DPORT, PUBLISHED),
                (_DADDR6_PROTO_DPORT, PUBLISHED6),
            )
        ),
        (ISOLATION, [_OUT_BRIDGES, j.drop()]),
    ),
)
_FROM_INTERNAL = j.match(IIF, j.ref(INTERNAL_BRIDGES))
_NEIGHBOUR_DISCOVERY = j.match(
    j.payload("icmpv6", "type"), j.set_of("nd-neighbor-solicit", "nd-neighbor-advert")
)
# What reaches the host itself. A container on an internal network may answer the host, but
# it reaches no address of the host: not its gateway, not another bridge's, not the uplink's.
# Neighbour discovery is IPv6's ARP (which these hooks never see) and conntrack leaves it
# untracked: without it the container could not answer the host over IPv6.
# The embedded DNS needs nothing here: it is served inside the container's own namespace.
INPUT = Chain(
    INET,
    "input",
    hook=("filter", "input", 0),
    rules=(
        ("REPLIES FROM INTERNAL NETWORKS", [_FROM_INTERNAL, _REPLIES, j.accept()]),
        ("NEIGHBOURS ON INTERNAL NETWORKS", [_FROM_INTERNAL, _NEIGHBOUR_DISCOVERY, j.accept()]),
        (INTERNAL_OFF_HOST, [_FROM_INTERNAL, j.drop()]),
    ),
)
NAT_PREROUTING = Chain(
    INET,
    "prerouting",
    hook=("nat", "prerouting", -100),
    rules=(("PUBLISHED PORTS", [j.jump(DNAT_CHAIN)]),),
)
NAT_OUTPUT = Chain(
    INET,
    "output",
    hook=("nat", "output", -100),
    rules=(("PUBLISHED PORTS FROM THE HOST", [j.jump(DNAT_CHAIN)]),),
)
PUBLISHED_DNAT = Chain(
    INET,
    DNAT_CHAIN,
    rules=(
        ("PUBLISHED ON ONE ADDRESS", [j.dnat_maps(_DADDR_PROTO_DPORT, DNAT_IP_ADDR, DNAT_IP_PORT)]),
        (
            "PUBLISHED ON ALL ADDRESSES",
            [_IPV4, j.fib_daddr_local(), j.dnat_maps(_PROTO_DPORT, DNAT_ANY_ADDR, DNAT_ANY_PORT)],
        ),
        (
            "PUBLISHED ON ONE IPV6 ADDRESS",
            [j.dnat_maps(_DADDR6_PROTO_DPORT, DNAT_IP_ADDR6, DNAT_IP_PORT6, family="ip6")],
        ),
        # not ::1, where the answers could not come back (see the module's docstring)
        (
            "PUBLISHED ON ALL IPV6 ADDRESSES",
            [
                _IPV6,
                j.match(_DADDR6, "::1", "!="),
                j.fib_daddr_local(),
                j.dnat_maps(_PROTO_DPORT, DNAT_ANY_ADDR6, DNAT_ANY_PORT6, family="ip6"),
            ],
        ),
    ),
)
NAT_POSTROUTING = Chain(
    INET,
    "postrouting",
    hook=("nat", "postrouting", 100),
    rules=(
        *(
            (
                "OUTBOUND NAT",
                [
                    j.match(saddr, j.ref(subnets)),
                    j.match(OIF, j.ref(BRIDGES), "!="),
                    j.masquerade(),
                ],
            )
            for saddr, subnets in ((_SADDR, MASQ_SUBNETS), (_SADDR6, MASQ_SUBNETS6))
        ),
        ("LOOPBACK TO CONTAINER", [j.match(_SADDR, _LOOPBACK), _OUT_BRIDGES, j.masquerade()]),
        # a container reaching a neighbour on its segment through a published port: sent
        # back out of the link it came in by, and answered inside the segment, where the
        # host cannot un-NAT the answer (postrouting has no input interface: the source's
        # subnet says where it came from)
        (
            "HAIRPIN INTO A SEGMENT",
            [
                j.match(j.ct("status"), "dnat", "in"),
                j.match(j.concat(OIF, _SADDR), j.ref(ROUTED_SUBNETS)),
                j.masquerade(),
            ],
        ),
        *(
            (
                "MASQ TO OWN PORT",
                [j.match(j.concat(saddr, daddr, *_L4), j.ref(own)), j.masquerade()],
            )
            for saddr, daddr, own in ((_SADDR, _DADDR, OWN_PORT), (_SADDR6, _DADDR6, OWN_PORT6))
        ),
    ),
)
# Before DNAT: a port published on 127.0.0.1 must not be reachable by a neighbour that sends
# to 127.0.0.1 (moby#45610), and route_localnet on our bridges must not open the host's
# loopback services to containers (CVE-2020-8558). The kernel drops such packets itself
# wherever route_localnet is off, so this only restores the default.
RAW_PREROUTING = Chain(
    INET,
    "raw-prerouting",
    hook=("filter", "prerouting", -300),
    rules=((LOOPBACK_ONLY, [j.match(IIF, "lo", "!="), j.match(_DADDR, _LOOPBACK), j.drop()]),),
)
ANTI_SPOOFING = Chain(
    BRIDGE,
    "prerouting",
    hook=("filter", "prerouting", -300),
    rules=(
        ("NOT A HATOBA PORT", [j.match(IIF, j.ref(PORTS), "!="), j.accept()]),
        (
            f"{SPOOFING} MAC",
            [j.match(j.concat(IIF, j.payload("ether", "saddr")), j.ref(PORT_MACS), "!="), j.drop()],
        ),
        (
            f"{SPOOFING} IPV4",
            [j.match(j.concat(IIF, _SADDR), j.ref(PORT_IPS), "!="), j.drop()],
        ),
        (
            f"{SPOOFING} ARP",
            [
                j.match(j.concat(IIF, j.payload("arp", "saddr ip")), j.ref(PORT_IPS), "!="),
                j.match(j.payload("arp", "saddr ip"), "0.0.0.0", "!="),
                j.drop(),
            ],
        ),
        # whatever source it claims: a container is never the router of its neighbours
        (
            ROUTER_ADVICE,
            [
                j.match(j.payload("icmpv6", "type"), j.set_of("nd-router-advert", "nd-redirect")),
                j.drop(),
            ],
        ),
        (
            f"{SPOOFING} IPV6",
            [j.match(j.concat(IIF, j.payload("ip6", "saddr")), j.ref(PORT_IP6S), "!="), j.drop()],
        ),
    ),
)
NO_ICC = Chain(
    BRIDGE,
    "forward",
    hook=("filter", "forward", -200),
    rules=((ICC_DISABLED, [j.match(IIF, j.ref(NO_ICC_PORTS)), j.drop()]),),
)

BASE_CHAINS = (
    FORWARD,
    INPUT,
    NAT_PREROUTING,
    NAT_OUTPUT,
    PUBLISHED_DNAT,
    NAT_POSTROUTING,
    RAW_PREROUTING,
    ANTI_SPOOFING,
    NO_ICC,
)


def network_chain(bridge: str) -> str:
    return f"from-{bridge}"
