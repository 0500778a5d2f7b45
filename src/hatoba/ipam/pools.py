"""Subnets for networks: Docker's default pools, user subnets, gateways and ranges, for IPv4
and IPv6 alike."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from ipaddress import ip_address, ip_network
from types import MappingProxyType

from hatoba.errors import Conflict, Forbidden, InvalidArgument
from hatoba.model.daemon import DOCKER_ADDRESS_POOLS, ULA_ADDRESS_POOLS, AddressPool
from hatoba.model.network import EMPTY_ADDRESSES, IPAddress, IpamPool, IPNetwork

NO_POOL = (
    "could not find an available, non-overlapping IPv{} address pool among the defaults "
    "to assign to the network"
)


def choose_subnet(
    taken: Iterable[IPNetwork],
    pools: Sequence[AddressPool] = DOCKER_ADDRESS_POOLS,
    version: int = 4,
) -> IPNetwork:
    """The first subnet of one address family that overlaps nothing in `taken` (other
    networks, the host's routes and addresses), from that family's entries of `pools`
    (daemon.json's default-address-pools), or from Docker's defaults for the family when
    `pools` has none of it (as Docker >= 27 adds its ULA pool only then)."""
    used = [t for t in taken if t.version == version]
    mine = [p for p in pools if p.base.version == version]
    for pool in mine or (DOCKER_ADDRESS_POOLS if version == 4 else ULA_ADDRESS_POOLS):
        # walked as numbers: fd00::/8 in /64s is 2**56 subnets, and a taken prefix that
        # covers many of them is stepped over at once
        step = 1 << (pool.base.max_prefixlen - pool.size)
        start, end = int(pool.base.network_address), int(pool.base.broadcast_address)
        while start <= end:
            candidate = type(pool.base)((start, pool.size))
            clash = next((u for u in used if _overlaps(candidate, u)), None)
            if clash is None:
                return candidate
            start = max(start + step, int(clash.broadcast_address) + 1)
    raise Conflict(NO_POOL.format(version))


def _overlaps(a: IPNetwork, b: IPNetwork) -> bool:
    return a.version == b.version and a.overlaps(b)


def check_user_subnet(subnet: IPNetwork, taken: Iterable[IPNetwork]) -> None:
    if any(_overlaps(subnet, other) for other in taken):
        raise Conflict("Pool overlaps with other one on this address space")


def parse_subnet(text: str) -> IPNetwork:
    try:
        return ip_network(text, strict=False)
    except ValueError:
        raise InvalidArgument(f"invalid CIDR address: {text}") from None


def parse_address(text: str, what: str = "address") -> IPAddress:
    try:
        return ip_address(text)
    except ValueError:
        raise InvalidArgument(f"invalid {what}: {text}") from None


def make_pool(
    subnet: IPNetwork,
    *,
    gateway: IPAddress | None = None,
    ip_range: IPNetwork | None = None,
    user_subnet: bool = False,
    aux_addresses: Mapping[str, IPAddress] = EMPTY_ADDRESSES,
) -> IpamPool:
    """Validate gateway, range and auxiliary addresses against the subnet; the default gateway
    is the first host."""
    if subnet.num_addresses <= 2 and gateway is None:
        raise Conflict("failed to allocate gateway (): No available addresses on this pool")
    if gateway is not None and (gateway.version != subnet.version or gateway not in subnet):
        raise InvalidArgument(f"no matching subnet for gateway {gateway}")
    if ip_range is not None and not (
        ip_range.version == subnet.version and ip_range.subnet_of(subnet)  # type: ignore[arg-type]
    ):
        raise InvalidArgument(f"no matching subnet for range {ip_range}")
    chosen_gateway = gateway or subnet.network_address + 1
    for name, address in aux_addresses.items():
        # libnetwork's texts (network.go ipamAllocateVersion)
        if address.version != subnet.version or address not in subnet:
            raise Forbidden(
                f"auxiliary address: ({name}:{address}) must belong to the master pool: {subnet}"
            )
        if address == chosen_gateway:
            raise Conflict(
                f"failed to allocate secondary ip address ({name}:{address}): "
                "Address already in use"
            )
    return IpamPool(
        subnet=subnet,
        gateway=chosen_gateway,
        ip_range=ip_range,
        user_subnet=user_subnet,
        user_gateway=gateway is not None,
        aux_addresses=MappingProxyType(dict(aux_addresses)),
    )
