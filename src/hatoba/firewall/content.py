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
from hatoba.model.network import IPNetwork

_COMMENT_MAX = 128  # bytes nft keeps in a comment

SetKey = tuple[str, str]  # (family, set name)
Atom = str | int
Ident = tuple[SetKey, tuple[Atom, ...]]

# Two ports of one container port (published on two host ports) make the same element here.
SHARED_SETS = frozenset(
    {(L.INET, L.PUBLISHED), (L.INET, L.OWN_PORT), (L.INET, L.PUBLISHED6), (L.INET, L.OWN_PORT6)}
)
_PREFIX_SETS = frozenset({(L.INET, L.MASQ_SUBNETS), (L.INET, L.MASQ_SUBNETS6)})


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
        if self.set in _PREFIX_SETS:
            addr, length = self.key
            return j.prefix(str(addr), int(length))
        if self.set == (L.INET, L.ROUTED_SUBNETS):
            link, addr, length = self.key
            return j.concat(link, j.prefix(str(addr), int(length)))
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
        for subnet in net.subnets:
            masq = L.MASQ_SUBNETS if subnet.version == 4 else L.MASQ_SUBNETS6
            out.append(Element((L.INET, masq), _prefix(subnet), None, note))
    if net.segment:
        out += [
            Element((L.INET, L.ROUTED_SUBNETS), (net.bridge, *_prefix(s)), None, note)
            for s in net.subnets
            if s.version == 4
        ]
    return out


def _prefix(subnet: IPNetwork) -> tuple[str, int]:
    return (str(subnet.network_address), subnet.prefixlen)


def endpoint_elements(ep: FwEndpoint, icc: bool) -> list[Element]:
    note, veth = comment(ep.container_name), ep.host_ifname
    out = [
        Element((L.BRIDGE, L.PORTS), (veth,), None, note),
        Element((L.BRIDGE, L.PORT_MACS), (veth, ep.mac.lower()), None, note),
    ]
    sources = (ep.ipv4, ep.ipv6, ep.link_local, *ep.link_local_ips)
    out += [
        Element(
            (L.BRIDGE, L.PORT_IPS if a.version == 4 else L.PORT_IP6S), (veth, str(a)), None, note
        )
        for a in sources
        if a is not None
    ]
    if not icc:
        out.append(Element((L.BRIDGE, L.NO_ICC_PORTS), (veth,), None, note))
    return out


@dataclass(frozen=True)
class _Family:
    """A port's elements in one address family: the sets and maps they go to."""

    published: str
    own_port: str
    any_addr: str
    any_port: str
    ip_addr: str
    ip_port: str


_V4 = _Family(
    L.PUBLISHED, L.OWN_PORT, L.DNAT_ANY_ADDR, L.DNAT_ANY_PORT, L.DNAT_IP_ADDR, L.DNAT_IP_PORT
)
_V6 = _Family(
    L.PUBLISHED6, L.OWN_PORT6, L.DNAT_ANY_ADDR6, L.DNAT_ANY_PORT6, L.DNAT_IP_ADDR6, L.DNAT_IP_PORT6
)


def _targets(port: FwPort) -> list[tuple[_Family, str]]:
    """The families `port` is published in, each with the container's address in it: both
    for a port on every address (IPv6 only if the container has an IPv6 address), else the
    host address's own. Nothing for `::1` (NAT cannot serve it: see layout)."""
    out: list[tuple[_Family, str]] = []
    ip = port.host_ip
    if port.container_ip is not None and (ip is None or ip.version == 4):
        out.append((_V4, str(port.container_ip)))
    if port.container_ip6 is not None and (ip is None or (ip.version == 6 and not ip.is_loopback)):
        out.append((_V6, str(port.container_ip6)))
    return out


def port_elements(port: FwPort) -> list[Element]:
    note, out = comment(port.container_name), []
    for family, cip in _targets(port):
        target = (cip, port.protocol, port.container_port)
        if port.host_ip is None or port.host_ip.is_unspecified:
            key: tuple[Atom, ...] = (port.protocol, port.host_port)
            addr_map, port_map = family.any_addr, family.any_port
        else:
            key = (str(port.host_ip), port.protocol, port.host_port)
            addr_map, port_map = family.ip_addr, family.ip_port
        out += [
            Element((L.INET, family.published), target, None, note),
            Element((L.INET, family.own_port), (cip, *target), None, note),
            Element((L.INET, addr_map), key, cip, note),
            Element((L.INET, port_map), key, port.container_port, note),
        ]
    return out


def shared_idents(port: FwPort) -> list[Ident]:
    """The idents of `port`'s elements in SHARED_SETS (cheaper than port_elements)."""
    out: list[Ident] = []
    for family, cip in _targets(port):
        target = (cip, port.protocol, port.container_port)
        out += [((L.INET, family.published), target), ((L.INET, family.own_port), (cip, *target))]
    return out


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
