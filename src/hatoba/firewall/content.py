"""State → the variable part of the tables: set and map elements, and per-network chains."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field

from hatoba.firewall import layout as L
from hatoba.firewall import nftjson as j
from hatoba.firewall.model import FirewallState, FwNetwork, FwPort

_COMMENT_MAX = 128  # bytes nft keeps in a comment


def comment(text: str) -> str:
    return text.encode()[:_COMMENT_MAX].decode(errors="ignore")


@dataclass(frozen=True)
class Element:
    key: j.Json
    data: j.Json | None
    comment: str

    def json(self) -> j.Json:
        val = {"elem": {"val": self.key, "comment": self.comment}}
        return val if self.data is None else [val, self.data]


SetKey = tuple[str, str]  # (family, set name)


@dataclass
class Content:
    # (family, set) → canonical key text → element
    elements: dict[SetKey, dict[str, Element]] = field(default_factory=dict)
    # per-network chains of `inet hatoba`: name → rules
    chains: dict[str, tuple[L.Rule, ...]] = field(default_factory=dict)

    def add(self, family: str, name: str, key: j.Json, data: j.Json | None, note: str) -> None:
        canon = json.dumps(key, sort_keys=True)
        self.elements.setdefault((family, name), {}).setdefault(
            canon, Element(key, data, comment(note))
        )

    def elements_of(self, set_key: SetKey) -> dict[str, Element]:
        return self.elements.get(set_key, {})


def network_rules(net: FwNetwork) -> tuple[L.Rule, ...]:
    """Forwarded traffic that entered from `net`'s bridge; what falls through is checked by
    the base chain (to another hatoba bridge: published ports only)."""
    icc = j.accept() if net.icc else j.drop()
    rules: list[L.Rule] = [(f"{net.name}: ICC", [j.match(L.OIF, net.bridge), icc])]
    if net.internal:
        rules.append((f"{net.name}: INTERNAL NETWORK", [j.drop()]))
    else:
        rules.append(
            (f"{net.name}: OUTBOUND", [j.match(L.OIF, j.ref(L.BRIDGES), "!="), j.accept()])
        )
    return tuple((comment(text), exprs) for text, exprs in rules)


def build(state: FirewallState) -> Content:
    out = Content()
    for net in state.networks:
        _add_network(out, net)
    no_icc = {n.network_id for n in state.networks if not n.icc}
    for ep in state.endpoints:
        name, veth = ep.container_name, ep.host_ifname
        out.add(L.BRIDGE, L.PORTS, veth, None, name)
        out.add(L.BRIDGE, L.PORT_MACS, j.concat(veth, ep.mac.lower()), None, name)
        out.add(L.BRIDGE, L.PORT_IPS, j.concat(veth, str(ep.ipv4)), None, name)
        if ep.network_id in no_icc:
            out.add(L.BRIDGE, L.NO_ICC_PORTS, veth, None, name)
    for port in state.ports:
        _add_port(out, port)
    return out


def _add_network(out: Content, net: FwNetwork) -> None:
    chain = L.network_chain(net.bridge)
    out.chains[chain] = network_rules(net)
    out.add(L.INET, L.BRIDGES, net.bridge, None, net.name)
    out.add(L.INET, L.FROM_BRIDGE, net.bridge, j.jump(chain), net.name)
    if not net.internal and net.masquerade:
        subnet = j.prefix(str(net.subnet.network_address), net.subnet.prefixlen)
        out.add(L.INET, L.MASQ_SUBNETS, subnet, None, net.name)


def _add_port(out: Content, port: FwPort) -> None:
    name, cip, proto, cport = (
        port.container_name,
        str(port.container_ip),
        port.protocol,
        port.container_port,
    )
    out.add(L.INET, L.PUBLISHED, j.concat(cip, proto, cport), None, name)
    out.add(L.INET, L.OWN_PORT, j.concat(cip, cip, proto, cport), None, name)
    if port.host_ip is None or port.host_ip.is_unspecified:
        key = j.concat(proto, port.host_port)
        addr_map, port_map = L.DNAT_ANY_ADDR, L.DNAT_ANY_PORT
    else:
        key = j.concat(str(port.host_ip), proto, port.host_port)
        addr_map, port_map = L.DNAT_IP_ADDR, L.DNAT_IP_PORT
    out.add(L.INET, addr_map, key, cip, name)
    out.add(L.INET, port_map, key, cport, name)


def iter_elements(content: Content) -> Iterator[tuple[SetKey, Element]]:
    for set_key in L.SETS:
        for element in content.elements_of(set_key).values():
            yield set_key, element
