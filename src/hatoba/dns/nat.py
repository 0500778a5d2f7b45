"""The nftables table inside a container's namespace that sends 127.0.0.11:53 to the resolver.

As Docker's `table ip docker-dns`: the resolver's sockets listen on random ports of
127.0.0.11, a DNAT in the output hook sends the container's queries to them and an SNAT in
postrouting makes their answers come from port 53, so the container may bind port 53 itself.
"""

from __future__ import annotations

from typing import Any

RESOLVER_IP = "127.0.0.11"
TABLE = "hatoba-dns"


def table_commands(udp_port: int, tcp_port: int, *, replace: bool) -> str:
    """One transaction that creates the table, or with `replace` swaps an older one whole.

    Only ask to replace a table that exists: deleting one costs the kernel an RCU grace
    period (10-20 ms, paid when the nftables socket closes), which a new container skips.
    """
    ip = RESOLVER_IP
    swap = f"add table ip {TABLE}\ndelete table ip {TABLE}" if replace else ""
    return f"""{swap}
table ip {TABLE} {{
    chain dns-dnat {{
        type nat hook output priority -100; policy accept;
        ip daddr {ip} udp dport 53 counter dnat to {ip}:{udp_port}
        ip daddr {ip} tcp dport 53 counter dnat to {ip}:{tcp_port}
    }}
    chain dns-snat {{
        type nat hook postrouting priority srcnat; policy accept;
        ip saddr {ip} udp sport {udp_port} counter snat to :53
        ip saddr {ip} tcp sport {tcp_port} counter snat to :53
    }}
}}
"""


def list_command() -> str:
    return f"list table ip {TABLE}"


def delete_command() -> str:
    return f"delete table ip {TABLE}"


Shape = frozenset[tuple[str, ...]]


def expected_shape(udp_port: int, tcp_port: int) -> Shape:
    """What `shape_of` reads from the table that `table_commands` writes."""
    return frozenset(
        {
            ("chain", "dns-dnat", "output", "-100"),
            ("chain", "dns-snat", "postrouting", "100"),
            ("dns-dnat", "udp", str(udp_port)),
            ("dns-dnat", "tcp", str(tcp_port)),
            ("dns-snat", "udp", str(udp_port)),
            ("dns-snat", "tcp", str(tcp_port)),
        }
    )


def shape_of(listing: dict[str, Any]) -> Shape:
    """The chains and port mappings of a listed table (`nft -j list table`), in short.

    After a restart of the service the new sockets take the old ports when they are free: a
    client that keeps sending from one port has a conntrack entry pinned to the old port and
    would otherwise time out for as long as it keeps sending. And a table that already has
    the right shape is left alone.
    """
    shape: set[tuple[str, ...]] = set()
    for item in listing.get("nftables", []):
        if not isinstance(item, dict):
            continue
        chain = item.get("chain")
        if isinstance(chain, dict):
            shape.add(
                ("chain", str(chain.get("name")), str(chain.get("hook")), str(chain.get("prio")))
            )
        rule = item.get("rule")
        if isinstance(rule, dict):
            shape.add(_rule_shape(rule))
    return frozenset(shape)


def _rule_shape(rule: dict[str, Any]) -> tuple[str, ...]:
    chain = str(rule.get("chain"))
    exprs = rule.get("expr")
    fields: dict[str, Any] = {}
    for expr in exprs if isinstance(exprs, list) else []:
        if not isinstance(expr, dict):
            continue
        for kind, body in expr.items():
            if kind == "match" and isinstance(body, dict) and isinstance(body.get("left"), dict):
                payload = body["left"].get("payload", {})
                if isinstance(payload, dict):
                    fields[str(payload.get("field"))] = (payload.get("protocol"), body.get("right"))
            elif kind in ("dnat", "snat") and isinstance(body, dict):
                fields[kind] = (body.get("addr"), body.get("port"))
    if chain == "dns-dnat" and fields.get("daddr") == ("ip", RESOLVER_IP):
        protocol, port = fields.get("dport", (None, None))
        if port == 53 and fields.get("dnat", (None, None))[0] == RESOLVER_IP:
            return (chain, str(protocol), str(fields["dnat"][1]))
    if chain == "dns-snat" and fields.get("saddr") == ("ip", RESOLVER_IP):
        protocol, port = fields.get("sport", (None, None))
        if fields.get("snat") == (None, 53):
            return (chain, str(protocol), str(port))
    return ("other", chain, repr(rule.get("expr")))


def ports_in(shape: Shape) -> dict[str, int]:
    """The ports a table sends port 53 to, by protocol ("udp", "tcp")."""
    return {
        entry[1]: int(entry[2])
        for entry in shape
        if entry[0] == "dns-dnat" and entry[1] in ("udp", "tcp") and entry[2].isdigit()
    }
