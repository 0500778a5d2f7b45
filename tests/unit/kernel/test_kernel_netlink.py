"""The rtnetlink requests hatoba builds, encoded and read back as the kernel reads them: an
address and a default route of either family (IPv4 with its broadcast address, IPv6 without
duplicate address detection)."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from typing import Any

from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from pyroute2.netlink.rtnl.rtmsg import rtmsg

from hatoba.kernel import netlink as nl


def round_trip(msg: bytes, kind: Any) -> Any:
    back = kind(msg)
    back.decode()
    return back


def test_an_ipv4_address_carries_its_broadcast_address() -> None:
    msg = nl.address_add(3, IPv4Network("10.1.0.0/24"), IPv4Address("10.1.0.5"))
    back = round_trip(msg, ifaddrmsg)
    assert (back["family"], back["index"], back["prefixlen"]) == (nl.AF_INET, 3, 24)
    assert back["flags"] & nl.IFA_F_NODAD == 0
    assert (back.get_attr("IFA_LOCAL"), back.get_attr("IFA_BROADCAST")) == (
        "10.1.0.5",
        "10.1.0.255",
    )
    # a /31 has no broadcast address (RFC 3021)
    p2p = round_trip(
        nl.address_add(3, IPv4Network("10.1.0.0/31"), IPv4Address("10.1.0.1")), ifaddrmsg
    )
    assert p2p.get_attr("IFA_BROADCAST") is None


def test_an_ipv6_address_skips_duplicate_address_detection() -> None:
    msg = nl.address_add(4, IPv6Network("fd00:1::/64"), IPv6Address("fd00:1::5"))
    back = round_trip(msg, ifaddrmsg)
    assert (back["family"], back["index"], back["prefixlen"]) == (nl.AF_INET6, 4, 64)
    assert back["flags"] & nl.IFA_F_NODAD
    assert (back.get_attr("IFA_LOCAL"), back.get_attr("IFA_ADDRESS")) == ("fd00:1::5", "fd00:1::5")
    assert back.get_attr("IFA_BROADCAST") is None


def test_a_default_route_of_either_family() -> None:
    for gateway, family in (
        (IPv4Address("10.1.0.1"), nl.AF_INET),
        (IPv6Address("fd00:1::1"), nl.AF_INET6),
    ):
        back = round_trip(nl.default_route(gateway, 7), rtmsg)
        assert (back["family"], back["dst_len"]) == (family, 0)
        assert (back.get_attr("RTA_GATEWAY"), back.get_attr("RTA_OIF")) == (str(gateway), 7)
