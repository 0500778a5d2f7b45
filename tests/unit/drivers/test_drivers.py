"""Each driver's answers at the seam (drivers/base.py), without an engine or a kernel."""

from __future__ import annotations

import dataclasses
from ipaddress import (
    IPv4Address,
    IPv4Interface,
    IPv4Network,
    IPv6Address,
    IPv6Interface,
    IPv6Network,
    ip_network,
)
from types import MappingProxyType

import pytest

from hatoba.drivers import registry
from hatoba.drivers.base import HostBridge, NetworkDriver, Placement
from hatoba.drivers.bridge import BridgeDriver
from hatoba.drivers.host import HostDriver
from hatoba.drivers.macvlan import IpvlanDriver, MacvlanDriver
from hatoba.drivers.null import NullDriver
from hatoba.errors import Conflict, HatobaError, InvalidArgument, NotFound
from hatoba.firewall import FwNetwork
from hatoba.model.host import AttachRequest, HostLink, MacvlanRequest
from hatoba.model.network import (
    OPT_BRIDGE_NAME,
    OPT_ICC,
    OPT_MASQUERADE,
    OPT_MTU,
    IpamRequest,
    NetworkSpec,
)

NETWORK_ID = "ab" * 32


def place(*, predefined: bool = False, taken: tuple[str, ...] = ()) -> Placement:
    return Placement(
        network_id=NETWORK_ID,
        created="2026-12-06T00:00:00.000000000Z",
        predefined=predefined,
        uplink_mtu=1450,
        taken=tuple(ip_network(t) for t in taken),
    )


def test_the_registry_knows_its_drivers_and_refuses_others_as_docker() -> None:
    assert [(d.name, d.predefined_network) for d in registry.known()] == [
        ("bridge", "bridge"),
        ("host", "host"),
        ("null", "none"),
        ("overlay", None),
        ("macvlan", None),
        ("ipvlan", None),
    ]
    with pytest.raises(NotFound, match='^plugin "weave" not found$'):
        registry.named("weave")


ANSWERS = (
    "single_instance",
    "exclusive",
    "shares_host_namespace",
    "gives_interface",
    "publishes_ports",
)


@pytest.mark.parametrize(
    ("driver", "expected"),
    [
        (BridgeDriver(), (False, False, False, True, True)),
        (HostDriver(), (True, True, True, False, False)),
        (NullDriver(), (True, True, False, False, False)),
    ],
    ids=["bridge", "host", "null"],
)
def test_what_each_driver_allows(driver: NetworkDriver, expected: tuple[bool, ...]) -> None:
    assert tuple(getattr(driver, name) for name in ANSWERS) == expected


@pytest.mark.parametrize("driver", [HostDriver(), NullDriver()], ids=["host", "null"])
def test_host_and_null_have_nothing_of_their_own(driver: NetworkDriver) -> None:
    network = driver.plan_network(NetworkSpec(name="x", driver=driver.name), place(predefined=True))
    assert (network.id, network.driver, network.predefined) == (NETWORK_ID, driver.name, True)
    assert network.ipam == () and network.bridge is None
    assert driver.host_bridges(network) == ()
    endpoint = driver.plan_endpoint(network, (), 0, True)
    assert (endpoint.network_id, endpoint.ifname, endpoint.ipv4, endpoint.host_ifname) == (
        NETWORK_ID,
        "",
        None,
        None,
    )
    assert not endpoint.default_route and len(endpoint.endpoint_id) == 64
    assert driver.attach_request(network, endpoint, "c" * 64) is None
    assert driver.firewall_network(network) is None
    assert not driver.serves_dns(network)


def test_a_bridge_network_gets_a_free_pool_its_bridge_and_the_uplink_mtu() -> None:
    bridge = BridgeDriver()
    network = bridge.plan_network(NetworkSpec(name="web"), place(taken=("172.18.0.0/16",)))
    assert network.bridge == "br-" + NETWORK_ID[:12] and network.mtu == 1450
    assert network.pool is not None and str(network.pool.subnet) == "172.17.0.0/16"
    assert network.bridge_mac is not None and network.bridge_mac.startswith("02:42:")
    assert bridge.host_bridges(network) == (
        HostBridge(network.bridge, network.bridge_mac, 1450, (IPv4Interface("172.17.0.1/16"),)),
    )
    assert bridge.serves_dns(network)
    assert bridge.firewall_network(network) == FwNetwork(
        NETWORK_ID, "web", network.bridge, (IPv4Network("172.17.0.0/16"),)
    )
    assert not network.enable_ipv6 and network.enable_ipv4


def test_the_default_bridge_is_hatoba0_with_dockers_options_and_no_dns() -> None:
    bridge = BridgeDriver()
    network = bridge.plan_network(NetworkSpec(name="bridge"), place(predefined=True))
    assert network.bridge == "hatoba0" and network.predefined
    assert network.options[OPT_BRIDGE_NAME] == "hatoba0" and network.options[OPT_MTU] == "1450"
    assert not bridge.serves_dns(network)


def test_bridge_options_and_subnets_as_docker_checks_them() -> None:
    bridge = BridgeDriver()
    options = MappingProxyType(
        {OPT_BRIDGE_NAME: "lab0", OPT_MTU: "1400", OPT_ICC: "false", OPT_MASQUERADE: "false"}
    )
    spec = NetworkSpec(
        name="lab",
        ipam=(IpamRequest(IPv4Network("10.9.0.0/24")),),
        internal=True,
        options=options,
    )
    network = bridge.plan_network(spec, place())
    assert (network.bridge, network.mtu) == ("lab0", 1400)
    fw = bridge.firewall_network(network)
    assert fw is not None and (fw.internal, fw.icc, fw.masquerade) == (True, False, False)
    with pytest.raises(InvalidArgument, match="every ip-range or gateway must have"):
        bridge.plan_network(
            NetworkSpec(name="x", ipam=(IpamRequest(gateway=IPv4Address("10.9.0.1")),)), place()
        )
    with pytest.raises(InvalidArgument, match="invalid MTU number: 20"):
        bridge.plan_network(NetworkSpec(name="x", options={OPT_MTU: "20"}), place())
    with pytest.raises(Conflict, match="Pool overlaps"):
        bridge.plan_network(spec, place(taken=("10.9.0.128/25",)))


def test_a_bridge_endpoint_is_a_veth_on_the_bridge_with_a_mac_from_its_address() -> None:
    bridge = BridgeDriver()
    network = bridge.plan_network(NetworkSpec(name="web"), place())
    endpoint = bridge.plan_endpoint(network, (IPv4Address("172.17.0.5"),), 1, True)
    assert (endpoint.ifname, endpoint.ipv4, endpoint.prefixlen, endpoint.mac) == (
        "eth1",
        IPv4Address("172.17.0.5"),
        16,
        "02:42:ac:11:00:05",
    )
    assert endpoint.host_ifname is not None and endpoint.host_ifname.startswith("veth")
    assert endpoint.gateway == IPv4Address("172.17.0.1") and endpoint.default_route
    assert bridge.attach_request(network, endpoint, "c" * 64) == AttachRequest(
        bridge=network.bridge or "",
        host_ifname=endpoint.host_ifname,
        ifname="eth1",
        ifindex=3,
        mac="02:42:ac:11:00:05",
        mtu=1450,
        addresses=(IPv4Interface("172.17.0.5/16"),),
        default_gateways=(IPv4Address("172.17.0.1"),),
        owner="c" * 64,
    )
    second = bridge.plan_endpoint(network, (IPv4Address("172.17.0.6"),), 2, False)
    request = bridge.attach_request(network, second, "c" * 64)
    assert request is not None and request.default_gateways == () and not request.ipv6
    # the user's Config.MacAddress over the one made of the address
    chosen = bridge.plan_endpoint(
        network, (IPv4Address("172.17.0.7"),), 3, False, mac="02:42:0b:0b:0b:0b"
    )
    assert chosen.mac == "02:42:0b:0b:0b:0b"


class LanHost:
    """A host with one interface, `lan0` (MTU 1400), and no ipvlan or 802.1q module."""

    def host_link(self, name: str) -> HostLink | None:
        return HostLink("lan0", "veth", 1400) if name == "lan0" else None

    def supports_link_kind(self, kind: str) -> bool:
        return kind == "macvlan"


def lan_place(**kw: object) -> Placement:
    return dataclasses.replace(place(), host=LanHost(), **kw)  # type: ignore[arg-type]


LAN = IPv4Network("192.0.2.0/24")


LAN_IPAM = IpamRequest(
    LAN,
    IPv4Address("192.0.2.254"),
    aux_addresses=MappingProxyType({"host": IPv4Address("192.0.2.2")}),
)


def macvlan_spec(**options: str) -> NetworkSpec:
    return NetworkSpec(
        name="lan",
        driver="macvlan",
        ipam=(LAN_IPAM,),
        options=MappingProxyType({"parent": "lan0", **options}),
    )


def test_a_macvlan_network_joins_its_parents_segment_and_nothing_on_the_host() -> None:
    macvlan = MacvlanDriver()
    # the host's own route to the LAN is no overlap: the containers join that very LAN
    network = macvlan.plan_network(macvlan_spec(), lan_place(taken=(LAN,)))
    assert (network.driver, network.mtu, network.bridge) == ("macvlan", 1400, None)
    assert network.pool is not None and network.pool.gateway == IPv4Address("192.0.2.254")
    assert macvlan.host_bridges(network) == () and macvlan.firewall_network(network) is None
    assert macvlan.serves_dns(network) and macvlan.interfaces_in_namespace
    endpoint = macvlan.plan_endpoint(network, (IPv4Address("192.0.2.7"),), 1, True)
    assert (endpoint.ifname, endpoint.host_ifname, endpoint.mac) == (
        "eth1",
        None,
        "02:42:c0:00:02:07",
    )
    assert macvlan.attach_request(network, endpoint, "c" * 64) == MacvlanRequest(
        parent="lan0",
        mode="bridge",
        ifname="eth1",
        mac="02:42:c0:00:02:07",
        addresses=(IPv4Interface("192.0.2.7/24"),),
        default_gateways=(IPv4Address("192.0.2.254"),),
        owner="c" * 64,
    )
    refusal = macvlan.publish_refusal(network)
    assert refusal is not None and refusal.message.startswith(
        "cannot publish ports on macvlan network lan:"
    )
    (warning,) = macvlan.warnings(network)
    assert "the host cannot reach containers on lan through lan0" in warning
    assert "ip addr add 192.0.2.2/32 dev macvlan-host" in warning
    private = macvlan.plan_network(macvlan_spec(macvlan_mode="private"), lan_place())
    request = macvlan.attach_request(private, endpoint, "c" * 64)
    assert isinstance(request, MacvlanRequest) and request.mode == "private"


@pytest.mark.parametrize(
    ("spec", "place_kw", "message"),
    [
        (
            dataclasses.replace(macvlan_spec(), options=MappingProxyType({})),
            {},
            "macvlan networks need -o parent=IFACE",
        ),
        (macvlan_spec(parent="lo"), {}, "loopback interface is not a valid macvlan parent link"),
        (
            macvlan_spec(parent="eth9"),
            {},
            "the requested parent interface eth9 was not found on the host",
        ),
        (
            macvlan_spec(parent="lan0.10"),
            {},
            "-o parent=lan0.10 (VLAN 10 on lan0) cannot be made here: this kernel lacks the "
            "8021q module",
        ),
        (
            macvlan_spec(macvlan_mode="l2"),
            {},
            "requested macvlan mode 'l2' is not valid, 'bridge' mode is the macvlan driver default",
        ),
        (macvlan_spec(mtu="9000"), {}, "unknown option(s) for the macvlan driver: mtu"),
        (dataclasses.replace(macvlan_spec(), ipam=()), {}, "macvlan networks need --subnet"),
        (
            dataclasses.replace(macvlan_spec(), internal=True),
            {},
            "macvlan networks cannot be --internal",
        ),
        (
            macvlan_spec(),
            {"network_subnets": (IPv4Network("192.0.2.128/25"),)},
            "Pool overlaps with other one on this address space",
        ),
        (
            dataclasses.replace(macvlan_spec(), enable_ipv6=True),
            {},
            "macvlan networks with IPv6 need an IPv6 --subnet",
        ),
    ],
    ids=[
        "no-parent",
        "loopback",
        "missing",
        "vlan",
        "mode",
        "option",
        "no-subnet",
        "internal",
        "overlap",
        "ipv6-no-subnet",
    ],
)
def test_macvlan_networks_refused_with_the_reason(
    spec: NetworkSpec, place_kw: dict[str, object], message: str
) -> None:
    with pytest.raises(HatobaError) as refused:
        MacvlanDriver().plan_network(spec, lan_place(**place_kw))
    assert refused.value.message.startswith(message)


LAN6 = IpamRequest(IPv6Network("2001:db8:2::/64"), IPv6Address("2001:db8:2::fe"))


def test_a_macvlan_network_may_have_ipv6_subnets_of_the_users_too() -> None:
    macvlan = MacvlanDriver()
    dual = macvlan.plan_network(
        dataclasses.replace(macvlan_spec(), ipam=(LAN6, LAN_IPAM)), lan_place()
    )
    assert dual.enable_ipv6 and [str(p.subnet) for p in dual.ipam] == [
        "192.0.2.0/24",
        "2001:db8:2::/64",
    ]
    addresses = (IPv4Address("192.0.2.7"), IPv6Address("2001:db8:2::7"))
    endpoint = macvlan.plan_endpoint(dual, addresses, 0, True)
    request = macvlan.attach_request(dual, endpoint, "c" * 64)
    assert isinstance(request, MacvlanRequest) and request.ipv6
    assert request.addresses == (IPv4Interface("192.0.2.7/24"), IPv6Interface("2001:db8:2::7/64"))
    assert request.default_gateways == (IPv4Address("192.0.2.254"), IPv6Address("2001:db8:2::fe"))
    # IPv6 only: the way round for the host names an IPv6 host address
    spec = dataclasses.replace(macvlan_spec(), ipam=(LAN6,), enable_ipv4=False)
    only6 = macvlan.plan_network(spec, lan_place())
    assert only6.pool is None and [str(p.subnet) for p in only6.ipam] == ["2001:db8:2::/64"]
    (warning,) = macvlan.warnings(only6)
    assert "ip addr add IP/128 dev macvlan-host" in warning
    assert "ip route add 2001:db8:2::/64 dev macvlan-host" in warning
    endpoint6 = macvlan.plan_endpoint(only6, addresses[1:], 0, True)
    assert macvlan.attach_request(only6, endpoint6, "c" * 64) == MacvlanRequest(
        parent="lan0",
        mode="bridge",
        ifname="eth0",
        mac="02:42:00:00:00:07",
        addresses=(IPv6Interface("2001:db8:2::7/64"),),
        default_gateways=(IPv6Address("2001:db8:2::fe"),),
        owner="c" * 64,
    )


def test_ipvlan_is_refused_with_the_module_the_kernel_lacks() -> None:
    spec = NetworkSpec(name="iv", driver="ipvlan")
    with pytest.raises(InvalidArgument, match="^ipvlan networks cannot be made here: this kernel"):
        IpvlanDriver().plan_network(spec, lan_place())


def test_ipv6_gives_a_ula_slash64_beside_the_ipv4_subnet_in_dockers_order() -> None:
    bridge = BridgeDriver()
    network = bridge.plan_network(
        NetworkSpec(name="dual", enable_ipv6=True), place(taken=("172.17.0.0/16", "fd00::/64"))
    )
    assert network.enable_ipv6
    assert [(str(p.subnet), str(p.gateway), p.user_subnet) for p in network.ipam] == [
        ("172.18.0.0/16", "172.18.0.1", False),
        ("fd00:0:0:1::/64", "fd00:0:0:1::1", False),
    ]
    (host_bridge,) = bridge.host_bridges(network)
    assert host_bridge.gateways == (
        IPv4Interface("172.18.0.1/16"),
        IPv6Interface("fd00:0:0:1::1/64"),
    )
    fw = bridge.firewall_network(network)
    assert fw is not None
    assert fw.subnets == (IPv4Network("172.18.0.0/16"), IPv6Network("fd00:0:0:1::/64"))


def test_subnets_asked_for_come_first_ipv4_before_ipv6_and_an_ipv6_one_turns_ipv6_on() -> None:
    bridge = BridgeDriver()
    asked = (
        IpamRequest(IPv6Network("fd00:9::/64"), IPv6Address("fd00:9::fe")),
        IpamRequest(IPv4Network("10.1.0.0/24")),
        IpamRequest(IPv4Network("10.2.0.0/24"), ip_range=IPv4Network("10.2.0.128/25")),
    )
    network = bridge.plan_network(NetworkSpec(name="multi", ipam=asked), place())
    assert network.enable_ipv6  # Docker >= 25: an IPv6 subnet enables IPv6
    assert [(str(p.subnet), str(p.gateway), p.user_gateway) for p in network.ipam] == [
        ("10.1.0.0/24", "10.1.0.1", False),
        ("10.2.0.0/24", "10.2.0.1", False),
        ("fd00:9::/64", "fd00:9::fe", True),
    ]
    # IPv6 only: no IPv4 subnet at all
    only6 = bridge.plan_network(
        NetworkSpec(name="v6", enable_ipv6=True, enable_ipv4=False), place()
    )
    assert [str(p.subnet) for p in only6.ipam] == ["fd00::/64"] and only6.pool is None


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        (NetworkSpec(name="x", enable_ipv4=False), "^IPv4 or IPv6 must be enabled$"),
        (
            NetworkSpec(
                name="x", enable_ipv4=False, ipam=(IpamRequest(IPv4Network("10.0.0.0/24")),)
            ),
            "IPv4 is disabled on this network, but it was given the IPv4 subnet 10.0.0.0/24",
        ),
        (
            NetworkSpec(
                name="x", ipam=(IpamRequest(IPv6Network("fd00::/64"), IPv4Address("10.0.0.1")),)
            ),
            "^no matching subnet for gateway 10.0.0.1$",
        ),
        (
            NetworkSpec(
                name="x",
                ipam=(IpamRequest(IPv6Network("fd00::/64"), ip_range=IPv6Network("fd00:1::/80")),),
            ),
            "^no matching subnet for range fd00:1::/80$",
        ),
    ],
    ids=["nothing enabled", "ipv4 subnet without ipv4", "gateway family", "range outside"],
)
def test_bad_ipv6_configurations_as_docker_words_them(spec: NetworkSpec, error: str) -> None:
    with pytest.raises(InvalidArgument, match=error):
        BridgeDriver().plan_network(spec, place())


def test_overlapping_ipv6_subnets_are_refused() -> None:
    bridge = BridgeDriver()
    twice = (IpamRequest(IPv6Network("fd00::/64")), IpamRequest(IPv6Network("fd00::/96")))
    with pytest.raises(Conflict, match="^Pool overlaps with other one on this address space$"):
        bridge.plan_network(NetworkSpec(name="x", ipam=twice), place())
    with pytest.raises(Conflict, match="^Pool overlaps"):
        bridge.plan_network(
            NetworkSpec(name="x", ipam=(IpamRequest(IPv6Network("fd00::/64")),)),
            place(taken=("fd00::/48",)),
        )


def test_a_dual_stack_endpoint_has_both_addresses_and_both_default_routes() -> None:
    bridge = BridgeDriver()
    network = bridge.plan_network(NetworkSpec(name="dual", enable_ipv6=True), place())
    addresses = (IPv4Address("172.17.0.2"), IPv6Address("fd00::2"))
    endpoint = bridge.plan_endpoint(network, addresses, 0, True)
    assert (endpoint.ipv6, endpoint.prefixlen6, endpoint.gateway6) == (
        IPv6Address("fd00::2"),
        64,
        IPv6Address("fd00::1"),
    )
    assert endpoint.mac == "02:42:ac:11:00:02"
    assert endpoint.link_local == IPv6Address("fe80::42:acff:fe11:2")
    request = bridge.attach_request(network, endpoint, "c" * 64)
    assert request is not None and request.ipv6
    assert request.addresses == (IPv4Interface("172.17.0.2/16"), IPv6Interface("fd00::2/64"))
    assert request.default_gateways == (IPv4Address("172.17.0.1"), IPv6Address("fd00::1"))
    # IPv6 only: the MAC comes from the IPv6 address, no IPv4 at all
    only6 = bridge.plan_network(
        NetworkSpec(name="v6", enable_ipv6=True, enable_ipv4=False), place()
    )
    alone = bridge.plan_endpoint(only6, (IPv6Address("fd00::a:2"),), 0, True)
    assert (alone.ipv4, alone.gateway, alone.mac) == (None, None, "02:42:00:0a:00:02")
    request = bridge.attach_request(only6, alone, "c" * 64)
    assert request is not None and request.default_gateways == (IPv6Address("fd00::1"),)
