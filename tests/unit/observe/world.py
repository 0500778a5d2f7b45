"""A small world of records for the planning and assembly tests: the default bridge with c1,
c2 and a published web server, a user-defined network `sample` with s1 (alias `db`), an
uplink eth0 203.0.113.1 routing everything else."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

from hatoba.dns.records import DnsRecord
from hatoba.model.container import Container, ContainerConfig, Endpoint, EndpointConfig, RunState
from hatoba.model.network import IpamPool, Network
from hatoba.model.ports import PortMapping
from hatoba.observe.plan import World


def network(name: str, octet: int, bridge: str, *, predefined: bool = False) -> Network:
    pool = IpamPool(IPv4Network(f"172.{octet}.0.0/16"), IPv4Address(f"172.{octet}.0.1"))
    return Network(name[0] * 64, name, "bridge", "", (pool,), bridge, predefined=predefined)


BRIDGE = network("bridge", 17, "hatoba0", predefined=True)
SAMPLE = network("sample", 18, "br-ssssssssssss")
OTHER = network("other", 19, "br-oooooooooooo")


def container(
    name: str, network: Network, host: int, *, published: tuple[PortMapping, ...] = (),
    aliases: tuple[str, ...] = (),
) -> Container:  # fmt: skip
    assert network.pool is not None
    ip = network.pool.subnet.network_address + host
    endpoint = Endpoint(
        network.id, f"ep-{name}", "eth0", f"veth{name}", ip, 16, "02:42:00:00:00:00",
        network.pool.gateway, default_route=True,
    )  # fmt: skip
    return Container(
        id=(name * 64)[:64],
        name=name,
        created="",
        config=ContainerConfig(image="hostfs"),
        networks=(EndpointConfig(network.id, aliases),),
        state=RunState(status="running"),
        endpoints=(endpoint,),
        netns=f"/run/hatoba/netns/{name}",
        published=published,
    )


C1 = container("c1", BRIDGE, 2)
C2 = container("c2", BRIDGE, 3)
WEB = container("web", BRIDGE, 4, published=(PortMapping(80, "tcp", None, 8000),))
S1 = container("s1", SAMPLE, 2, aliases=("db",))
S2 = container("s2", SAMPLE, 3)
O1 = container("o1", OTHER, 2)


def world() -> World:
    containers = [C1, C2, WEB, S1, S2, O1]
    names = []
    for c, net in ((S1, SAMPLE), (S2, SAMPLE), (O1, OTHER)):
        ep = c.endpoints[0]
        assert ep.ipv4 is not None
        names.append(DnsRecord(c.id, net.id, net.name, (c.name, *c.networks[0].aliases), ep.ipv4))
    return World(
        containers=containers,
        networks={n.id: n for n in (BRIDGE, SAMPLE, OTHER)},
        host_addresses={
            "lo": ["127.0.0.1"],
            "eth0": ["203.0.113.1"],
            "hatoba0": ["172.17.0.1"],
            "br-ssssssssssss": ["172.18.0.1"],
            "br-oooooooooooo": ["172.19.0.1"],
        },
        route_via=lambda address: "eth0",
        names=names,
    )
