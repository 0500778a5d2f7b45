"""daemon.json: each key read as Docker reads it, a bad file refused with its key and reason,
and what is in force applied by the engine (pools, the default bridge, resolvers), also when
the file changes between two starts."""

from __future__ import annotations

import json
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from pathlib import Path
from typing import Any

import pytest

from fakes import FakeHost
from hatoba.engine.containers import CreateRequest
from hatoba.engine.engine import Engine
from hatoba.errors import HatobaError
from hatoba.model.container import ContainerConfig
from hatoba.model.daemon import DOCKER_ADDRESS_POOLS, AddressPool, BadConfig, DaemonConfig
from hatoba.model.daemon import parse as parse_config
from hatoba.model.network import OPT_ICC, OPT_MASQUERADE, OPT_MTU, IpamRequest, NetworkSpec

SOURCE = "/var/lib/hatoba/daemon.json"

FULL = {
    "default-address-pools": [{"base": "10.10.0.0/16", "size": 24}],
    "bip": "10.99.0.1/24",
    "fixed-cidr": "10.99.0.128/25",
    "mtu": 1400,
    "ip-masq": False,
    "icc": False,
    "dns": ["192.0.2.53"],
    "dns-search": ["corp.example"],
    "ipv6": False,
}


def test_every_key_is_read() -> None:
    config = parse_config(json.dumps(FULL), SOURCE)
    assert config == DaemonConfig(
        default_address_pools=(AddressPool(IPv4Network("10.10.0.0/16"), 24),),
        bip=IPv4Interface("10.99.0.1/24"),
        fixed_cidr=IPv4Network("10.99.0.128/25"),
        mtu=1400,
        ip_masq=False,
        icc=False,
        dns=(IPv4Address("192.0.2.53"),),
        dns_search=("corp.example",),
        source=SOURCE,
    )
    assert parse_config("{}", SOURCE).default_address_pools == DOCKER_ADDRESS_POOLS


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{", "not JSON: Expecting property name enclosed in double quotes: line 1 column 2 "
         "(char 1)"),
        ("[]", "not a JSON object"),
        ('{"storage-driver": "overlay2", "bridge": "br0"}',
         "the following directives don't match any configuration option: bridge, storage-driver"),
        ('{"bip": "10.99.0.0/24"}',
         '"bip": 10.99.0.0/24: the bridge\'s own address with the subnet\'s prefix length'),
        ('{"bip": "nonsense"}', "\"bip\": invalid address 'nonsense': Expected 4 octets in "
         "'nonsense'"),
        ('{"fixed-cidr": "10.1.0.0/16", "bip": "10.99.0.1/24"}',
         '"fixed-cidr": 10.1.0.0/16 is not within the subnet of "bip" (10.99.0.0/24)'),
        ('{"default-address-pools": [{"base": "10.10.0.0/16", "size": 8}]}',
         '"default-address-pools": size 8 of 10.10.0.0/16: a prefix length from 16 to 30'),
        ('{"default-address-pools": [{"base": "fd00::/8", "size": 64}]}',
         '"default-address-pools": fd00::/8: IPv6 pools need IPv6 networks, not built yet'),
        ('{"mtu": "1500"}', '"mtu": "1500" is not an MTU from 68 to 65535'),
        ('{"icc": "no"}', '"icc": "no" is not true or false'),
        ('{"dns": ["ns1"]}', '"dns": "ns1" is not an IPv4 address'),
        ('{"ipv6": true}', '"ipv6": hatoba has no IPv6 networks yet'),
        ('{"fixed-cidr-v6": "fd00:1::/64"}', '"fixed-cidr-v6": hatoba has no IPv6 networks yet'),
    ],
    ids=[
        "json", "object", "unknown", "bip-network", "bip-garbage", "fixed-cidr", "pool-size",
        "pool-v6", "mtu", "icc", "dns", "ipv6", "fixed-cidr-v6",
    ],
)  # fmt: skip
def test_a_bad_file_is_refused_with_the_key_and_reason(text: str, reason: str) -> None:
    with pytest.raises(BadConfig) as refused:
        parse_config(text, SOURCE)
    assert refused.value.message == f"unable to configure hatoba with file {SOURCE}: {reason}"


class World(FakeHost):
    def __init__(self, tmp_path: Path) -> None:
        super().__init__(tmp_path, resolv_conf="nameserver 198.51.100.53\nsearch host.example\n")

    def start(self, config: DaemonConfig | None = None, **keys: Any) -> Engine:
        """A service start with these daemon.json keys."""
        return super().start(parse_config(json.dumps(keys), SOURCE) if keys else config)

    def run(self, engine: Engine, name: str, net: str = "default") -> str:
        cfg = ContainerConfig(image="hostfs", cmd=("sleep", "infinity"), network_mode=net)
        return engine.start(engine.create_container(CreateRequest(cfg, name=name)).id).id


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def test_the_default_bridge_and_new_networks_follow_the_file(world: World) -> None:
    engine = world.start(**FULL)
    bridge = engine.network("bridge")
    pool = bridge.pool
    assert pool is not None
    assert (pool.subnet, pool.gateway, pool.ip_range) == (
        IPv4Network("10.99.0.0/24"),
        IPv4Address("10.99.0.1"),
        IPv4Network("10.99.0.128/25"),
    )
    assert bridge.mtu == 1400
    assert (bridge.options[OPT_ICC], bridge.options[OPT_MASQUERADE]) == ("false", "false")
    assert bridge.options[OPT_MTU] == "1400"
    created = engine.create_network(NetworkSpec(name="web"))
    assert created.pool is not None and created.pool.subnet == IPv4Network("10.10.0.0/24")
    assert created.mtu == 1500  # the uplink's: mtu is the default bridge's alone, as in Docker
    cid = world.run(engine, "c1")
    (ep,) = engine.container(cid).endpoints
    assert ep.ipv4 == IPv4Address("10.99.0.129")
    resolv = world.runtime.files[(cid, "/etc/resolv.conf")]
    assert "nameserver 192.0.2.53\n" in resolv and "search corp.example\n" in resolv


def test_a_changed_file_plans_the_default_bridge_again_once_nothing_runs_on_it(
    world: World,
) -> None:
    engine = world.start()
    bridge = engine.network("bridge")
    cid = world.run(engine, "c1")
    kept = world.start(bip="10.99.0.1/24")
    assert kept.network("bridge") == bridge
    assert kept.config_warnings == [
        f"{SOURCE}: the bridge network keeps its settings while containers run on it; stop "
        "them and restart the service"
    ]
    kept.exited(cid)
    moved = world.start(bip="10.99.0.1/24").network("bridge")
    assert moved.id == bridge.id and moved.pool is not None
    assert moved.pool.subnet == IPv4Network("10.99.0.0/24")
    assert world.kernel.links["hatoba0"].owner == bridge.id
    # the stopped container is still on it, and starts there
    again = world.start(bip="10.99.0.1/24")
    assert again.config_warnings == []
    (ep,) = again.start(cid).endpoints
    assert ep.ipv4 in IPv4Network("10.99.0.0/24")
    # and back to the defaults
    again.exited(cid)
    default = world.start().network("bridge")
    assert default.pool is not None and default.pool.subnet == IPv4Network("172.17.0.0/16")


def test_a_file_the_default_bridge_cannot_follow_refuses_the_start(world: World) -> None:
    engine = world.start()
    engine.create_network(
        NetworkSpec(name="taken", ipam=(IpamRequest(IPv4Network("10.99.0.0/16")),))
    )
    with pytest.raises(HatobaError) as refused:
        world.start(bip="10.99.0.1/24")
    assert refused.value.message == (
        f"unable to configure hatoba with file {SOURCE}: network bridge: Pool overlaps with "
        "other one on this address space"
    )
