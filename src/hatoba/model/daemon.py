"""The service's own configuration, `<root>/daemon.json`, read at service start: Docker's keys
and meanings where Docker has them, every problem of a file named by its key and reason.

    default-address-pools  [{"base": "10.10.0.0/16", "size": 24}, {"base": "fd00:1::/48",
                           "size": 64}]: where networks without --subnet (and the default
                           bridge, without bip or fixed-cidr-v6) take their subnets; a family
                           with no entry takes Docker's defaults (IPv6: fd00::/8 in /64s)
    bip                    "192.168.1.1/24": the default bridge's gateway address and subnet
    fixed-cidr             "192.168.1.128/25": the range its containers get addresses from
                           (without bip, also its subnet, as in Docker)
    ipv6                   true: the default bridge gets an IPv6 subnet too (user-defined
                           networks ask for theirs with --ipv6, as in Docker >= 27)
    fixed-cidr-v6          "fd00:1::/64": the default bridge's IPv6 subnet (needs "ipv6": true;
                           without it, the next free one of the pools, as Docker >= 28)
    mtu                    the default bridge's MTU (default: the uplink's)
    ip-masq, icc           masquerading and traffic between containers on the default bridge
    dns, dns-search        resolvers and search domains of containers that name none

As in Docker, bip, fixed-cidr, ipv6, fixed-cidr-v6, mtu, ip-masq and icc configure the default
bridge alone; a user-defined network takes its own options.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from ipaddress import IPv4Interface, IPv4Network, IPv6Network, ip_address, ip_network
from typing import Any

from hatoba.errors import InvalidArgument
from hatoba.model.network import IPAddress, IPNetwork


@dataclass(frozen=True)
class AddressPool:
    """A base network cut into subnets of one size (Docker's default-address-pools entry)."""

    base: IPNetwork
    size: int


# moby's ipamutils (localScopeDefaultNetworks): 172.17-31.0.0/16, then 192.168.0.0/16 in /20s
DOCKER_ADDRESS_POOLS = (
    *(AddressPool(IPv4Network(f"172.{n}.0.0/16"), 16) for n in range(17, 32)),
    AddressPool(IPv4Network("192.168.0.0/16"), 20),
)
# unique local addresses in /64s, for IPv6 subnets while default-address-pools has no IPv6
# entry (Docker >= 27 takes a /48 of them derived from its engine id; hatoba takes them in
# order)
ULA_ADDRESS_POOLS = (AddressPool(IPv6Network("fd00::/8"), 64),)


@dataclass(frozen=True)
class DaemonConfig:
    default_address_pools: tuple[AddressPool, ...] = DOCKER_ADDRESS_POOLS
    bip: IPv4Interface | None = None
    fixed_cidr: IPv4Network | None = None
    ipv6: bool = False
    fixed_cidr_v6: IPv6Network | None = None
    mtu: int | None = None
    ip_masq: bool = True
    icc: bool = True
    dns: tuple[IPAddress, ...] = ()
    dns_search: tuple[str, ...] = ()
    # the file it was read from ("": there was none)
    source: str = ""


class BadConfig(InvalidArgument):
    """A daemon.json the service refuses to start with."""


def _network(value: Any) -> IPNetwork:
    try:
        return ip_network(_text(value), strict=True)
    except ValueError as exc:
        raise ValueError(f"invalid CIDR {value!r}: {exc}") from None


def _cidr(value: Any) -> IPv4Network:
    network = _network(value)
    if not isinstance(network, IPv4Network):
        raise ValueError(f"{value}: an IPv4 CIDR")
    return network


def _cidr_v6(value: Any) -> IPv6Network:
    network = _network(value)
    if not isinstance(network, IPv6Network):
        raise ValueError(f"{value}: an IPv6 CIDR")
    if network.prefixlen > 126:
        raise ValueError(f"{value}: a prefix length up to 126 (the subnet needs hosts)")
    return network


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{json.dumps(value)} is not a string")
    return value


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{json.dumps(value)} is not true or false")
    return value


def _pools(value: Any) -> tuple[AddressPool, ...]:
    if not isinstance(value, list) or not value:
        raise ValueError('expected a list of {"base": CIDR, "size": N}')
    pools = []
    for entry in value:
        if not isinstance(entry, dict) or set(entry) != {"base", "size"}:
            raise ValueError(f'{json.dumps(entry)}: expected {{"base": CIDR, "size": N}}')
        base, size = _network(entry["base"]), entry["size"]
        first, last = base.prefixlen, base.max_prefixlen - 2  # subnets with hosts: /30, /126
        if not isinstance(size, int) or isinstance(size, bool) or not first <= size <= last:
            raise ValueError(
                f"size {json.dumps(size)} of {base}: a prefix length from {first} to {last}"
            )
        pools.append(AddressPool(base, size))
    return tuple(pools)


def _bip(value: Any) -> IPv4Interface:
    text = _text(value)
    try:
        bip = IPv4Interface(text)
    except ValueError as exc:
        raise ValueError(f"invalid address {text!r}: {exc}") from None
    if "/" not in text or bip.ip in (bip.network.network_address, bip.network.broadcast_address):
        raise ValueError(f"{text}: the bridge's own address with the subnet's prefix length")
    return bip


def _mtu(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 68 <= value <= 65535:
        raise ValueError(f"{json.dumps(value)} is not an MTU from 68 to 65535")
    return value


def _servers(value: Any) -> tuple[IPAddress, ...]:
    if not isinstance(value, list):
        raise ValueError("expected a list of IP addresses")
    servers = []
    for server in value:
        try:
            servers.append(ip_address(_text(server)))
        except ValueError:
            raise ValueError(f"{json.dumps(server)} is not an IP address") from None
    return tuple(servers)


def _domains(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ValueError("expected a list of domains")
    for domain in value:
        if not _text(domain) or any(c.isspace() for c in domain) or len(domain) > 255:
            raise ValueError(f"{domain!r} is not a domain")
    return tuple(value)


# daemon.json key -> (DaemonConfig field, reader)
_KEYS: Mapping[str, tuple[str, Callable[[Any], Any]]] = {
    "default-address-pools": ("default_address_pools", _pools),
    "bip": ("bip", _bip),
    "fixed-cidr": ("fixed_cidr", _cidr),
    "mtu": ("mtu", _mtu),
    "ip-masq": ("ip_masq", _flag),
    "icc": ("icc", _flag),
    "dns": ("dns", _servers),
    "dns-search": ("dns_search", _domains),
    "ipv6": ("ipv6", _flag),
    "fixed-cidr-v6": ("fixed_cidr_v6", _cidr_v6),
}


def parse(text: str, source: str) -> DaemonConfig:
    """The configuration in `text` (read from `source`); BadConfig names the key and why."""

    def bad(reason: str) -> BadConfig:
        return BadConfig(f"unable to configure hatoba with file {source}: {reason}")

    try:
        data = json.loads(text)
    except ValueError as exc:
        raise bad(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise bad("not a JSON object")
    unknown = sorted(set(data) - set(_KEYS))
    if unknown:
        # Docker's words
        raise bad(
            "the following directives don't match any configuration option: " + ", ".join(unknown)
        )
    fields: dict[str, Any] = {}
    for key, value in data.items():
        name, read = _KEYS[key]
        try:
            fields[name] = read(value)
        except ValueError as exc:
            raise bad(f'"{key}": {exc}') from None
    config = DaemonConfig(source=source, **fields)
    fixed, bip = config.fixed_cidr, config.bip
    if fixed is not None and bip is not None and not fixed.subnet_of(bip.network):
        raise bad(f'"fixed-cidr": {fixed} is not within the subnet of "bip" ({bip.network})')
    if config.fixed_cidr_v6 is not None and not config.ipv6:
        raise bad('"fixed-cidr-v6": the default bridge\'s IPv6 subnet needs "ipv6": true')
    return config


def to_json(config: DaemonConfig) -> dict[str, Any]:
    """What is in force, by daemon.json key (`hatoba info`)."""
    return {
        "default-address-pools": [
            {"base": str(p.base), "size": p.size} for p in config.default_address_pools
        ],
        "bip": str(config.bip) if config.bip is not None else "",
        "fixed-cidr": str(config.fixed_cidr) if config.fixed_cidr is not None else "",
        "ipv6": config.ipv6,
        "fixed-cidr-v6": str(config.fixed_cidr_v6) if config.fixed_cidr_v6 is not None else "",
        "mtu": config.mtu or 0,
        "ip-masq": config.ip_masq,
        "icc": config.icc,
        "dns": [str(s) for s in config.dns],
        "dns-search": list(config.dns_search),
    }
