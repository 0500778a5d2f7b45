"""The engine asks a network's driver and never tests its name: a driver it has never heard
of works end to end, registered beside the others, and no use case tests for a missing DNS
server, firewall or port reserver."""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Iterator, Sequence
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from pathlib import Path

import pytest

import hatoba
from fakes import FakeKernel
from hatoba.drivers import registry
from hatoba.drivers.base import HostBridge, NetworkDriver, Placement
from hatoba.engine.containers import CreateRequest, EndpointRequest
from hatoba.engine.engine import Engine
from hatoba.engine.resolver import records
from hatoba.errors import Forbidden, InvalidArgument, NotFound
from hatoba.ipam.pools import make_pool
from hatoba.model.container import ContainerConfig, Endpoint
from hatoba.model.host import AttachRequest, OwnedLink
from hatoba.model.ids import new_id
from hatoba.model.network import IPAddress, Network, NetworkSpec

LAB_SUBNET = IPv4Network("10.77.0.0/24")


class LabDriver(NetworkDriver):
    """Not one of hatoba's: a bridge `lab-…` per network on 10.77.0.0/24, names in the
    embedded DNS, nothing in the firewall, no published ports."""

    name = "lab"
    gives_interface = True

    def plan_network(self, spec: NetworkSpec, placement: Placement) -> Network:
        return Network(
            placement.network_id,
            spec.name,
            self.name,
            placement.created,
            ipam=(make_pool(LAB_SUBNET),),
            bridge="lab-" + placement.network_id[:8],
            bridge_mac="02:42:0a:4d:00:01",
            mtu=placement.uplink_mtu,
        )

    def host_bridges(self, network: Network) -> tuple[HostBridge, ...]:
        assert network.bridge is not None and network.bridge_mac is not None
        gateway = IPv4Interface("10.77.0.1/24")
        return (HostBridge(network.bridge, network.bridge_mac, network.mtu, (gateway,)),)

    def plan_endpoint(
        self,
        network: Network,
        addresses: Sequence[IPAddress],
        slot: int,
        default_route: bool,
        *,
        mac: str = "",
    ) -> Endpoint:
        (address,) = addresses
        assert isinstance(address, IPv4Address)
        host_ifname = f"lab{slot}-{address.packed[-1]}"
        mac = mac or f"02:42:0a:4d:00:{address.packed[-1]:02x}"
        gateway = IPv4Address("10.77.0.1")
        return Endpoint(
            network.id,
            new_id(),
            f"eth{slot}",
            host_ifname,
            address,
            24,
            mac,
            gateway,
            default_route,
        )

    def attach_request(
        self, network: Network, endpoint: Endpoint, owner: str
    ) -> AttachRequest | None:
        assert network.bridge is not None and endpoint.ipv4 is not None
        return AttachRequest(
            bridge=network.bridge,
            host_ifname=endpoint.host_ifname or "",
            ifname=endpoint.ifname,
            ifindex=int(endpoint.ifname[3:]) + 2,
            mac=endpoint.mac,
            mtu=network.mtu,
            addresses=(IPv4Interface(f"{endpoint.ipv4}/24"),),
            default_gateways=(endpoint.gateway,)
            if endpoint.gateway and endpoint.default_route
            else (),
            owner=owner,
        )

    def serves_dns(self, network: Network) -> bool:
        return True


class SegmentDriver(LabDriver):
    """The lab's networks, each bridged in a namespace of its own (as overlay networks are)."""

    name = "seglab"

    def host_bridges(self, network: Network) -> tuple[HostBridge, ...]:
        (bridge,) = super().host_bridges(network)
        return (dataclasses.replace(bridge, segment=f"seg-{network.id[:8]}"),)

    def attach_request(
        self, network: Network, endpoint: Endpoint, owner: str
    ) -> AttachRequest | None:
        request = super().attach_request(network, endpoint, owner)
        assert request is not None
        return dataclasses.replace(request, segment=f"seg-{network.id[:8]}")


class SoloDriver(NetworkDriver):
    """Not one of hatoba's either: nothing but exclusivity, as none has."""

    name = "solo"
    exclusive = True


@pytest.fixture
def drivers() -> Iterator[None]:
    registry.register(LabDriver())
    registry.register(SegmentDriver())
    registry.register(SoloDriver())
    try:
        yield
    finally:
        registry.unregister("lab")
        registry.unregister("seglab")
        registry.unregister("solo")


def run(engine: Engine, name: str, net: str, *endpoints: EndpointRequest) -> str:
    cfg = ContainerConfig(image="hostfs", cmd=("sleep", "infinity"), network_mode=net)
    created = engine.create_container(CreateRequest(cfg, name=name, endpoints=endpoints))
    return engine.start(created.id).id


def test_a_new_driver_works_end_to_end_without_engine_changes(world, drivers: None) -> None:
    engine, kernel, _store, _runtime = world
    kernel: FakeKernel
    lab = engine.create_network(NetworkSpec(name="lab1", driver="lab"))
    assert lab.bridge is not None
    assert kernel.links[lab.bridge].kind == "bridge" and kernel.links[lab.bridge].owner == lab.id

    a = engine.container(run(engine, "alpha", "lab1"))
    (ep,) = a.endpoints
    assert ep.ifname == "eth0" and ep.ipv4 in LAB_SUBNET and ep.default_route
    (request,) = kernel.attached[a.netns]
    assert (request.bridge, request.default_gateways) == (lab.bridge, (IPv4Address("10.77.0.1"),))
    found, gateways = records(engine.state)
    assert [(r.names[0], r.network_name) for r in found] == [("alpha", "lab1")]
    assert gateways == {lab.id: IPv4Address("10.77.0.1")}

    b = engine.container(run(engine, "beta", "default"))
    b = engine.connect("lab1", b.id)
    assert [e.ifname for e in b.endpoints] == ["eth0", "eth1"]
    lab_ep = b.endpoint_on(lab.id)
    assert lab_ep is not None and lab_ep.host_ifname in kernel.links
    assert kernel.attached[b.netns][-1].ifindex == 3
    assert {r.names[0] for r in records(engine.state)[0]} == {"alpha", "beta"}

    b = engine.disconnect("lab1", b.id)
    assert lab_ep.host_ifname not in kernel.links and b.endpoint_on(lab.id) is None
    with pytest.raises(Forbidden, match="has active endpoints"):
        engine.remove_network("lab1")
    engine.exited(a.id)
    engine.remove(a.id)
    engine.remove_network("lab1")
    assert lab.bridge not in kernel.links


def test_a_bridge_in_a_segment_is_made_repaired_and_removed_there(world, drivers: None) -> None:
    engine, kernel, _store, _runtime = world
    kernel: FakeKernel
    lab = engine.create_network(NetworkSpec(name="seg1", driver="seglab"))
    segment, bridge = f"seg-{lab.id[:8]}", lab.bridge
    assert bridge is not None
    # the bridge in the segment; on the host, the link into it (a veth)
    assert kernel.segments[segment][bridge].kind == "bridge"
    assert kernel.links[bridge].kind == "veth"
    a = engine.container(run(engine, "alpha", "seg1"))
    veth = a.endpoints[0].host_ifname
    assert veth in kernel.segments[segment] and veth not in kernel.links

    # someone deletes the host's link, then the bridge in the segment: both come back
    del kernel.links[bridge]
    engine.repair()
    assert kernel.links[bridge].kind == "veth"
    del kernel.segments[segment][bridge]
    engine.repair()
    assert kernel.segments[segment][bridge].kind == "bridge" and veth in kernel.segments[segment]
    # a leftover port in the segment, of no endpoint, goes
    kernel.segments[segment]["stray"] = OwnedLink("stray", "veth", a.id, bridge)
    engine.repair()
    assert "stray" not in kernel.segments[segment]

    b = engine.container(run(engine, "beta", "default"))
    b = engine.connect("seg1", b.id)
    port = b.endpoint_on(lab.id)
    assert port is not None and port.host_ifname in kernel.segments[segment]
    b = engine.disconnect("seg1", b.id)
    assert port.host_ifname not in kernel.segments[segment]

    engine.exited(a.id)
    engine.remove(a.id)
    engine.remove_network("seg1")
    assert segment not in kernel.segments and bridge not in kernel.links


def test_exclusivity_comes_from_the_driver(world, drivers: None) -> None:
    engine, *_ = world
    engine.create_network(NetworkSpec(name="alone", driver="solo"))
    with pytest.raises(InvalidArgument, match="host and none are exclusive"):
        run(engine, "loner", "alone", EndpointRequest("bridge"))
    cid = run(engine, "loner", "alone")
    assert engine.container(cid).endpoints[0].ifname == ""
    with pytest.raises(Forbidden, match=r"in private \(none\) mode"):
        engine.connect("bridge", cid)


def test_an_unknown_driver_is_a_missing_plugin_and_changes_nothing(world) -> None:
    engine, kernel, store, _ = world
    before = (dict(engine.state.networks), dict(kernel.links), dict(store.networks))
    with pytest.raises(NotFound, match='^plugin "lab" not found$'):
        engine.create_network(NetworkSpec(name="lab1", driver="lab"))
    assert before == (dict(engine.state.networks), dict(kernel.links), dict(store.networks))


# what the driver seam and the no-op adapters replaced, and must not come back
_DRIVER_NAMES = {"BRIDGE", "HOST", "NULL"}
_OPTIONAL_PIECES = {"dns", "firewall", "port_reserver", "reserver"}


def _offences(tree: ast.AST) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "hatoba.model.network":
            yield from (f"imports {a.name}" for a in node.names if a.name in _DRIVER_NAMES)
        if not isinstance(node, ast.Compare):
            continue
        sides = [node.left, *node.comparators]
        names = {s.attr if isinstance(s, ast.Attribute) else getattr(s, "id", "") for s in sides}
        if "driver" in names:
            yield f"compares a driver name: {ast.unparse(node)}"
        none = any(isinstance(s, ast.Constant) and s.value is None for s in sides)
        if none and names & _OPTIONAL_PIECES:
            yield f"tests for a missing piece: {ast.unparse(node)}"


def test_engine_firewall_observe_and_api_never_test_driver_names_or_missing_pieces() -> None:
    src = Path(hatoba.__file__).parent
    modules = [p for d in ("engine", "firewall", "observe", "api") for p in (src / d).glob("*.py")]
    # `network ls --filter driver=…` and `volume ls --filter driver=…` match the user's names
    # against the field: data
    modules.remove(src / "api" / "routes_networks.py")
    modules.remove(src / "api" / "routes_volumes.py")
    found = [
        f"{path.relative_to(src)}: {offence}"
        for path in modules
        for offence in _offences(ast.parse(path.read_text()))
    ]
    assert found == []
