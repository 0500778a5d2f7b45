"""render / delta: the JSON transactions that make the kernel's tables match a state.

`render(state)` declares both tables from nothing. `delta(old, new)` assumes the tables hold
`render(old)` and touches only what differs: set and map elements, and the per-network chains
of networks that came, went or changed. Its work is proportional to what changed (what went
and came is recorded by `derive_changed`, or else found by identity), so the 1000th published
port costs about what the first did. Every document is one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from hatoba.firewall import layout as L
from hatoba.firewall.content import (
    SHARED_SETS,
    Content,
    Element,
    build,
    by_set,
    comment,
    endpoint_elements,
    icc_by_network,
    network_elements,
    network_rules,
    port_elements,
    shared_idents,
)
from hatoba.firewall.derive import changes_between
from hatoba.firewall.model import FirewallState, FwEndpoint, FwPort
from hatoba.firewall.tally import Tally
from hatoba.firewall.validate import validate, validate_change

Command = dict[str, Any]
Document = dict[str, list[Command]]
T = TypeVar("T")


def _obj(family: str, **fields: Any) -> dict[str, Any]:
    return {"family": family, "table": L.TABLE, **fields}


def _table(family: str) -> Command:
    return {"table": {"family": family, "name": L.TABLE}}


def _chain_decl(family: str, name: str, hook: tuple[str, str, int] | None = None) -> Command:
    chain = _obj(family, name=name)
    if hook is not None:
        kind, hook_name, prio = hook
        chain.update(type=kind, hook=hook_name, prio=prio, policy="accept")
    return {"add": {"chain": chain}}


def _rules(family: str, chain: str, rules: tuple[L.Rule, ...]) -> list[Command]:
    return [
        {"add": {"rule": _obj(family, chain=chain, expr=exprs, comment=comment(text))}}
        for text, exprs in rules
    ]


def _elements(verb: str, elements: list[Element]) -> list[Command]:
    cmds = []
    for (family, name), group in by_set(elements).items():
        # deleting needs only the key
        elem = [e.json_key() if verb == "delete" else e.json() for e in group]
        cmds.append({verb: {"element": _obj(family, name=name, elem=elem)}})
    return cmds


def _skeleton(families: Sequence[str] = L.FAMILIES) -> list[Command]:
    cmds: list[Command] = [{"add": _table(f)} for f in families]
    for (family, name), spec in L.SETS.items():
        if family in families:
            kind = "map" if "map" in spec else "set"
            cmds.append({"add": {kind: _obj(family, name=name, **spec)}})
    cmds += [_chain_decl(c.family, c.name, c.hook) for c in L.BASE_CHAINS if c.family in families]
    return cmds


def render(state: FirewallState) -> Document:
    """Both tables as they must be for `state`, declared from nothing."""
    validate(state)
    content = build(state)
    cmds = _skeleton()
    cmds += [_chain_decl(L.INET, name) for name in sorted(content.chains)]
    cmds += [cmd for c in L.BASE_CHAINS for cmd in _rules(c.family, c.name, c.rules)]
    for name in sorted(content.chains):
        cmds += _rules(L.INET, name, content.chains[name])
    cmds += _elements("add", list(content.elements.values()))
    return {"nftables": cmds}


def segment_table(endpoints: Sequence[FwEndpoint], icc: bool) -> Document:
    """A segment's own `bridge hatoba` table (anti-spoofing and ICC of the ports bridged in
    its namespace, which the host's never sees), replacing whatever is there."""
    cmds: list[Command] = [{"add": _table(L.BRIDGE)}, {"delete": _table(L.BRIDGE)}]
    cmds += _skeleton((L.BRIDGE,))
    cmds += [
        cmd
        for c in L.BASE_CHAINS
        if c.family == L.BRIDGE
        for cmd in _rules(c.family, c.name, c.rules)
    ]
    cmds += _elements("add", [e for ep in endpoints for e in endpoint_elements(ep, icc)])
    return {"nftables": cmds}


def segment_endpoints(state: FirewallState) -> dict[str, tuple[FwEndpoint, ...]]:
    """The endpoints of each network bridged in a segment, by network id."""
    segments = {n.network_id for n in state.networks if n.segment}
    found: dict[str, list[FwEndpoint]] = {nid: [] for nid in segments}
    if segments:
        for ep in state.endpoints:
            if ep.network_id in segments:
                found[ep.network_id].append(ep)
    return {nid: tuple(eps) for nid, eps in found.items()}


def rebuild(state: FirewallState) -> Document:
    """Replace whatever is there (even nothing) by `render(state)`, atomically."""
    return {"nftables": teardown()["nftables"] + render(state)["nftables"]}


def teardown() -> Document:
    """Delete both tables whole; `add` first makes the delete succeed when a table is absent."""
    cmds: list[Command] = []
    for family in L.FAMILIES:
        cmds += [{"add": _table(family)}, {"delete": _table(family)}]
    return {"nftables": cmds}


def _diff(old: Sequence[T], new: Sequence[T]) -> tuple[list[T], list[T]]:
    """Items only in `old`, items only in `new`. The engine derives each state from the last,
    so most items are the very same objects: identity settles them without hashing."""
    if old is new:
        return [], []
    # appended or dropped at the end: tuple == compares identical items without calling __eq__
    if len(new) >= len(old) and new[: len(old)] == old:
        return [], list(new[len(old) :])
    if len(new) < len(old) and old[: len(new)] == new:
        return list(old[len(new) :]), []
    old_ids, new_ids = {id(x) for x in old}, {id(x) for x in new}
    gone = [x for x in old if id(x) not in new_ids]
    came = [x for x in new if id(x) not in old_ids]
    if gone and came:  # equal values in distinct objects did not change
        gone_set, came_set = set(gone), set(came)
        gone, came = [x for x in gone if x not in came_set], [x for x in came if x not in gone_set]
    return gone, came


def delta(old: FirewallState, new: FirewallState) -> Document:
    """Turn the tables for `old` into the tables for `new`, touching only what changed."""
    gone_nets, came_nets = _diff(old.networks, new.networks)
    change = changes_between(old, new)
    if change is None:
        gone_eps, came_eps = _diff(old.endpoints, new.endpoints)
        gone_ports, came_ports = _diff(old.ports, new.ports)
    else:  # one was made from the other: what changed is known
        gone_eps, came_eps = list(change.gone_endpoints), list(change.came_endpoints)
        gone_ports, came_ports = list(change.gone_ports), list(change.came_ports)
    veths = _VETHS.carry(old, new, gone_eps, came_eps)
    numbers = _NUMBERS.carry(old, new, gone_ports, came_ports)
    validate_change(
        new,
        came_nets,
        gone_nets,
        came_eps,
        came_ports,
        shared_veth=lambda e: veths[e.host_ifname] > 1,
        shared_number=lambda p: numbers[p.protocol, p.host_port] > 1,
    )

    old_icc, new_icc = icc_by_network(old.networks), icc_by_network(new.networks)
    flipped = {n for n in old_icc.keys() & new_icc.keys() if old_icc[n] != new_icc[n]}
    if flipped:  # their endpoints' elements depend on the network's icc
        gone_eps += [e for e in old.endpoints if e.network_id in flipped and e not in gone_eps]
        came_eps += [e for e in new.endpoints if e.network_id in flipped and e not in came_eps]

    was, now = Content(), Content()
    for net in gone_nets:
        was.chains[L.network_chain(net.bridge)] = network_rules(net)
        was.add(network_elements(net))
    for net in came_nets:
        now.chains[L.network_chain(net.bridge)] = network_rules(net)
        now.add(network_elements(net))
    for ep in gone_eps:
        was.add(endpoint_elements(ep, old_icc.get(ep.network_id, True)))
    for ep in came_eps:
        now.add(endpoint_elements(ep, new_icc.get(ep.network_id, True)))
    for port in gone_ports:
        was.add(port_elements(port))
    for port in came_ports:
        now.add(port_elements(port))
    if gone_ports or came_ports:
        _settle_shared(was, now, old, new, gone_ports, came_ports)

    removals = [e for ident, e in was.elements.items() if now.elements.get(ident) != e]
    additions = [e for ident, e in now.elements.items() if was.elements.get(ident) != e]
    # Elements that jump to a chain go before the chain does, and come after it exists.
    return {
        "nftables": _elements("delete", removals)
        + _chain_changes(was, now)
        + _elements("add", additions)
    }


def _settle_shared(
    was: Content,
    now: Content,
    old: FirewallState,
    new: FirewallState,
    gone: Sequence[FwPort],
    came: Sequence[FwPort],
) -> None:
    """Two ports of one container port (published on two host ports) make the same element,
    which stays while either does. Whether an element is made at all in a state comes from
    counts kept with the states; all its makers are one container, so any gives the comment."""
    touched = {i for i in (*was.elements, *now.elements) if i[0] in SHARED_SETS}
    before = _SHARED.of(old)
    made_before = {i for i in touched if i in before}
    after = _SHARED.carry(old, new, gone, came)
    for ident in touched:
        element = was.elements.get(ident) or now.elements[ident]
        for content, made in ((was, ident in made_before), (now, ident in after)):
            if not made:
                content.elements.pop(ident, None)
            else:  # made by a port that did not change, if not by one that did
                content.elements.setdefault(ident, element)


def _ports(state: FirewallState) -> Sequence[FwPort]:
    return state.ports


def _endpoints(state: FirewallState) -> Sequence[FwEndpoint]:
    return state.endpoints


_SHARED = Tally("shared element counts", _ports, shared_idents)
_NUMBERS = Tally("ports by host port", _ports, lambda p: [(p.protocol, p.host_port)])
_VETHS = Tally("endpoints by host interface", _endpoints, lambda e: [e.host_ifname])


def _chain_changes(was: Content, now: Content) -> list[Command]:
    cmds: list[Command] = []
    for name in sorted(was.chains.keys() - now.chains.keys()):
        chain = {"chain": _obj(L.INET, name=name)}
        cmds += [{"flush": chain}, {"delete": chain}]
    for name in sorted(now.chains):
        rules = now.chains[name]
        if name not in was.chains:
            cmds.append(_chain_decl(L.INET, name))
        elif was.chains[name] != rules:
            cmds.append({"flush": {"chain": _obj(L.INET, name=name)}})
        else:
            continue
        cmds += _rules(L.INET, name, rules)
    return cmds
