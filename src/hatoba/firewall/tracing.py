"""nftables tracing for chosen flows: `meta nftrace set 1` on rules scoped to exactly one flow,
in base chains of our own tables that see a packet before anything else does.

The chains exist only while a trace runs: an idle host pays no hook for them. Each change
rewrites them whole (add, flush, one rule per flow), in one transaction of our own, so the
watcher takes it for ours and a rebuild puts the running traces back with the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hatoba.firewall import layout as L
from hatoba.firewall import nftjson as j
from hatoba.model.flows import Flow

# before anything of ours or of others' (raw is -300, conntrack -200, DNAT -100)
_FIRST = -350
TRACE_CHAINS = (
    L.Chain(L.INET, "trace-prerouting", (), ("filter", "prerouting", _FIRST)),
    L.Chain(L.INET, "trace-output", (), ("filter", "output", _FIRST)),
    L.Chain(L.BRIDGE, "trace-prerouting", (), ("filter", "prerouting", _FIRST)),
)
Command = dict[str, Any]


def _chain(chain: L.Chain) -> dict[str, Any]:
    return {"family": chain.family, "table": L.TABLE, "name": chain.name}


def flow_match(flow: Flow) -> list[j.Expr]:
    """What a packet of `flow` looks like before NAT, in the direction it was started."""
    exprs = [j.match(j.payload("ip", "daddr"), flow.dst)]
    if flow.src is not None:
        exprs.append(j.match(j.payload("ip", "saddr"), flow.src))
    if flow.proto == "icmp":
        exprs.append(j.match(j.payload("icmp", "type"), "echo-request"))
        if flow.sport is not None:
            exprs.append(j.match(j.payload("icmp", "id"), flow.sport))
        return exprs
    exprs.append(j.match(j.meta("l4proto"), flow.proto))
    if flow.sport is not None:
        exprs.append(j.match(j.payload("th", "sport"), flow.sport))
    if flow.dport is not None:
        exprs.append(j.match(j.payload("th", "dport"), flow.dport))
    return exprs


def document(flows: Sequence[Flow]) -> dict[str, list[Command]]:
    """One transaction that leaves the trace chains holding a rule per flow, or gone when
    there are none (whether they existed before or not)."""
    cmds: list[Command] = []
    for chain in TRACE_CHAINS:
        kind, hook, prio = chain.hook or ("filter", "prerouting", _FIRST)
        declared = {**_chain(chain), "type": kind, "hook": hook, "prio": prio, "policy": "accept"}
        cmds += [{"add": {"chain": declared}}, {"flush": {"chain": _chain(chain)}}]
        if not flows:
            cmds.append({"delete": {"chain": _chain(chain)}})
            continue
        for flow in flows:
            expr = [*flow_match(flow), {"mangle": {"key": j.meta("nftrace"), "value": 1}}]
            rule = {
                "family": chain.family,
                "table": L.TABLE,
                "chain": chain.name,
                "expr": expr,
                "comment": f"TRACE {flow.describe()}",
            }
            cmds.append({"add": {"rule": rule}})
    return {"nftables": cmds}


def shape(flows: Sequence[Flow]) -> dict[str, int]:
    """What the trace chains add to the tables' shape (see hatoba.firewall.shape)."""
    if not flows:
        return {}
    return {f"{c.family} chain {c.name}": len(flows) for c in TRACE_CHAINS}


def is_trace_chain(family: str, table: str, chain: str) -> bool:
    return table == L.TABLE and any((c.family, c.name) == (family, chain) for c in TRACE_CHAINS)
