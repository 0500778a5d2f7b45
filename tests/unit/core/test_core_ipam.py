from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_network

import pytest

from hatoba.errors import Conflict, InvalidArgument
from hatoba.ipam.addresses import allocate, claim, mac_for, parse_mac
from hatoba.ipam.pools import check_user_subnet, choose_subnet, make_pool
from hatoba.model.daemon import DOCKER_ADDRESS_POOLS, ULA_ADDRESS_POOLS, AddressPool
from hatoba.model.network import Network


def net(
    *subnets: str, user: bool = False, ip_range: str | None = None, predefined: bool = False
) -> Network:
    pools = tuple(
        make_pool(
            ip_network(subnet),
            ip_range=ip_network(ip_range) if ip_range else None,
            user_subnet=user,
        )
        for subnet in subnets
    )
    return Network("f" * 64, "n", "bridge", "t", ipam=pools, predefined=predefined)


def test_default_pools_are_dockers():
    carved = [
        subnet
        for pool in DOCKER_ADDRESS_POOLS
        for subnet in pool.base.subnets(new_prefix=pool.size)  # type: ignore[attr-defined]
    ]
    assert carved[0] == IPv4Network("172.17.0.0/16")
    assert carved[14] == IPv4Network("172.31.0.0/16")
    assert carved[15] == IPv4Network("192.168.0.0/20")
    assert len(carved) == 15 + 16
    assert (AddressPool(IPv6Network("fd00::/8"), 64),) == ULA_ADDRESS_POOLS


def test_ipv6_subnets_are_ula_slash64s_in_order_skipping_what_is_taken():
    assert choose_subnet([], ULA_ADDRESS_POOLS, 6) == IPv6Network("fd00::/64")
    taken = [IPv6Network("fd00::/64"), IPv4Network("172.17.0.0/16"), IPv6Network("fd00:0:0:1::/80")]
    assert choose_subnet(taken, ULA_ADDRESS_POOLS, 6) == IPv6Network("fd00:0:0:2::/64")
    # a wide route is stepped over at once, not one /64 at a time
    assert choose_subnet([IPv6Network("fd00::/16")], ULA_ADDRESS_POOLS, 6) == IPv6Network(
        "fd01::/64"
    )
    with pytest.raises(Conflict, match="non-overlapping IPv6 address pool among the defaults"):
        choose_subnet([IPv6Network("fd00::/8")], ULA_ADDRESS_POOLS, 6)
    # IPv4 pools are not asked for IPv6 subnets, nor the other way round
    assert choose_subnet([IPv6Network("fd00::/8")]) == IPv4Network("172.17.0.0/16")


def test_each_family_takes_its_own_pools_and_dockers_defaults_without_any():
    pools = (
        AddressPool(IPv4Network("10.10.0.0/16"), 24),
        AddressPool(IPv6Network("2001:db8:1::/48"), 64),
    )
    assert choose_subnet([], pools, 4) == IPv4Network("10.10.0.0/24")
    assert choose_subnet([IPv6Network("2001:db8:1::/64")], pools, 6) == IPv6Network(
        "2001:db8:1:1::/64"
    )
    # a configuration with IPv4 pools alone: IPv6 subnets from the ULA pool, as Docker >= 27
    assert choose_subnet([], pools[:1], 6) == IPv6Network("fd00::/64")
    # and the other way round
    assert choose_subnet([], pools[1:], 4) == IPv4Network("172.17.0.0/16")


def test_choose_subnet_skips_overlaps_with_networks_and_host_routes():
    assert choose_subnet([]) == IPv4Network("172.17.0.0/16")
    # a VPN route inside 172.18/16 and docker0 on 172.17: next is 172.19
    taken = [IPv4Network("172.17.0.0/16"), IPv4Network("172.18.5.0/24")]
    assert choose_subnet(taken) == IPv4Network("172.19.0.0/16")
    # a wide corporate route swallows all of 172.16/12
    assert choose_subnet([IPv4Network("172.16.0.0/12")]) == IPv4Network("192.168.0.0/20")


def test_choose_subnet_exhausted():
    with pytest.raises(Conflict, match="could not find an available, non-overlapping IPv4"):
        choose_subnet([IPv4Network("172.16.0.0/12"), IPv4Network("192.168.0.0/16")])


def test_user_subnet_overlap_message():
    with pytest.raises(Conflict, match="^Pool overlaps with other one on this address space$"):
        check_user_subnet(IPv4Network("172.30.5.0/24"), [IPv4Network("172.30.0.0/16")])


def test_gateway_checks():
    with pytest.raises(InvalidArgument, match="^no matching subnet for gateway 172.31.0.1$"):
        make_pool(IPv4Network("172.30.0.0/16"), gateway=IPv4Address("172.31.0.1"))
    with pytest.raises(Conflict, match=r"failed to allocate gateway \(\): No available addresses"):
        make_pool(IPv4Network("10.99.98.0/31"))
    assert make_pool(IPv4Network("10.0.0.0/24")).gateway == IPv4Address("10.0.0.1")


def test_sequential_then_rotating_allocation():
    n = net("172.18.0.0/16")
    first = allocate(n, 4, set(), None)
    assert first == IPv4Address("172.18.0.2")
    second = allocate(n, 4, {first}, first)
    assert second == IPv4Address("172.18.0.3")
    # .2 was freed, but allocation continues after the last one handed out
    assert allocate(n, 4, {second}, second) == IPv4Address("172.18.0.4")


def test_slash30_has_one_container_address():
    n = net("10.99.99.0/30")
    only = allocate(n, 4, set(), None)
    assert only == IPv4Address("10.99.99.2")
    with pytest.raises(
        Conflict, match="^no available IPv4 addresses on this network's address pools: n"
    ):
        allocate(n, 4, {only}, only)


def test_ip_range_starts_at_range_first_host():
    n = net("172.30.0.0/16", ip_range="172.30.9.0/24")
    assert allocate(n, 4, set(), None) == IPv4Address("172.30.9.1")


def test_wraps_around():
    n = net("10.0.0.0/29")  # .2 .. .6 usable
    assert allocate(n, 4, set(), IPv4Address("10.0.0.6")) == IPv4Address("10.0.0.2")


def test_ipv6_addresses_come_in_order_from_the_pool_not_from_the_mac():
    n = net("172.18.0.0/16", "fd00:1::/64")
    first = allocate(n, 6, set(), None)
    assert first == IPv6Address("fd00:1::2")  # ::1 is the gateway, :: never a host's
    assert allocate(n, 6, {first}, first) == IPv6Address("fd00:1::3")
    # the last address of an IPv6 subnet is a host's too (there is no broadcast)
    tiny = net("fd00:2::/126")
    assert allocate(tiny, 6, set(), IPv6Address("fd00:2::2")) == IPv6Address("fd00:2::3")
    with pytest.raises(Conflict, match="^network n has no IPv6 address pool$"):
        allocate(net("172.18.0.0/16"), 6, set(), None)


def test_several_subnets_of_a_family_fill_in_order():
    n = net("10.0.0.0/30", "10.0.1.0/29", "fd00:3::/64")
    only = allocate(n, 4, set(), None)
    assert only == IPv4Address("10.0.0.2")
    assert allocate(n, 4, {only}, only) == IPv4Address("10.0.1.2")
    assert allocate(n, 6, set(), None) == IPv6Address("fd00:3::2")


def test_claim_rules():
    user = net("172.31.200.0/24", user=True)
    assert claim(user, IPv4Address("172.31.200.50"), set()) == IPv4Address("172.31.200.50")
    with pytest.raises(
        InvalidArgument, match="It does not belong to any of this network's subnets."
    ):
        claim(user, IPv4Address("172.31.201.50"), set())
    with pytest.raises(Conflict, match="^Address already in use$"):
        claim(user, IPv4Address("172.31.200.50"), {IPv4Address("172.31.200.50")})
    with pytest.raises(
        InvalidArgument, match="only when connecting to networks with user configured subnets"
    ):
        claim(net("172.18.0.0/16"), IPv4Address("172.18.0.50"), set())
    with pytest.raises(InvalidArgument, match="supported on user defined networks only"):
        claim(net("172.17.0.0/16", predefined=True), IPv4Address("172.17.0.50"), set())


def test_claim_looks_at_the_subnets_of_the_addresss_family():
    user = net("10.0.0.0/24", "10.0.1.0/24", "fd00:4::/64", user=True)
    assert claim(user, IPv4Address("10.0.1.9"), set()) == IPv4Address("10.0.1.9")
    assert claim(user, IPv6Address("fd00:4::9"), set()) == IPv6Address("fd00:4::9")
    with pytest.raises(Conflict, match="^Address already in use$"):
        claim(user, IPv6Address("fd00:4::1"), set())  # the gateway
    with pytest.raises(InvalidArgument, match="Invalid address fd00:5::9: It does not belong"):
        claim(user, IPv6Address("fd00:5::9"), set())
    with pytest.raises(InvalidArgument, match="only when connecting to networks with user config"):
        claim(net("10.0.0.0/24", user=True), IPv6Address("fd00:4::9"), set())


def test_mac_from_ip():
    assert mac_for(IPv4Address("172.18.0.2")) == "02:42:ac:12:00:02"
    # an IPv6-only endpoint: the address's last four bytes
    assert mac_for(IPv6Address("fd00::a:2")) == "02:42:00:0a:00:02"


def test_mac_as_asked():
    assert parse_mac("02:AB:00:00:00:01") == "02:ab:00:00:00:01"
    assert parse_mac("02-ab-00-00-00-01") == "02:ab:00:00:00:01"
    for bad in ("02:ab:00:00:00", "02:ab:00:00:00:zz", "2:ab:00:00:00:01", "02:ab:00:00:00:01:02"):
        with pytest.raises(InvalidArgument, match=f"^{bad} is not a valid mac address$"):
            parse_mac(bad)
    for unusable in ("01:00:5e:00:00:01", "ff:ff:ff:ff:ff:ff", "00:00:00:00:00:00"):
        with pytest.raises(InvalidArgument, match="is not a unicast mac address"):
            parse_mac(unusable)
