"""State → the variable part of the tables: set and map elements, and per-network chains.

Each network, endpoint and port contributes its own elements, so a delta needs only the
contributions of what changed. Elements are hashable values; JSON is made only for those sent.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from hatoba.firewall import layout as L
from hatoba.firewall import nftjson as j
from hatoba.firewall.model import FirewallState, FwEndpoint, FwNetwork, FwPort

_COMMENT_MAX = 128  # bytes nft keeps in a comment

SetKey = tuple[str, str]  # (family, set name)
Atom = str | int
Ident = tuple[SetKey, tuple[Atom, ...]]

# Two ports of one container port (published on two host ports) make the same element here.
SHARED_SETS = frozenset({(L.INET, L.PUBLISHED), (L.INET, L.OWN_PORT)})


def comment(text: str) -> str:
    return text.encode()[:_COMMENT_MAX].decode(errors="ignore")


@dataclass(frozen=True)
class Element:
    set: SetKey
    key: tuple[Atom, ...]
    data: Atom | None = None  # a map's value; for the verdict map, the chain to jump to
    comment: str = ""

    @property
    def ident(self) -> Ident:
        return (self.set, self.key)

    def json_key(self) -> j.Json:
        if self.set == (L.INET, L.MASQ_SUBNETS):
            addr, length = self.key
            return j.prefix(str(addr), int(length))
        return self.key[0] if len(self.key) == 1 else j.concat(*self.key)

    def json(self) -> j.Json:
        val = {"elem": {"val": self.json_key(), "comment": self.comment}}
        if self.data is None:
            return val
        return [val, j.jump(str(self.data)) if self.set == (L.INET, L.FROM_BRIDGE) else self.data]


def network_rules(net: FwNetwork) -> tuple[L.Rule, ...]:
    """Forwarded traffic that entered from `net`'s bridge; what falls through is checked by
    the base chain (to another hatoba bridge: published ports only)."""
    icc = j.accept() if net.icc else j.drop()
    rules: list[L.Rule] = [(f"{net.name}: {L.NETWORK_ICC}", [j.match(L.OIF, net.bridge), icc])]
    if net.internal:
        rules.append((f"{net.name}: {L.NETWORK_INTERNAL}", [j.drop()]))
    else:
        outbound = [j.match(L.OIF, j.ref(L.BRIDGES), "!="), j.accept()]
        rules.append((f"{net.name}: OUTBOUND", outbound))
    return tuple((comment(text), exprs) for text, exprs in rules)


def network_elements(net: FwNetwork) -> list[Element]:
    note = comment(net.name)
    out = [
        Element((L.INET, L.BRIDGES), (net.bridge,), None, note),
        Element((L.INET, L.FROM_BRIDGE), (net.bridge,), L.network_chain(net.bridge), note),
    ]
    if net.internal:
        out.append(Element((L.INET, L.INTERNAL_BRIDGES), (net.bridge,), None, note))
    if not net.internal and net.masquerade:
        subnet = (str(net.subnet.network_address), net.subnet.prefixlen)
        out.append(Element((L.INET, L.MASQ_SUBNETS), subnet, None, note))
    return out


def endpoint_elements(ep: FwEndpoint, icc: bool) -> list[Element]:
    note, veth = comment(ep.container_name), ep.host_ifname
    out = [
        Element((L.BRIDGE, L.PORTS), (veth,), None, note),
        Element((L.BRIDGE, L.PORT_MACS), (veth, ep.mac.lower()), None, note),
        Element((L.BRIDGE, L.PORT_IPS), (veth, str(ep.ipv4)), None, note),
    ]
    if not icc:
        out.append(Element((L.BRIDGE, L.NO_ICC_PORTS), (veth,), None, note))
    return out


def port_elements(port: FwPort) -> list[Element]:
    note, cip = comment(port.container_name), str(port.container_ip)
    target = (cip, port.protocol, port.container_port)
    if port.host_ip is None or port.host_ip.is_unspecified:
        key: tuple[Atom, ...] = (port.protocol, port.host_port)
        addr_map, port_map = L.DNAT_ANY_ADDR, L.DNAT_ANY_PORT
    else:
        key = (str(port.host_ip), port.protocol, port.host_port)
        addr_map, port_map = L.DNAT_IP_ADDR, L.DNAT_IP_PORT
    return [
        Element((L.INET, L.PUBLISHED), target, None, note),
        Element((L.INET, L.OWN_PORT), (cip, *target), None, note),
        Element((L.INET, addr_map), key, cip, note),
        Element((L.INET, port_map), key, port.container_port, note),
    ]


def shared_idents(port: FwPort) -> tuple[Ident, Ident]:
    """The idents of `port`'s elements in SHARED_SETS (cheaper than port_elements)."""
    cip = str(port.container_ip)
    target = (cip, port.protocol, port.container_port)
    return (((L.INET, L.PUBLISHED), target), ((L.INET, L.OWN_PORT), (cip, *target)))


def icc_by_network(networks: Iterable[FwNetwork]) -> dict[str, bool]:
    return {n.network_id: n.icc for n in networks}


@dataclass
class Content:
    elements: dict[Ident, Element] = field(default_factory=dict)
    # per-network chains of `inet hatoba`: name → rules
    chains: dict[str, tuple[L.Rule, ...]] = field(default_factory=dict)

    def add(self, elements: Iterable[Element]) -> None:
        for element in elements:
            self.elements.setdefault(element.ident, element)

    def count(self, set_key: SetKey) -> int:
        return sum(1 for ident in self.elements if ident[0] == set_key)


def build(state: FirewallState) -> Content:
    out = Content()
    for net in state.networks:
        out.chains[L.network_chain(net.bridge)] = network_rules(net)
        out.add(network_elements(net))
    icc = icc_by_network(state.networks)
    for ep in state.endpoints:
        out.add(endpoint_elements(ep, icc.get(ep.network_id, True)))
    for port in state.ports:
        out.add(port_elements(port))
    return out


def by_set(elements: Iterable[Element]) -> dict[SetKey, list[Element]]:
    """Elements grouped in the order sets are declared, sorted by key within a set."""
    groups: dict[SetKey, list[Element]] = {set_key: [] for set_key in L.SETS}
    for element in elements:
        groups[element.set].append(element)
    return {k: sorted(v, key=lambda e: e.key) for k, v in groups.items() if v}
