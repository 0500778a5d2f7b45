"""The nftables table inside a container's namespace that sends 127.0.0.11:53 to the resolver.

As Docker's `table ip docker-dns`: the resolver's sockets listen on random ports of
127.0.0.11, a DNAT in the output hook sends the container's queries to them and an SNAT in
postrouting makes their answers come from port 53, so the container may bind port 53 itself.
"""

from __future__ import annotations

from typing import Any

RESOLVER_IP = "127.0.0.11"
TABLE = "hatoba-dns"


def table_commands(udp_port: int, tcp_port: int) -> str:
    """One transaction that creates the table or replaces an older one whole."""
    ip = RESOLVER_IP
    return f"""
add table ip {TABLE}
delete table ip {TABLE}
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


def ports_in(listing: dict[str, Any]) -> dict[str, int]:
    """The resolver ports a listed table sends port 53 to, by protocol ("udp", "tcp").

    After a restart of the service the new sockets try these first: a client that keeps
    sending from one port has a conntrack entry pinned to the old port, and would otherwise
    time out for as long as it keeps sending.
    """
    ports: dict[str, int] = {}
    for item in listing.get("nftables", []):
        rule = item.get("rule") if isinstance(item, dict) else None
        if not isinstance(rule, dict) or rule.get("chain") != "dns-dnat":
            continue
        exprs = rule.get("expr")
        protocol = port = None
        for expr in exprs if isinstance(exprs, list) else []:
            match = expr.get("match") if isinstance(expr, dict) else None
            if isinstance(match, dict):
                left = match.get("left", {})
                payload = left.get("payload", {}) if isinstance(left, dict) else {}
                if payload.get("field") == "dport" and match.get("right") == 53:
                    protocol = payload.get("protocol")
            dnat = expr.get("dnat") if isinstance(expr, dict) else None
            if isinstance(dnat, dict) and isinstance(dnat.get("port"), int):
                port = dnat["port"]
        if protocol in ("udp", "tcp") and port is not None:
            ports[protocol] = port
    return ports
