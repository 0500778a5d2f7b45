"""Small builders for the libnftables JSON schema, so rules read close to nft syntax."""

from __future__ import annotations

from typing import Any

Json = Any
Expr = dict[str, Any]


def meta(key: str) -> Expr:
    return {"meta": {"key": key}}


def payload(protocol: str, field: str) -> Expr:
    return {"payload": {"protocol": protocol, "field": field}}


def ct(key: str) -> Expr:
    return {"ct": {"key": key}}


def concat(*items: Json) -> Expr:
    return {"concat": list(items)}


def prefix(addr: str, length: int) -> Expr:
    return {"prefix": {"addr": addr, "len": length}}


def set_of(*items: Json) -> Expr:
    """An anonymous set on the right of a match: `{ a, b }`."""
    return {"set": list(items)}


def ref(name: str) -> str:
    """A named set or map on the right of a match."""
    return f"@{name}"


def match(left: Json, right: Json, op: str = "==") -> Expr:
    return {"match": {"op": op, "left": left, "right": right}}


def accept() -> Expr:
    return {"accept": None}


def drop() -> Expr:
    return {"drop": None}


def jump(chain: str) -> Expr:
    return {"jump": {"target": chain}}


def masquerade() -> Expr:
    return {"masquerade": None}


def vmap(key: Json, name: str) -> Expr:
    return {"vmap": {"key": key, "data": ref(name)}}


def dnat_maps(key: Json, addr_map: str, port_map: str, family: str = "ip") -> Expr:
    """`dnat ip to <key> map @addr : <key> map @port` (`ip6` for IPv6).

    One map with `ipv4_addr . inet_service` data would do, but nft 1.0.6 cannot declare a map
    with concatenated data in JSON, so the address and the port come from twin maps.
    """
    return {
        "dnat": {
            "family": family,
            "addr": {"map": {"key": key, "data": ref(addr_map)}},
            "port": {"map": {"key": key, "data": ref(port_map)}},
        }
    }


def clamp_mss_to_route() -> list[Expr]:
    """`tcp flags syn / syn,rst tcp option maxseg size set rt mtu`."""
    return [
        match({"&": [payload("tcp", "flags"), ["syn", "rst"]]}, "syn"),
        {
            "mangle": {
                "key": {"tcp option": {"name": "maxseg", "field": "size"}},
                "value": {"rt": {"key": "mtu"}},
            }
        },
    ]


def fib_daddr_local() -> Expr:
    return match({"fib": {"result": "type", "flags": ["daddr"]}}, "local")
