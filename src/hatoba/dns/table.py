"""The name table: who is called what on which network, and what each asker may see.

A table is immutable once built: the engine builds a new one for every change and swaps it in
whole, so the resolver reads a consistent table without locks. What a container can resolve
depends only on its networks, so the answers are prepared once per set of networks (a
`View`), on first use, as ready-made answer records keyed by the lower-case wire name. A
container with links has a view of its own: its networks' view with its link aliases first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address

from hatoba.dns import wire
from hatoba.dns.records import DnsRecord

TTL = 600  # Docker's respTTL
GATEWAY_NAMES = ("host.docker.internal", "gateway.docker.internal")


_MAX_REPLIES = 4096


@dataclass
class View:
    """What one set of networks resolves, as answer records for the question's name.

    `a` and `aaaa` have the same keys, every local name: a name may have addresses of one
    family only (a name with no data of the asked type is answered empty, never forwarded).
    `replies` remembers whole answers that never change (one address, no data, PTR) by the
    query's bytes after its id: a repeated question costs one dictionary lookup.
    """

    a: dict[bytes, tuple[bytes, ...]] = field(default_factory=dict)
    aaaa: dict[bytes, tuple[bytes, ...]] = field(default_factory=dict)
    ptr: dict[bytes, bytes] = field(default_factory=dict)
    replies: dict[bytes, bytes] = field(default_factory=dict)

    def remember(self, query_tail: bytes, reply_tail: bytes) -> None:
        if len(self.replies) >= _MAX_REPLIES:
            self.replies.clear()  # a client walking through many spellings of many names
        self.replies[query_tail] = reply_tail


@dataclass
class _Network:
    name: str
    # name → its addresses in order of arrival (a dict: a shared alias may have hundreds)
    addresses: dict[str, dict[IPv4Address | IPv6Address, None]] = field(default_factory=dict)
    ptr: dict[IPv4Address | IPv6Address, str] = field(default_factory=dict)


class NameTable:
    def __init__(
        self,
        records: Iterable[DnsRecord] = (),
        gateways: Mapping[str, IPv4Address] | None = None,
    ) -> None:
        self._networks: dict[str, _Network] = {}
        self._networks_of: dict[str, list[str]] = {}
        # container id -> (network id, alias, linked container's name), in network order
        self._links_of: dict[str, list[tuple[str, str, str]]] = {}
        self._gateways = dict(gateways or {})
        for record in records:
            self._add(record)
        self._views: dict[tuple[str, ...], View] = {}
        self._view_of: dict[str, View] = {}

    def _add(self, record: DnsRecord) -> None:
        network = self._networks.setdefault(record.network_id, _Network(record.network_name))
        suffix = "." + record.network_name.lower()
        for name in record.names:
            for spelled in (name.lower(), name.lower() + suffix):
                known = network.addresses.setdefault(spelled, {})
                known.update(dict.fromkeys(record.addresses))
        if record.names:
            for address in record.addresses:
                network.ptr.setdefault(address, f"{record.names[0]}.{record.network_name}.")
        joined = self._networks_of.setdefault(record.container_id, [])
        if record.network_id not in joined:
            joined.append(record.network_id)
        if record.links:
            self._links_of.setdefault(record.container_id, []).extend(
                (record.network_id, alias, name) for alias, name in record.links
            )

    def view(self, container_id: str) -> View:
        """What `container_id` can resolve: names on its own networks only."""
        view = self._view_of.get(container_id)
        if view is None:
            networks = tuple(self._networks_of.get(container_id, ()))
            links = self._links_of.get(container_id)
            if links:
                view = self._build(networks)
                self._link_answers(links, view)
            else:
                view = self._views.get(networks)
                if view is None:
                    view = self._views[networks] = self._build(networks)
            self._view_of[container_id] = view
        return view

    def _link_answers(self, links: list[tuple[str, str, str]], view: View) -> None:
        """Each alias answers what its container's name answers on the link's network (the
        first network where it does, as Docker walks the endpoints)."""
        done: set[bytes] = set()
        for network_id, alias, name in links:
            addresses = self._networks[network_id].addresses.get(name.lower())
            key = wire.encode_name(alias.lower())
            if addresses and key is not None and key not in done:
                done.add(key)
                view.a[key], view.aaaa[key] = _records(addresses)

    def _build(self, network_ids: tuple[str, ...]) -> View:
        view = View()
        # The first network that knows a name answers it, as Docker walks the endpoints.
        for network_id in network_ids:
            network = self._networks[network_id]
            for name, addresses in network.addresses.items():
                key = wire.encode_name(name)
                if key is not None and key not in view.a:
                    view.a[key], view.aaaa[key] = _records(addresses)
            for address, target in network.ptr.items():
                rdata = wire.encode_name(target)
                key = wire.encode_name(address.reverse_pointer)
                if rdata is not None and key is not None and key not in view.ptr:
                    view.ptr[key] = wire.answer_record(wire.TYPE_PTR, rdata, TTL)
        gateway = next((self._gateways[n] for n in network_ids if n in self._gateways), None)
        if gateway is not None:
            for name in GATEWAY_NAMES:
                key = wire.encode_name(name)
                if key is not None and key not in view.a:
                    view.a[key], view.aaaa[key] = (_a_record(gateway),), ()
        return view


def _records(
    addresses: dict[IPv4Address | IPv6Address, None],
) -> tuple[tuple[bytes, ...], tuple[bytes, ...]]:
    """A and AAAA answer records of these addresses, in their order."""
    return (
        tuple(_a_record(a) for a in addresses if isinstance(a, IPv4Address)),
        tuple(
            wire.answer_record(wire.TYPE_AAAA, a.packed, TTL)
            for a in addresses
            if isinstance(a, IPv6Address)
        ),
    )


def _a_record(address: IPv4Address) -> bytes:
    return wire.answer_record(wire.TYPE_A, address.packed, TTL)
