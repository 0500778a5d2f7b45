"""The engine's live state: immutable snapshots, and how Docker finds objects by id, name or
id prefix.

The thread rule: a `State` is never changed after it is made. The engine's worker thread
commits by building the next snapshot and swapping the reference (`Core.commit`), so any other
thread (the API's event loop, the DNS server) may take `engine.state` once and read it as
long as it likes, with no lock and no "dictionary changed size during iteration". Address
bookkeeping (`Addresses`) is the engine thread's own and is never read elsewhere.

The lookups a snapshot carries (`_Index`) are persistent maps (`immutables.Map`, a hash array
mapped trie): the next snapshot's share all but the changed entries with the last one's. At
1000 containers, copying those dicts (names, veths, each network's addresses) at every commit
cost ~0.5 ms of a start, an attach or a detach, most of it the refcounts of every entry's
objects, touched cold. The snapshot's own maps stay dicts: their order is the order things
were made in, which listings follow.

A snapshot remembers which containers the last HISTORY changes before it touched, and from
which snapshot each started (`containers_touched_since`): a follower of the commits (the event
log) looks at those, not at every container of the two snapshots.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from ipaddress import ip_address
from types import MappingProxyType
from typing import TypeVar

from immutables import Map, MapMutation

from hatoba.errors import InvalidArgument, NotFound
from hatoba.model.container import Container
from hatoba.model.host import TunnelPeer
from hatoba.model.mounts import VOLUME, Volume
from hatoba.model.network import IPAddress, IPNetwork, Network

HISTORY = 16  # changes a snapshot remembers the touched containers of
_SERIALS = itertools.count()


@dataclass(frozen=True)
class State:
    networks: Mapping[str, Network] = field(default_factory=lambda: MappingProxyType({}))
    containers: Mapping[str, Container] = field(default_factory=lambda: MappingProxyType({}))
    volumes: Mapping[str, Volume] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        # whatever the caller passed, the snapshot keeps a private read-only copy
        object.__setattr__(self, "networks", MappingProxyType(dict(self.networks)))
        object.__setattr__(self, "containers", MappingProxyType(dict(self.containers)))
        object.__setattr__(self, "volumes", MappingProxyType(dict(self.volumes)))
        object.__setattr__(self, "_index", None)
        object.__setattr__(self, "_serial", next(_SERIALS))
        object.__setattr__(self, "_history", ())

    def changed(
        self,
        networks: Iterable[Network] = (),
        containers: Iterable[Container] = (),
        removed_networks: Iterable[str] = (),
        removed_containers: Iterable[str] = (),
        volumes: Iterable[Volume] = (),
        removed_volumes: Iterable[str] = (),
    ) -> State:
        """The next snapshot: this one with these objects put and removed."""
        containers = list(containers)
        removed = [cid for cid in removed_containers if cid in self.containers]
        snapshot = State._owning(
            _changed(self.networks, ((n.id, n) for n in networks), removed_networks),
            _changed(self.containers, ((c.id, c) for c in containers), removed),
            _changed(self.volumes, ((v.name, v) for v in volumes), removed_volumes),
        )
        index: _Index | None = self.__dict__["_index"]
        if index is not None:
            # the lookups follow the changed containers only, whatever the others number
            gone = [self.containers[c.id] for c in containers if c.id in self.containers]
            gone += [self.containers[cid] for cid in removed]
            object.__setattr__(snapshot, "_index", index.changed(gone, containers))
        touched = (*(c.id for c in containers), *removed)
        history = self.__dict__["_history"][1 - HISTORY :]
        object.__setattr__(snapshot, "_history", (*history, (self.__dict__["_serial"], touched)))
        return snapshot

    def containers_touched_since(self, before: State) -> list[str] | None:
        """The ids of the containers put or removed on the way from `before` to this snapshot,
        in the order they were (each once); None when this snapshot is not `before`'s or one
        of the next HISTORY after it."""
        history: tuple[tuple[int, tuple[str, ...]], ...] = self.__dict__["_history"]
        if before is self:
            return []
        serial = before.__dict__["_serial"]
        for i, (base, _) in enumerate(history):
            if base == serial:
                return list(dict.fromkeys(cid for _, ids in history[i:] for cid in ids))
        return None

    @classmethod
    def _owning(
        cls,
        networks: dict[str, Network],
        containers: dict[str, Container],
        volumes: dict[str, Volume],
    ) -> State:
        """A snapshot around fresh dicts nobody else holds (no copy needed)."""
        snapshot = object.__new__(cls)
        object.__setattr__(snapshot, "networks", MappingProxyType(networks))
        object.__setattr__(snapshot, "containers", MappingProxyType(containers))
        object.__setattr__(snapshot, "volumes", MappingProxyType(volumes))
        object.__setattr__(snapshot, "_index", None)
        object.__setattr__(snapshot, "_serial", next(_SERIALS))
        object.__setattr__(snapshot, "_history", ())
        return snapshot

    @property
    def _lookups(self) -> _Index:
        """Containers by name and addresses by network: made once, then carried from each
        snapshot to the next (a snapshot is read by many threads: building it twice is
        harmless)."""
        index: _Index | None = self.__dict__["_index"]
        if index is None:
            index = _Index().changed((), self.containers.values())
            object.__setattr__(self, "_index", index)
        return index

    # --- lookups ----------------------------------------------------------------------------

    def find_network(self, ref: str) -> Network | None:
        if ref in self.networks:
            return self.networks[ref]
        by_name = [n for n in self.networks.values() if n.name == ref]
        if by_name:
            return by_name[0]
        matches = [n for n in self.networks.values() if ref and n.id.startswith(ref)]
        if len(matches) > 1:
            raise InvalidArgument(f"network {ref} is ambiguous ({len(matches)} matches found)")
        return matches[0] if matches else None

    def network(self, ref: str) -> Network:
        found = self.find_network(ref)
        if found is None:
            raise NotFound(f"network {ref} not found")
        return found

    def network_by_name(self, name: str) -> Network | None:
        return next((n for n in self.networks.values() if n.name == name), None)

    def find_container(self, ref: str) -> Container | None:
        if ref in self.containers:
            return self.containers[ref]
        name = ref[1:] if ref.startswith("/") else ref
        by_name = self._lookups.names.get(name)
        if by_name is not None:
            return self.containers[by_name]
        matches = [c for c in self.containers.values() if ref and c.id.startswith(ref)]
        if len(matches) > 1:
            raise InvalidArgument(f"multiple IDs found with provided prefix: {ref}")
        return matches[0] if matches else None

    def container(self, ref: str) -> Container:
        found = self.find_container(ref)
        if found is None:
            raise NotFound(f"No such container: {ref}")
        return found

    def volume(self, name: str) -> Volume:
        found = self.volumes.get(name)
        if found is None:
            raise NotFound(f"get {name}: no such volume")
        return found

    # --- derived facts ----------------------------------------------------------------------

    def volume_users(self, name: str) -> list[str]:
        """The containers whose mounts name the volume (Docker's references)."""
        return [
            c.id
            for c in self.containers.values()
            if any(m.type == VOLUME and m.name == name for m in c.mounts)
        ]

    def container_named(self, name: str) -> Container | None:
        cid = self._lookups.names.get(name)
        return None if cid is None else self.containers[cid]

    @property
    def container_names(self) -> Collection[str]:
        return self._lookups.names

    @property
    def endpoint_host_ifnames(self) -> Collection[str]:
        """The host-side interfaces of live endpoints (running containers' veths)."""
        return self._lookups.host_ifnames

    def addresses_in_use(self, network_id: str) -> Collection[IPAddress]:
        """Of both families: the snapshot's own lookup, not a copy (a copy of a network's
        1000 addresses cost ~1 ms per start)."""
        return self._lookups.in_use.get(network_id, Map())

    def reserved_static(self, network_id: str, excluding: str = "") -> set[IPAddress]:
        """Addresses other containers asked for with `--ip` or `--ip6` (held even while they
        are stopped)."""
        held: Mapping[IPAddress, str] = self._lookups.static.get(network_id, Map())
        return {address for address, cid in held.items() if cid != excluding}

    def attached(self, network_id: str) -> list[Container]:
        return [c for c in self.containers.values() if c.endpoint_on(network_id) is not None]

    def members(self, network_id: str) -> list[Container]:
        return [c for c in self.containers.values() if c.config_on(network_id) is not None]


@dataclass
class Addresses:
    """Address bookkeeping the engine thread keeps beside the snapshots (and in the store)."""

    # network id (and `/6` for IPv6) -> the address handed out last (allocation rotates
    # from there)
    last: dict[str, str] = field(default_factory=dict)
    # network id -> {address: host veth} of detached endpoints whose veth may still exist
    pending: dict[str, dict[str, str]] = field(default_factory=dict)

    def held(self, network_id: str) -> set[IPAddress]:
        return {_parsed(a) for a in self.pending.get(network_id, {})}

    def last_of(self, network_id: str, version: int) -> IPAddress | None:
        last = self.last.get(_last_key(network_id, version))
        return ip_address(last) if last else None

    def handed_out(self, network_id: str, address: IPAddress) -> None:
        self.last[_last_key(network_id, address.version)] = str(address)

    def forget_network(self, network_id: str) -> None:
        for version in (4, 6):
            self.last.pop(_last_key(network_id, version), None)
        self.pending.pop(network_id, None)


# read once: a burst of detaches holds hundreds of addresses, read at every allocation
_parsed = lru_cache(maxsize=1 << 14)(ip_address)


def _last_key(network_id: str, version: int) -> str:
    return network_id if version == 4 else f"{network_id}/6"


@dataclass
class OverlayBook:
    """What the engine thread did to follow the cluster store (see engine/cluster.py)."""

    # tunnel device -> the remote endpoints programmed behind it
    peers: dict[str, frozenset[TunnelPeer]] = field(default_factory=dict)
    # the view's epoch whose registrations are done (-1: none yet)
    registered_epoch: int = -1


@dataclass(frozen=True)
class HeldNetwork:
    """A removed network whose bridges the kernel is still deleting (on a reaper thread): its
    name, subnets and bridge names are not handed out again until they are gone."""

    name: str
    subnets: tuple[IPNetwork, ...]
    bridges: tuple[str, ...]

    def conflicts(self, name: str, subnets: Collection[IPNetwork]) -> bool:
        return name == self.name or any(a.overlaps(b) for a in subnets for b in self.subnets)


T = TypeVar("T")
_ByAddress = Map[str, Map[IPAddress, str]]  # network id -> address -> container id


def _changed(
    before: Mapping[str, T], put: Iterable[tuple[str, T]], removed: Iterable[str]
) -> dict[str, T]:
    """`before` (a snapshot's read-only dict) with these entries put and removed."""
    # the proxy's copy() is the dict's own: a copy of its table, no lookup per key
    after: dict[str, T] = before.copy() if isinstance(before, MappingProxyType) else dict(before)
    after.update(put)
    for key in removed:
        after.pop(key, None)
    return after


@dataclass(frozen=True)
class _Index:
    """Containers by name; per network, the addresses of live endpoints and the `--ip` ones
    asked for, each with its container's id. Never changed: `changed` makes the next one,
    sharing all but what the changed containers touch."""

    names: Map[str, str] = field(default_factory=Map)
    in_use: _ByAddress = field(default_factory=Map)
    static: _ByAddress = field(default_factory=Map)
    # host-side interface of a live endpoint -> its container's id
    host_ifnames: Map[str, str] = field(default_factory=Map)

    def changed(self, gone: Iterable[Container], made: Iterable[Container]) -> _Index:
        """`gone`: the containers as they were (removed or changed); `made`: as they are."""
        names, host_ifnames = self.names.mutate(), self.host_ifnames.mutate()
        in_use, static = _ByNetwork(self.in_use), _ByNetwork(self.static)
        for c in gone:
            if names.get(c.name) == c.id:
                del names[c.name]
            for ep in c.endpoints:
                for address in ep.addresses:
                    in_use.forget(ep.network_id, address, c.id)
                if ep.host_ifname and host_ifnames.get(ep.host_ifname) == c.id:
                    del host_ifnames[ep.host_ifname]
            for cfg in c.networks:
                for asked in (cfg.ipv4, cfg.ipv6):
                    static.forget(cfg.network_id, asked, c.id)
        for c in made:
            names[c.name] = c.id
            for ep in c.endpoints:
                for address in ep.addresses:
                    in_use.put(ep.network_id, address, c.id)
                if ep.host_ifname:
                    host_ifnames[ep.host_ifname] = c.id
            for cfg in c.networks:
                for asked in (cfg.ipv4, cfg.ipv6):
                    static.put(cfg.network_id, asked, c.id)
        return _Index(names.finish(), in_use.finish(), static.finish(), host_ifnames.finish())


class _ByNetwork:
    """The next _ByAddress, made from one that stays as it was."""

    def __init__(self, table: _ByAddress) -> None:
        self._table = table
        self._changing: dict[str, MapMutation[IPAddress, str]] = {}

    def _writable(self, network_id: str) -> MapMutation[IPAddress, str]:
        changing = self._changing.get(network_id)
        if changing is None:
            before: Map[IPAddress, str] = self._table.get(network_id, Map())
            changing = self._changing[network_id] = before.mutate()
        return changing

    def forget(self, network_id: str, address: IPAddress | None, cid: str) -> None:
        if address is None:
            return
        changing = self._changing.get(network_id)
        now = self._table.get(network_id, Map()) if changing is None else changing
        if now.get(address) == cid:
            self._writable(network_id).pop(address, None)

    def put(self, network_id: str, address: IPAddress | None, cid: str) -> None:
        if address is not None:
            self._writable(network_id)[address] = cid

    def finish(self) -> _ByAddress:
        if not self._changing:
            return self._table
        table = self._table.mutate()
        for network_id, changing in self._changing.items():
            table[network_id] = changing.finish()
        return table.finish()
