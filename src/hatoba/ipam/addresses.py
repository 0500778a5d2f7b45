"""Addresses inside one network's pool.

Allocation rotates: the search starts after the address handed out last, so an address freed a
moment ago (whose ARP and DNS entries may still be cached by peers) is the last to be reused.
"""

from __future__ import annotations

from collections.abc import Container

from hatoba.errors import Conflict, InvalidArgument
from hatoba.model.network import IPAddress, IpamPool, Network


def _usable(pool: IpamPool) -> tuple[int, int]:
    """First and last usable address (as ints) of the allocation range."""
    rng = pool.allocation_range
    first, last = int(rng.network_address), int(rng.broadcast_address)
    subnet = pool.subnet
    if subnet.version == 6:
        # the subnet-router anycast address (the subnet's first) is never a host's
        return max(first, int(subnet.network_address) + 1), last
    if subnet.prefixlen < 31:
        first = max(first, int(subnet.network_address) + 1)
        last = min(last, int(subnet.broadcast_address) - 1)
    if rng != subnet and rng.prefixlen < 31:
        # Docker never hands out the range's own network or broadcast address either
        first = max(first, int(rng.network_address) + 1)
        last = min(last, int(rng.broadcast_address) - 1)
    return first, last


def allocate(
    network: Network,
    version: int,
    used: Container[IPAddress],
    last: IPAddress | None,
) -> IPAddress:
    """A free address of one family: from the first of the network's subnets that has one
    (as libnetwork's IPAM), the search in a subnet starting after `last`."""
    pools = network.pools(version)
    if not pools:
        raise Conflict(f"network {network.name} has no IPv{version} address pool")
    for pool in pools:
        found = _free_in(pool, used, last)
        if found is not None:
            return found
    raise Conflict(
        f"no available IPv{version} addresses on this network's address pools: "
        f"{network.name} ({network.id})"
    )


def _free_in(
    pool: IpamPool, used: Container[IPAddress], last: IPAddress | None
) -> IPAddress | None:
    first, end = _usable(pool)
    size = end - first + 1
    start = first
    if last is not None and last.version == pool.version and first <= int(last) < end:
        start = int(last) + 1
    address_of = type(pool.subnet.network_address)
    reserved = {pool.gateway, *pool.aux_addresses.values()}
    for step in range(max(size, 0)):
        candidate = address_of(first + (start - first + step) % size)
        if candidate not in reserved and candidate not in used:
            return candidate
    return None


def claim(network: Network, requested: IPAddress, used: Container[IPAddress]) -> IPAddress:
    """A user-chosen address (`--ip`, `--ip6`), with Docker's checks and messages."""
    pools = network.pools(requested.version)
    if not network.user_defined:
        raise InvalidArgument(
            "user specified IP address is supported on user defined networks only"
        )
    if not any(p.user_subnet for p in pools):
        raise InvalidArgument(
            "user specified IP address is supported only when connecting to networks "
            "with user configured subnets"
        )
    pool = next((p for p in pools if requested in p.subnet), None)
    if pool is None:
        raise InvalidArgument(
            f"Invalid address {requested}: It does not belong to any of this network's subnets."
        )
    if pool.subnet.prefixlen < 31:
        # Docker's IPAM holds both ends of the subnet, and answers so
        for end, what in (
            (pool.subnet.network_address, "network"),
            (pool.subnet.broadcast_address, "broadcast"),
        ):
            if requested == end:
                raise Conflict(
                    f"Address already in use: {requested} is the {what} address of {pool.subnet}"
                )
    reserved = (pool.gateway, *pool.aux_addresses.values())
    if requested in reserved or requested in used:
        raise Conflict("Address already in use")
    return requested


def mac_for(address: IPAddress) -> str:
    """`02:42:` + the IPv4 bytes, as Docker up to 27 (stable and readable in captures); on
    an IPv6-only network, the last four bytes of the IPv6 address."""
    return "02:42:" + ":".join(f"{b:02x}" for b in address.packed[-4:])


def parse_mac(text: str) -> str:
    """A MAC address a user asked for (`--mac-address`), as lower-case `xx:xx:xx:xx:xx:xx`.
    Only a unicast address can be an interface's own: the kernel refuses the others."""
    octets = text.replace("-", ":").split(":")
    try:
        values = [int(o, 16) for o in octets if len(o) == 2]
    except ValueError:
        values = []
    if len(values) != 6 or len(octets) != 6:
        raise InvalidArgument(f"{text} is not a valid mac address")
    if values[0] & 1 or not any(values):
        raise InvalidArgument(f"{text} is not a unicast mac address: an interface cannot own it")
    return ":".join(f"{v:02x}" for v in values)
