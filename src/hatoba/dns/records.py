"""What the engine tells the resolver: who is called what, and where unknown names go."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import NamedTuple

from hatoba.errors import InvalidArgument


@dataclass(frozen=True)
class DnsRecord:
    """A container's names and addresses on one network (A and AAAA, PTR under in-addr.arpa
    and ip6.arpa).

    `names` is Docker's list: container name, aliases on this network, 12-hex short id,
    hostname, deduplicated and in that order; `names[0]` answers PTR queries. The order of a
    container's records is the order of its networks: the first network that knows a name is
    the one that answers it.

    `links` are this container's links on this network, (alias, container name): for this
    container only, the alias answers what the name answers on the network (Docker's
    EndpointSettings.Links on a user-defined network).
    """

    container_id: str
    network_id: str
    network_name: str
    names: tuple[str, ...]
    ipv4: IPv4Address | None
    links: tuple[tuple[str, str], ...] = ()
    ipv6: IPv6Address | None = None

    @property
    def addresses(self) -> tuple[IPv4Address | IPv6Address, ...]:
        return tuple(a for a in (self.ipv4, self.ipv6) if a is not None)


@dataclass(frozen=True)
class Upstream:
    """An upstream resolver; `from_host` ones are asked from the service's own namespace
    (they were on the host's loopback), the others from inside the container's."""

    address: str
    port: int = 53
    from_host: bool = False

    def __post_init__(self) -> None:
        try:
            ip_address(self.address)
        except ValueError as exc:
            raise InvalidArgument(f"invalid DNS server address: {self.address}") from exc
        if not 0 < self.port < 65536:
            raise InvalidArgument(f"invalid DNS server port: {self.port}")

    @property
    def ipv6(self) -> bool:
        return ip_address(self.address).version == 6

    @property
    def endpoint(self) -> tuple[str, int]:
        return (str(ip_address(self.address)), self.port)


class DnsAttachment(NamedTuple):
    """A container the embedded DNS server serves: where, and where its unknown names go."""

    container_id: str
    netns_path: str
    upstreams: Sequence[Upstream]
    forward: bool
