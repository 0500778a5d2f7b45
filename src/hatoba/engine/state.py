"""The engine's live state in memory, and how Docker finds objects by id, name or id prefix."""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address

from hatoba.errors import InvalidArgument, NotFound
from hatoba.model.container import Container
from hatoba.model.network import Network


@dataclass
class State:
    networks: dict[str, Network] = field(default_factory=dict)
    containers: dict[str, Container] = field(default_factory=dict)
    # network id -> the address handed out last (allocation rotates from there)
    last_address: dict[str, str] = field(default_factory=dict)
    # network id -> {address: host veth} of detached endpoints whose veth may still exist
    pending: dict[str, dict[str, str]] = field(default_factory=dict)

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
        by_name = next((c for c in self.containers.values() if c.name == name), None)
        if by_name is not None:
            return by_name
        matches = [c for c in self.containers.values() if ref and c.id.startswith(ref)]
        if len(matches) > 1:
            raise InvalidArgument(f"multiple IDs found with provided prefix: {ref}")
        return matches[0] if matches else None

    def container(self, ref: str) -> Container:
        found = self.find_container(ref)
        if found is None:
            raise NotFound(f"No such container: {ref}")
        return found

    # --- derived facts ----------------------------------------------------------------------

    def used_addresses(self, network_id: str) -> set[IPv4Address]:
        used = {
            ep.ipv4
            for c in self.containers.values()
            for ep in c.endpoints
            if ep.network_id == network_id and ep.ipv4 is not None
        }
        used.update(IPv4Address(a) for a in self.pending.get(network_id, {}))
        return used

    def reserved_static(self, network_id: str, excluding: str = "") -> set[IPv4Address]:
        """Addresses other containers asked for with `--ip` (held even while they are stopped)."""
        return {
            cfg.ipv4
            for c in self.containers.values()
            if c.id != excluding
            for cfg in c.networks
            if cfg.network_id == network_id and cfg.ipv4 is not None
        }

    def attached(self, network_id: str) -> list[Container]:
        return [c for c in self.containers.values() if c.endpoint_on(network_id) is not None]

    def members(self, network_id: str) -> list[Container]:
        return [c for c in self.containers.values() if c.config_on(network_id) is not None]
