"""render / delta: the JSON transactions that make the kernel's tables match a state.

`render(state)` declares both tables from nothing. `delta(old, new)` assumes the tables hold
`render(old)` and touches only what differs: set and map elements, and the per-network chains
of networks that came, went or changed. Every document here is applied as one transaction.
"""

from __future__ import annotations

from typing import Any

from hatoba.firewall import layout as L
from hatoba.firewall.content import Content, Element, build, comment
from hatoba.firewall.model import FirewallState
from hatoba.firewall.validate import validate

Command = dict[str, Any]
Document = dict[str, list[Command]]


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


def _sorted(elements: dict[str, Element]) -> list[Element]:
    return [elements[k] for k in sorted(elements)]


def _elements(verb: str, family: str, name: str, elements: list[Element]) -> list[Command]:
    if not elements:
        return []
    # deleting needs only the key
    elem = [e.key for e in elements] if verb == "delete" else [e.json() for e in elements]
    return [{verb: {"element": _obj(family, name=name, elem=elem)}}]


def _skeleton() -> list[Command]:
    cmds: list[Command] = [{"add": _table(f)} for f in L.FAMILIES]
    for (family, name), spec in L.SETS.items():
        kind = "map" if "map" in spec else "set"
        cmds.append({"add": {kind: _obj(family, name=name, **spec)}})
    cmds += [_chain_decl(c.family, c.name, c.hook) for c in L.BASE_CHAINS]
    return cmds


def _base_rules() -> list[Command]:
    return [cmd for c in L.BASE_CHAINS for cmd in _rules(c.family, c.name, c.rules)]


def render(state: FirewallState) -> Document:
    """Both tables as they must be for `state`, declared from nothing."""
    validate(state)
    content = build(state)
    cmds = _skeleton()
    cmds += [_chain_decl(L.INET, name) for name in sorted(content.chains)]
    cmds += _base_rules()
    for name in sorted(content.chains):
        cmds += _rules(L.INET, name, content.chains[name])
    for family, name in L.SETS:
        cmds += _elements("add", family, name, _sorted(content.elements_of((family, name))))
    return {"nftables": cmds}


def rebuild(state: FirewallState) -> Document:
    """Replace whatever is there (even nothing) by `render(state)`, atomically."""
    return {"nftables": teardown()["nftables"] + render(state)["nftables"]}


def teardown() -> Document:
    """Delete both tables whole; `add` first makes the delete succeed when a table is absent."""
    cmds: list[Command] = []
    for family in L.FAMILIES:
        cmds += [{"add": _table(family)}, {"delete": _table(family)}]
    return {"nftables": cmds}


def delta(old: FirewallState, new: FirewallState) -> Document:
    """Turn the tables for `old` into the tables for `new`, touching only what changed."""
    validate(new)
    before, after = build(old), build(new)
    removals: list[Command] = []
    additions: list[Command] = []
    for family, name in L.SETS:
        was, now = before.elements_of((family, name)), after.elements_of((family, name))
        gone = [e for k, e in sorted(was.items()) if now.get(k) != e]
        came = [e for k, e in sorted(now.items()) if was.get(k) != e]
        removals += _elements("delete", family, name, gone)
        additions += _elements("add", family, name, came)
    chain_cmds = _chain_changes(before, after)
    # Elements that jump to a chain go before the chain does, and come after it exists.
    return {"nftables": removals + chain_cmds + additions}


def _chain_changes(before: Content, after: Content) -> list[Command]:
    cmds: list[Command] = []
    for name in sorted(before.chains.keys() - after.chains.keys()):
        chain = {"chain": _obj(L.INET, name=name)}
        cmds += [{"flush": chain}, {"delete": chain}]
    for name in sorted(after.chains):
        rules = after.chains[name]
        if name not in before.chains:
            cmds.append(_chain_decl(L.INET, name))
        elif before.chains[name] != rules:
            cmds.append({"flush": {"chain": _obj(L.INET, name=name)}})
        else:
            continue
        cmds += _rules(L.INET, name, rules)
    return cmds
