"""What the engine tells the resolver: one record per container per network."""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address


@dataclass(frozen=True)
class DnsRecord:
    """A container's names and address on one network.

    `names` is Docker's list: container name, aliases on this network, 12-hex short id,
    hostname, deduplicated and in that order; `names[0]` answers PTR queries. The order of a
    container's records is the order of its networks: the first network that knows a name is
    the one that answers it.
    """

    container_id: str
    network_id: str
    network_name: str
    names: tuple[str, ...]
    ipv4: IPv4Address
