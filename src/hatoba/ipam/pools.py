"""Subnets for networks: Docker's default pools, user subnets, gateways and ranges."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from ipaddress import IPv4Address, IPv4Network
from types import MappingProxyType

from hatoba.errors import Conflict, Forbidden, InvalidArgument
from hatoba.model.daemon import DOCKER_ADDRESS_POOLS, AddressPool
from hatoba.model.network import EMPTY_ADDRESSES, IpamPool


def subnets_of(pools: Sequence[AddressPool]) -> Iterator[IPv4Network]:
    """The subnets the pools are cut into, in order (lazily: a /8 in /24s is 65536)."""
    for pool in pools:
        yield from pool.base.subnets(new_prefix=pool.size)


DEFAULT_POOLS = tuple(subnets_of(DOCKER_ADDRESS_POOLS))
NO_POOL = (
    "could not find an available, non-overlapping IPv4 address pool among the defaults "
    "to assign to the network"
)


def choose_subnet(
    taken: Iterable[IPv4Network], pools: Sequence[AddressPool] = DOCKER_ADDRESS_POOLS
) -> IPv4Network:
    """The first subnet of the pools (daemon.json's default-address-pools, Docker's own by
    default) that overlaps nothing in `taken` (networks, host routes)."""
    used = list(taken)
    for candidate in subnets_of(pools):
        if not any(candidate.overlaps(other) for other in used):
            return candidate
    raise Conflict(NO_POOL)


def check_user_subnet(subnet: IPv4Network, taken: Iterable[IPv4Network]) -> None:
    if any(subnet.overlaps(other) for other in taken):
        raise Conflict("Pool overlaps with other one on this address space")


def parse_subnet(text: str) -> IPv4Network:
    try:
        return IPv4Network(text, strict=False)
    except ValueError:
        raise InvalidArgument(f"invalid CIDR address: {text}") from None


def parse_address(text: str, what: str = "address") -> IPv4Address:
    try:
        return IPv4Address(text)
    except ValueError:
        raise InvalidArgument(f"invalid {what}: {text}") from None


def make_pool(
    subnet: IPv4Network,
    *,
    gateway: IPv4Address | None = None,
    ip_range: IPv4Network | None = None,
    user_subnet: bool = False,
    aux_addresses: Mapping[str, IPv4Address] = EMPTY_ADDRESSES,
) -> IpamPool:
    """Validate gateway, range and auxiliary addresses against the subnet; the default gateway
    is the first host."""
    if subnet.prefixlen > 30 and gateway is None:
        raise Conflict("failed to allocate gateway (): No available addresses on this pool")
    if gateway is not None and gateway not in subnet:
        raise InvalidArgument(f"no matching subnet for gateway {gateway}")
    if ip_range is not None and not ip_range.subnet_of(subnet):
        raise InvalidArgument(f"no matching subnet for range {ip_range}")
    chosen_gateway = gateway or subnet.network_address + 1
    for name, address in aux_addresses.items():
        # libnetwork's texts (network.go ipamAllocateVersion)
        if address not in subnet:
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
