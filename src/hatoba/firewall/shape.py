"""A cheap fingerprint of the tables: chains with their rule counts, sets with element counts.

Enough to tell whether someone flushed or deleted part of the tables, without comparing every
element: used when change notifications were lost and the tables must be checked instead.
"""

from __future__ import annotations

from typing import Any

from hatoba.firewall import layout as L
from hatoba.firewall.content import build
from hatoba.firewall.model import FirewallState

Shape = dict[str, int]


def expected_shape(state: FirewallState) -> Shape:
    content = build(state)
    shape = {f"{c.family} chain {c.name}": len(c.rules) for c in L.BASE_CHAINS}
    shape.update({f"{L.INET} chain {name}": len(rules) for name, rules in content.chains.items()})
    shape.update({f"{f} set {n}": content.count((f, n)) for f, n in L.SETS})
    return shape


def listed_shape(listing: dict[str, Any]) -> Shape:
    """The shape of `nft -j list table …` output (one or more tables)."""
    shape: Shape = {}
    for obj in listing.get("nftables", []):
        if "chain" in obj:
            shape.setdefault(f"{obj['chain']['family']} chain {obj['chain']['name']}", 0)
        elif "rule" in obj:
            key = f"{obj['rule']['family']} chain {obj['rule']['chain']}"
            shape[key] = shape.get(key, 0) + 1
        else:
            for kind in ("set", "map"):
                if kind in obj:
                    shape[f"{obj[kind]['family']} set {obj[kind]['name']}"] = len(
                        obj[kind].get("elem", [])
                    )
    return shape
