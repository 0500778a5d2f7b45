"""validate(): what render and delta refuse before anything reaches the kernel."""

from __future__ import annotations

from dataclasses import replace

import pytest
from fw_cases import D1, D2, DUAL, QUIET, SECRET, WEB, WEB1, WEB2, port

from hatoba.errors import Conflict, InvalidArgument
from hatoba.firewall import (
    FirewallState,
    FwPort,
    delta,
    internal_publish_error,
    render,
    validate,
)


def test_publishing_on_an_internal_network_is_refused() -> None:
    on_secret = replace(port(WEB1, 8000), network_id=SECRET.network_id)
    with pytest.raises(InvalidArgument) as err:
        delta(FirewallState((WEB, SECRET)), FirewallState((WEB, SECRET), (), (on_secret,)))
    assert err.value.message == internal_publish_error("secret").message
    assert err.value.message == (
        "cannot publish ports on internal network secret: "
        "it has no connectivity outside the network"
    )


CLASHES = [
    (port(WEB1, 8000), port(WEB2, 8000)),
    (port(WEB1, 8000), port(WEB2, 8000, host_ip="127.0.0.1")),
    (port(WEB1, 8000, host_ip="127.0.0.1"), port(WEB2, 8000, host_ip="0.0.0.0")),
    (port(WEB1, 8000, host_ip="127.0.0.1"), port(WEB2, 8000, host_ip="127.0.0.1")),
    # no host address is every address of both families
    (port(WEB1, 8000), port(WEB2, 8000, host_ip="::1")),
    (port(WEB1, 8000, host_ip="::"), port(WEB2, 8000, host_ip="2001:db8::1")),
]


@pytest.mark.parametrize(("first", "second"), CLASHES)
def test_one_host_port_twice_is_already_allocated(first: FwPort, second: FwPort) -> None:
    with pytest.raises(Conflict, match="failed: port is already allocated"):
        render(FirewallState((WEB,), (), (first, second)))


@pytest.mark.parametrize(("first", "second"), CLASHES)
def test_delta_refuses_a_host_port_already_published(first: FwPort, second: FwPort) -> None:
    one = FirewallState((WEB,), (WEB1, WEB2), (first,))
    both = replace(one, ports=(first, second))
    with pytest.raises(Conflict, match="failed: port is already allocated"):
        delta(one, both)  # counts made from `one` itself
    delta(FirewallState((WEB,), (WEB1, WEB2)), one)  # `one` now carries counts from a delta
    with pytest.raises(Conflict, match="failed: port is already allocated"):
        delta(one, replace(one, ports=(first, second)))


def test_delta_allows_one_port_on_other_addresses_and_refuses_a_veth_twice() -> None:
    one = FirewallState((WEB,), (WEB1, WEB2), (port(WEB1, 8000, host_ip="127.0.0.1"),))
    delta(FirewallState((WEB,), (WEB1, WEB2)), one)
    more = (port(WEB2, 8000, host_ip="172.18.0.1"), port(WEB2, 8000, proto="udp"))
    delta(one, replace(one, ports=(*one.ports, *more)))
    twin = replace(WEB2, container_id="twin", host_ifname=WEB1.host_ifname)
    with pytest.raises(InvalidArgument, match="same host interface"):
        delta(one, replace(one, endpoints=(*one.endpoints, twin)))


def test_the_same_port_on_each_family_alone_is_fine() -> None:
    validate(
        FirewallState(
            (DUAL,),
            (D1, D2),
            (
                port(D1, 8000, host_ip="0.0.0.0"),
                port(D2, 8000, host_ip="::"),
                port(D1, 8001, host_ip="127.0.0.1"),
                port(D2, 8001, host_ip="::1"),
            ),
        )
    )


def test_the_same_port_on_two_addresses_or_two_protocols_is_fine() -> None:
    validate(
        FirewallState(
            (WEB,),
            (),
            (
                port(WEB1, 8000, host_ip="127.0.0.1"),
                port(WEB2, 8000, host_ip="172.18.0.1"),
                port(WEB2, 8000, proto="udp"),
            ),
        )
    )


@pytest.mark.parametrize(
    ("state", "message"),
    [
        (FirewallState((WEB, WEB)), "lists a network twice"),
        (FirewallState((WEB, replace(QUIET, bridge=WEB.bridge))), "same bridge"),
        (FirewallState((QUIET,), (WEB1,)), "endpoint of web1 on unknown network"),
        (FirewallState((QUIET,), (), (port(WEB1, 8000),)), "port of web1 on unknown network"),
        (FirewallState((WEB,), (), (port(WEB1, 8000, proto="icmp"),)), "invalid proto: icmp"),
        (FirewallState((WEB,), (), (port(WEB1, 0),)), "invalid port mapping 0:80"),
        (FirewallState((WEB,), (), (port(WEB1, 8000, 65536),)), "invalid port mapping 8000:65536"),
    ],
)
def test_inconsistent_states_are_refused(state: FirewallState, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        validate(state)
