from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

import pytest

from hatoba.errors import Conflict, InvalidArgument
from hatoba.ipam.addresses import allocate, claim, mac_for, parse_mac
from hatoba.ipam.pools import DEFAULT_POOLS, check_user_subnet, choose_subnet, make_pool
from hatoba.model.network import Network


def net(
    pool_subnet: str, *, user: bool = False, ip_range: str | None = None, predefined: bool = False
) -> Network:
    pool = make_pool(
        IPv4Network(pool_subnet),
        ip_range=IPv4Network(ip_range) if ip_range else None,
        user_subnet=user,
    )
    return Network("f" * 64, "n", "bridge", "t", ipam=(pool,), predefined=predefined)


def test_default_pools_are_dockers():
    assert DEFAULT_POOLS[0] == IPv4Network("172.17.0.0/16")
    assert DEFAULT_POOLS[14] == IPv4Network("172.31.0.0/16")
    assert DEFAULT_POOLS[15] == IPv4Network("192.168.0.0/20")
    assert len(DEFAULT_POOLS) == 15 + 16


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
    first = allocate(n, set(), None)
    assert first == IPv4Address("172.18.0.2")
    second = allocate(n, {first}, first)
    assert second == IPv4Address("172.18.0.3")
    # .2 was freed, but allocation continues after the last one handed out
    assert allocate(n, {second}, second) == IPv4Address("172.18.0.4")


def test_slash30_has_one_container_address():
    n = net("10.99.99.0/30")
    only = allocate(n, set(), None)
    assert only == IPv4Address("10.99.99.2")
    with pytest.raises(
        Conflict, match="^no available IPv4 addresses on this network's address pools: n"
    ):
        allocate(n, {only}, only)


def test_ip_range_starts_at_range_first_host():
    n = net("172.30.0.0/16", ip_range="172.30.9.0/24")
    assert allocate(n, set(), None) == IPv4Address("172.30.9.1")


def test_wraps_around():
    n = net("10.0.0.0/29")  # .2 .. .6 usable
    assert allocate(n, set(), IPv4Address("10.0.0.6")) == IPv4Address("10.0.0.2")


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


def test_mac_from_ip():
    assert mac_for(IPv4Address("172.18.0.2")) == "02:42:ac:12:00:02"


def test_mac_as_asked():
    assert parse_mac("02:AB:00:00:00:01") == "02:ab:00:00:00:01"
    assert parse_mac("02-ab-00-00-00-01") == "02:ab:00:00:00:01"
    for bad in ("02:ab:00:00:00", "02:ab:00:00:00:zz", "2:ab:00:00:00:01", "02:ab:00:00:00:01:02"):
        with pytest.raises(InvalidArgument, match=f"^{bad} is not a valid mac address$"):
            parse_mac(bad)
    for unusable in ("01:00:5e:00:00:01", "ff:ff:ff:ff:ff:ff", "00:00:00:00:00:00"):
        with pytest.raises(InvalidArgument, match="is not a unicast mac address"):
            parse_mac(unusable)
