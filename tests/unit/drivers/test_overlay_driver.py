"""The overlay driver's answers (drivers/overlay.py): a cluster-wide network planned against
what the whole cluster holds, with a VXLAN port beside its bridge."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Interface, IPv4Network, IPv6Network
from types import MappingProxyType

import pytest

from hatoba.drivers import registry
from hatoba.drivers.base import HostBridge, Placement, VxlanTunnel
from hatoba.drivers.overlay import OverlayDriver
from hatoba.errors import Conflict, InvalidArgument
from hatoba.model.network import OPT_MTU, OPT_VNI, IpamRequest, NetworkSpec

NETWORK_ID = "cd" * 32


def place(*, taken: tuple[str, ...] = (), vnis: frozenset[int] = frozenset()) -> Placement:
    return Placement(
        network_id=NETWORK_ID,
        created="2026-12-06T00:00:00.000000000Z",
        predefined=False,
        uplink_mtu=1500,
        taken=tuple(IPv4Network(t) for t in taken),
        taken_vnis=vnis,
    )


def test_overlay_is_global_cluster_scoped_and_serves_dns() -> None:
    driver = registry.named("overlay")
    assert (driver.scope, driver.cluster_scoped, driver.predefined_network) == (
        "global",
        True,
        None,
    )
    assert driver.gives_interface and not driver.single_instance and not driver.exclusive
    network = driver.plan_network(NetworkSpec(name="ov", driver="overlay"), place())
    assert driver.serves_dns(network)


def test_a_network_takes_the_next_free_24_and_vni_and_the_underlay_mtu_less_vxlan() -> None:
    driver = OverlayDriver()
    network = driver.plan_network(
        NetworkSpec(name="ov", driver="overlay"),
        place(taken=("10.0.0.0/24", "10.0.1.0/25"), vnis=frozenset({4097})),
    )
    assert network.pool is not None and network.pool.subnet == IPv4Network("10.0.2.0/24")
    assert network.options[OPT_VNI] == "4098" and network.mtu == 1450
    assert network.bridge == "ov-" + NETWORK_ID[:12]
    assert driver.host_bridges(network) == (
        HostBridge(
            network.bridge,
            network.bridge_mac or "",
            1450,
            (IPv4Interface("10.0.2.1/24"),),
            VxlanTunnel("vx-" + NETWORK_ID[:12], 4098, 1450),
            segment="ov-" + NETWORK_ID[:12],
        ),
    )
    # endpoints as on a bridge, their host ends ports of the bridge in the segment
    endpoint = driver.plan_endpoint(network, (IPv4Address("10.0.2.7"),), 0, True)
    request = driver.attach_request(network, endpoint, "e" * 64)
    assert request is not None and request.bridge == network.bridge and request.mtu == 1450
    assert request.segment == "ov-" + NETWORK_ID[:12]
    # the firewall as on a bridge, through the host's link into the segment, which it routes
    firewall = driver.firewall_network(network)
    assert firewall is not None and firewall.bridge == network.bridge
    assert firewall.segment == request.segment


def test_user_subnet_vni_and_mtu_are_checked() -> None:
    driver = OverlayDriver()
    spec = NetworkSpec(
        name="ov",
        driver="overlay",
        ipam=(IpamRequest(IPv4Network("10.9.0.0/24")),),
        options=MappingProxyType({OPT_VNI: "42", OPT_MTU: "1400"}),
    )
    network = driver.plan_network(spec, place())
    assert (network.options[OPT_VNI], network.mtu) == ("42", 1400)
    with pytest.raises(Conflict, match="VXLAN id 42 is already in use"):
        driver.plan_network(spec, place(vnis=frozenset({42})))
    with pytest.raises(Conflict, match="Pool overlaps"):
        driver.plan_network(spec, place(taken=("10.9.0.0/16",)))
    for bad, message in (
        ({OPT_VNI: "0"}, "invalid VXLAN id 0"),
        ({OPT_VNI: "x"}, "invalid VXLAN id 'x'"),
        ({"com.docker.network.bridge.name": "br9"}, "unknown option"),
    ):
        with pytest.raises(InvalidArgument, match=message):
            driver.plan_network(NetworkSpec(name="ov", driver="overlay", options=bad), place())


def test_overlay_networks_are_ipv4_only() -> None:
    driver = OverlayDriver()
    for spec in (
        NetworkSpec(name="ov", driver="overlay", enable_ipv6=True),
        NetworkSpec(name="ov", driver="overlay", ipam=(IpamRequest(IPv6Network("fd00::/64")),)),
    ):
        with pytest.raises(InvalidArgument, match="^hatoba's overlay networks are IPv4 only$"):
            driver.plan_network(spec, place())
    two = (IpamRequest(IPv4Network("10.9.0.0/24")), IpamRequest(IPv4Network("10.8.0.0/24")))
    with pytest.raises(InvalidArgument, match="^an overlay network has one subnet$"):
        driver.plan_network(NetworkSpec(name="ov", driver="overlay", ipam=two), place())
