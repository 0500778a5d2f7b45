"""hatoba's rtnetlink requests on the real kernel, in a throwaway namespace: addresses and
default routes of both families go in as asked (an IPv6 one usable at once, never tentative),
and the dumps of routes and addresses read both families back."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_network

import pytest

from hatoba.kernel import netlink as nl
from hatoba.kernel.netns import call_in_netns
from hatoba.testing import Sandbox

pytestmark = pytest.mark.root


def test_addresses_and_default_routes_of_both_families(veths: Sandbox) -> None:
    sock = call_in_netns(str(veths.host), nl.NetlinkSocket)
    try:
        link = sock.link("a0")
        assert link is not None
        sock.request(
            [
                nl.link_up(link.index),
                nl.address_add(link.index, IPv4Network("10.1.0.0/24"), IPv4Address("10.1.0.5")),
                nl.address_add(link.index, IPv6Network("fd00:1::/64"), IPv6Address("fd00:1::5")),
                nl.default_route(IPv4Address("10.1.0.1"), link.index),
                nl.default_route(IPv6Address("fd00:1::1"), link.index),
            ],
            "configure a0",
        )
        mine = [a for a in sock.addresses() if a.index == link.index]
        mine6 = [a for a in sock.addresses(nl.AF_INET6) if a.index == link.index]
        assert [(str(a.address), str(a.network)) for a in mine] == [("10.1.0.5", "10.1.0.0/24")]
        assert ("fd00:1::5", "fd00:1::/64") in [(str(a.address), str(a.network)) for a in mine6]
        defaults = {
            (str(r.gateway), r.oif)
            for family in (nl.AF_INET, nl.AF_INET6)
            for r in sock.routes(family)
            if r.dst.prefixlen == 0
        }
        assert defaults == {("10.1.0.1", link.index), ("fd00:1::1", link.index)}
        assert ip_network("fd00:1::/64") in {r.dst for r in sock.routes(nl.AF_INET6)}
    finally:
        sock.close()
    # no duplicate address detection: the address is not tentative, even on a link that has
    # no carrier yet
    shown = veths.sh(["ip", "-6", "addr", "show", "dev", "a0"]).stdout
    assert "inet6 fd00:1::5/64" in shown and "tentative" not in shown
