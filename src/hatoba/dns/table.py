"""The name table: who is called what on which network, and what each asker may see.

A table is immutable once built: the engine publishes every change and the resolver swaps in
a new table whole, so queries read a consistent table without locks. A new table is made from
the one before (`updated`): only the containers whose records changed are taken out and put
in again, on copies of the networks they touch, so a change costs what that container's names
cost however many others there are.

What a container can resolve depends only on its networks (and its links): a `View` answers
for one set of networks, looking a name up in them in order (the first network that knows a
name answers it, as Docker walks the endpoints) the first time it is asked and keeping the
answer records (A and AAAA), keyed by the lower-case wire name, for the next time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address

from hatoba.dns import wire
from hatoba.dns.records import DnsRecord

TTL = 600  # Docker's respTTL
GATEWAY_NAMES = ("host.docker.internal", "gateway.docker.internal")
_GATEWAY_KEYS = tuple(k for name in GATEWAY_NAMES if (k := wire.encode_name(name)) is not None)
_MAX_REPLIES = 4096
_MAX_ANSWERS = 4096

Address = IPv4Address | IPv6Address
# a local name's A and AAAA answer records (a name may have addresses of one family only)
Answers = tuple[tuple[bytes, ...], tuple[bytes, ...]]


@dataclass
class _Network:
    name: str
    # wire name → its addresses in order of arrival (a dict: a shared alias may have hundreds)
    addresses: dict[bytes, dict[Address, None]] = field(default_factory=dict)
    # wire name of the reverse pointer → (address, PTR answer record)
    ptr: dict[bytes, tuple[Address, bytes]] = field(default_factory=dict)

    def copy(self) -> _Network:
        return _Network(self.name, dict(self.addresses), dict(self.ptr))


class View:
    """What one set of networks resolves, answered on first use and kept.

    `replies` remembers whole answers that never change (one address, no data, PTR) by the
    query's bytes after its id: a repeated question costs one dictionary lookup.
    """

    def __init__(
        self,
        networks: tuple[_Network, ...],
        gateway: IPv4Address | None,
        links: Mapping[bytes, Answers] | None = None,
    ) -> None:
        self._networks = networks
        self._gateway = gateway
        self._links = links or {}
        self._answers: dict[bytes, Answers | None] = {}
        self.replies: dict[bytes, bytes] = {}

    def answers(self, key: bytes) -> Answers | None:
        """The A and AAAA records of a name, None when it is not ours."""
        try:
            return self._answers[key]
        except KeyError:
            pass
        found = self._links.get(key)
        if found is None:
            found = next((_records(a) for n in self._networks if (a := n.addresses.get(key))), None)
        if found is None and self._gateway is not None and key in _GATEWAY_KEYS:
            found = (_a_record(self._gateway),), ()
        if len(self._answers) >= _MAX_ANSWERS:
            self._answers.clear()  # a client walking through many names that are not ours
        self._answers[key] = found
        return found

    def ptr(self, key: bytes) -> bytes | None:
        return next((p[1] for n in self._networks if (p := n.ptr.get(key))), None)

    def remember(self, query_tail: bytes, reply_tail: bytes) -> None:
        if len(self.replies) >= _MAX_REPLIES:
            self.replies.clear()  # a client walking through many spellings of many names
        self.replies[query_tail] = reply_tail


class NameTable:
    def __init__(
        self,
        records: Iterable[DnsRecord] = (),
        gateways: Mapping[str, IPv4Address] | None = None,
    ) -> None:
        self._networks: dict[str, _Network] = {}
        # container id -> its records, in network order
        self._records_of: dict[str, tuple[DnsRecord, ...]] = {}
        self._gateways = dict(gateways or {})
        self._views: dict[tuple[str, ...], View] = {}
        self._view_of: dict[str, View] = {}
        # a table made from nothing shares nothing: its sets of addresses grow in place
        self._fresh = True
        copied: set[str] = set()
        for cid, mine in by_container(records).items():
            self._put(cid, mine, copied)
        self._fresh = False

    def updated(
        self, changes: Mapping[str, Sequence[DnsRecord]], gateways: Mapping[str, IPv4Address]
    ) -> NameTable:
        """The table with these containers' names now these records (none: they have none),
        made from this one, which stays as it was (queries may still be reading it)."""
        table = NameTable.__new__(NameTable)
        table._networks = dict(self._networks)
        table._records_of = dict(self._records_of)
        table._gateways = dict(gateways)
        table._views, table._view_of = {}, {}
        table._fresh = False
        copied: set[str] = set()
        for cid, records in changes.items():
            mine = tuple(records)
            old = self._records_of.get(cid)
            if old == mine:
                continue
            if old is not None:
                table._take_out(cid, copied)
            if mine:
                table._put(cid, mine, copied)
        return table

    def _network(self, record: DnsRecord, copied: set[str]) -> _Network:
        """The network of a record, ours to change (copied once per new table)."""
        network = self._networks.get(record.network_id)
        if network is None:
            network = self._networks[record.network_id] = _Network(record.network_name)
        elif record.network_id not in copied:
            network = self._networks[record.network_id] = network.copy()
        copied.add(record.network_id)
        return network

    def _put(self, cid: str, records: tuple[DnsRecord, ...], copied: set[str]) -> None:
        self._records_of[cid] = records
        for record in records:
            network = self._network(record, copied)
            mine = dict.fromkeys(record.addresses)
            for key in _keys(record):
                addresses = network.addresses.get(key)
                if addresses is None:
                    network.addresses[key] = dict(mine)
                elif self._fresh:
                    addresses.update(mine)
                else:  # shared with the table this one was made from
                    network.addresses[key] = {**addresses, **mine}
            if not record.names:
                continue
            target = wire.encode_name(f"{record.names[0]}.{record.network_name}.")
            for address in record.addresses:
                reverse = wire.encode_name(address.reverse_pointer)
                if target is not None and reverse is not None and reverse not in network.ptr:
                    answer = wire.answer_record(wire.TYPE_PTR, target, TTL)
                    network.ptr[reverse] = (address, answer)

    def _take_out(self, cid: str, copied: set[str]) -> None:
        for record in self._records_of.pop(cid):
            network = self._network(record, copied)
            mine = set(record.addresses)
            for key in _keys(record):
                addresses = {a: None for a in network.addresses.get(key, ()) if a not in mine}
                if addresses:
                    network.addresses[key] = addresses
                else:
                    network.addresses.pop(key, None)
            for address in mine:
                reverse = wire.encode_name(address.reverse_pointer)
                if reverse is not None and network.ptr.get(reverse, (None,))[0] == address:
                    del network.ptr[reverse]
            if not network.addresses:
                del self._networks[record.network_id]

    def view(self, container_id: str) -> View:
        """What `container_id` can resolve: names on its own networks only."""
        view = self._view_of.get(container_id)
        if view is None:
            records = self._records_of.get(container_id, ())
            networks = tuple(dict.fromkeys(r.network_id for r in records))
            links = [(r.network_id, alias, name) for r in records for alias, name in r.links]
            if links:
                view = self._make_view(networks, self._link_answers(links))
            else:
                view = self._views.get(networks)
                if view is None:
                    view = self._views[networks] = self._make_view(networks)
            self._view_of[container_id] = view
        return view

    def _make_view(
        self, network_ids: tuple[str, ...], links: dict[bytes, Answers] | None = None
    ) -> View:
        gateway = next((self._gateways[n] for n in network_ids if n in self._gateways), None)
        networks = tuple(self._networks[n] for n in network_ids if n in self._networks)
        return View(networks, gateway, links)

    def _link_answers(self, links: list[tuple[str, str, str]]) -> dict[bytes, Answers]:
        """Each alias answers what its container's name answers on the link's network (the
        first network where it does, as Docker walks the endpoints)."""
        answers: dict[bytes, Answers] = {}
        for network_id, alias, name in links:
            network = self._networks.get(network_id)
            target = wire.encode_name(name.lower())
            addresses = network.addresses.get(target) if network and target else None
            key = wire.encode_name(alias.lower())
            if addresses and key is not None and key not in answers:
                answers[key] = _records(addresses)
        return answers


def by_container(records: Iterable[DnsRecord]) -> dict[str, tuple[DnsRecord, ...]]:
    """Records grouped by container, in order."""
    grouped: dict[str, list[DnsRecord]] = {}
    for record in records:
        grouped.setdefault(record.container_id, []).append(record)
    return {cid: tuple(mine) for cid, mine in grouped.items()}


def _keys(record: DnsRecord) -> list[bytes]:
    """The wire names a record answers: each name alone and with the network's name."""
    suffix = "." + record.network_name.lower()
    spelled = (s for name in record.names for s in (name.lower(), name.lower() + suffix))
    return [k for s in dict.fromkeys(spelled) if (k := wire.encode_name(s)) is not None]


def _records(addresses: Mapping[Address, None]) -> Answers:
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
