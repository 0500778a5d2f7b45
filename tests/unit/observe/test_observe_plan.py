"""Planning a flow's route: both ends, the hops in order, published ports, names."""

from __future__ import annotations

import pytest

from fixtures.observe_world import C1, O1, S1, SEGMENT, V1, WEB, world
from hatoba.errors import InvalidArgument, NotFound
from hatoba.model.flows import Flow
from hatoba.observe.plan import CONTAINER, HOST, OUTSIDE, REMOTE, NameNotFound, plan


def labels(route: object) -> list[str]:
    return [h.label for h in route.hops]  # type: ignore[attr-defined]


def test_container_to_container_on_one_bridge() -> None:
    route = plan(world(), "c1", "c2")
    assert (route.source.kind, route.target.kind, route.proto) == (CONTAINER, CONTAINER, "icmp")
    assert labels(route) == ["eth0@c1", "vethc1@host", "hatoba0@host", "vethc2@host", "eth0@c2"]
    assert route.hops[0].netns == C1.netns
    assert route.flow(7) == Flow("icmp", "172.17.0.2", "172.17.0.3", 7, 7)


def test_between_networks_both_bridges() -> None:
    route = plan(world(), "s1", "172.19.0.2:5432")
    assert route.target.container is O1
    assert labels(route) == [
        "eth0@s1", "veths1@host", "br-ssssssssssss@host",
        "br-oooooooooooo@host", "vetho1@host", "eth0@o1",
    ]  # fmt: skip
    assert route.flow(40000) == Flow("tcp", "172.18.0.2", "172.19.0.2", 40000, 5432)


def test_container_to_outside_ends_at_the_uplink() -> None:
    route = plan(world(), "c1", "198.51.100.10:443")
    assert route.target.kind == OUTSIDE
    assert labels(route)[-1] == "eth0@host"
    assert "203.0.113.1" in route.addresses  # where masquerade shows it


def test_outside_to_a_published_port() -> None:
    route = plan(world(), "203.0.113.150", "203.0.113.1:8000")
    assert (route.source.kind, route.target.kind) == (OUTSIDE, HOST)
    assert route.backend is not None and route.backend.container is WEB
    assert route.published is not None and route.published.container_port == 80
    assert labels(route) == ["eth0@host", "hatoba0@host", "vethweb@host", "eth0@web"]
    assert route.capture_filter() == (
        "(tcp or icmp) and (host 203.0.113.150 or host 203.0.113.1 or host 172.17.0.4"
        " or host 172.17.0.1)"
    )


def test_host_to_a_published_port_and_container_to_host() -> None:
    route = plan(world(), "host", "127.0.0.1:8000")
    assert route.source.address == "127.0.0.1"
    assert labels(route) == ["hatoba0@host", "vethweb@host", "eth0@web"]
    route = plan(world(), "c1", "host:22")
    assert (route.target.kind, route.target.address) == (HOST, "172.17.0.1")
    assert labels(route) == ["eth0@c1", "vethc1@host", "hatoba0@host"]


def test_names_resolve_as_the_source_would_with_dns() -> None:
    assert plan(world(), "s2", "db:5432", dns=True).target.container is S1
    with pytest.raises(NameNotFound) as found:
        plan(world(), "s1", "o1:80", dns=True)
    assert found.value.networks == ("other",)
    assert str(found.value) == (
        "o1 does not resolve in s1: o1 is a name on other, and s1 is on none of them"
    )
    with pytest.raises(NameNotFound, match="only user-defined networks resolve names"):
        plan(world(), "c1", "c2", dns=True)  # the default bridge: no embedded DNS
    with pytest.raises(NameNotFound, match="no container, alias or name on any network"):
        plan(world(), "s1", "nothing", dns=True)
    assert plan(world(), "c1", "c2").target.name == "c2"  # a trace takes container names
    with pytest.raises(NotFound) as unknown:
        plan(world(), "nobody", "c2", dns=True)  # a source is never a name to resolve
    assert not isinstance(unknown.value, NameNotFound)


def test_an_overlay_network_s_hops_are_in_its_segment() -> None:
    """Its veths and bridge are in the segment's namespace; the host's link into the
    segment is crossed only by flows that leave it."""
    route = plan(world(), "v1", "v2")
    assert labels(route) == [
        "eth0@v1", "vethv1@segment", "ov-aaaaaaaaaaaa@segment", "vethv2@segment", "eth0@v2",
    ]  # fmt: skip
    assert [h.netns for h in route.hops] == [
        V1.netns,
        SEGMENT,
        SEGMENT,
        SEGMENT,
        V1.netns[:-2] + "v2",
    ]
    out = plan(world(), "v1", "198.51.100.10")
    assert labels(out) == [
        "eth0@v1", "vethv1@segment", "ov-aaaaaaaaaaaa@segment", "ov-aaaaaaaaaaaa@host", "eth0@host",
    ]  # fmt: skip
    assert out.hops[3].netns is None and out.hops[3].what == "host's link to across"
    # to a container on a local bridge: out of the segment, routed by the host
    assert labels(plan(world(), "s1", "v1"))[2:4] == [
        "br-ssssssssssss@host",
        "ov-aaaaaaaaaaaa@host",
    ]


def test_another_host_s_container_is_reached_through_the_tunnel() -> None:
    """Known by its records from the cluster store: by name (as a trace takes it, and as the
    source's DNS answers it), by short id or by address."""
    for target, dns in (("r3", False), ("r3", True), ("rrrrrrrrrrrr", False), ("10.0.9.4", False)):
        route = plan(world(), "v1", f"{target}:80", dns=dns)
        assert (route.target.kind, route.target.name, route.target.address) == (
            REMOTE, "r3", "10.0.9.4",
        )  # fmt: skip
        assert labels(route) == [
            "eth0@v1", "vethv1@segment", "ov-aaaaaaaaaaaa@segment", "vx-aaaaaaaaaaaa@segment",
        ]  # fmt: skip
        assert route.flow(40000) == Flow("tcp", "10.0.9.2", "10.0.9.4", 40000, 80)
    # from the host: into the segment through its link, then out through the tunnel
    assert labels(plan(world(), "host", "r3")) == [
        "ov-aaaaaaaaaaaa@host", "ov-aaaaaaaaaaaa@segment", "vx-aaaaaaaaaaaa@segment",
    ]  # fmt: skip
    # another host's container is no local bridge's: s1 cannot resolve it
    with pytest.raises(NameNotFound, match="r3 is a name on across, and s1 is on none"):
        plan(world(), "s1", "r3", dns=True)


@pytest.mark.parametrize(
    ("target", "proto", "message"),
    [
        ("c2:80", "icmp", "icmp has no ports"),
        ("c2", "tcp", "tcp needs a port"),
        ("c2:0", None, "invalid port"),
        ("c2:80", "sctp", "invalid protocol sctp"),
    ],
)
def test_refusals(target: str, proto: str | None, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        plan(world(), "c1", target, proto)
