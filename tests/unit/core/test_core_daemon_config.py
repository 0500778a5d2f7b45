"""daemon.json: each key read as Docker reads it, a bad file refused with its key and reason,
and what is in force applied by the engine (pools, the default bridge, resolvers), also when
the file changes between two starts."""

from __future__ import annotations

import json
from ipaddress import IPv4Address, IPv4Interface, IPv4Network, IPv6Address, IPv6Network
from pathlib import Path
from typing import Any

import pytest

from fakes import FakeHost
from hatoba.engine.containers import CreateRequest
from hatoba.engine.engine import Engine
from hatoba.errors import HatobaError
from hatoba.model import daemon
from hatoba.model.container import ContainerConfig
from hatoba.model.daemon import DOCKER_ADDRESS_POOLS, AddressPool, BadConfig, DaemonConfig
from hatoba.model.daemon import parse as parse_config
from hatoba.model.network import OPT_ICC, OPT_MASQUERADE, OPT_MTU, IpamRequest, NetworkSpec

SOURCE = "/var/lib/hatoba/daemon.json"

FULL = {
    "default-address-pools": [
        {"base": "10.10.0.0/16", "size": 24},
        {"base": "fd00:10::/48", "size": 64},
    ],
    "bip": "10.99.0.1/24",
    "fixed-cidr": "10.99.0.128/25",
    "ipv6": True,
    "fixed-cidr-v6": "fd00:99::/64",
    "mtu": 1400,
    "ip-masq": False,
    "icc": False,
    "dns": ["192.0.2.53", "2001:db8::53"],
    "dns-search": ["corp.example"],
}


def test_every_key_is_read() -> None:
    config = parse_config(json.dumps(FULL), SOURCE)
    assert config == DaemonConfig(
        default_address_pools=(
            AddressPool(IPv4Network("10.10.0.0/16"), 24),
            AddressPool(IPv6Network("fd00:10::/48"), 64),
        ),
        bip=IPv4Interface("10.99.0.1/24"),
        fixed_cidr=IPv4Network("10.99.0.128/25"),
        ipv6=True,
        fixed_cidr_v6=IPv6Network("fd00:99::/64"),
        mtu=1400,
        ip_masq=False,
        icc=False,
        dns=(IPv4Address("192.0.2.53"), IPv6Address("2001:db8::53")),
        dns_search=("corp.example",),
        source=SOURCE,
    )
    assert parse_config("{}", SOURCE).default_address_pools == DOCKER_ADDRESS_POOLS
    # what info shows: every key, the defaults included
    assert daemon.to_json(config)["ipv6"] is True
    assert daemon.to_json(config)["fixed-cidr-v6"] == "fd00:99::/64"
    assert daemon.to_json(parse_config("{}", SOURCE))["fixed-cidr-v6"] == ""


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
        ('{"default-address-pools": [{"base": "fd00::/8", "size": 127}]}',
         '"default-address-pools": size 127 of fd00::/8: a prefix length from 8 to 126'),
        ('{"mtu": "1500"}', '"mtu": "1500" is not an MTU from 68 to 65535'),
        ('{"icc": "no"}', '"icc": "no" is not true or false'),
        ('{"dns": ["ns1"]}', '"dns": "ns1" is not an IP address'),
        ('{"ipv6": "yes"}', '"ipv6": "yes" is not true or false'),
        ('{"fixed-cidr-v6": "fd00:1::/64"}',
         '"fixed-cidr-v6": the default bridge\'s IPv6 subnet needs "ipv6": true'),
        ('{"ipv6": true, "fixed-cidr-v6": "10.0.0.0/8"}',
         '"fixed-cidr-v6": 10.0.0.0/8: an IPv6 CIDR'),
        ('{"ipv6": true, "fixed-cidr-v6": "fd00:1::/127"}',
         '"fixed-cidr-v6": fd00:1::/127: a prefix length up to 126 (the subnet needs hosts)'),
        ('{"fixed-cidr": "fd00::/64"}', '"fixed-cidr": fd00::/64: an IPv4 CIDR'),
    ],
    ids=[
        "json", "object", "unknown", "bip-network", "bip-garbage", "fixed-cidr", "pool-size",
        "pool-v6-size", "mtu", "icc", "dns", "ipv6", "fixed-cidr-v6-alone",
        "fixed-cidr-v6-family", "fixed-cidr-v6-size", "fixed-cidr-family",
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
    # "ipv6" and fixed-cidr-v6: the default bridge's IPv6 subnet, its gateway on hatoba0
    assert bridge.enable_ipv6 and [str(p.subnet) for p in bridge.pools(6)] == ["fd00:99::/64"]
    assert [str(g) for g in world.kernel.gateways["hatoba0"]] == ["10.99.0.1/24", "fd00:99::1/64"]
    created = engine.create_network(NetworkSpec(name="web"))
    assert created.pool is not None and created.pool.subnet == IPv4Network("10.10.0.0/24")
    assert created.mtu == 1500  # the uplink's: mtu is the default bridge's alone, as in Docker
    # as is "ipv6" (Docker >= 27): a user-defined network asks with --ipv6, and the pools'
    # IPv6 entry gives its subnet
    assert not created.enable_ipv6 and created.pools(6) == ()
    dual = engine.create_network(NetworkSpec(name="dual", enable_ipv6=True))
    assert [str(p.subnet) for p in dual.ipam] == ["10.10.1.0/24", "fd00:10::/64"]
    cid = world.run(engine, "c1")
    (ep,) = engine.container(cid).endpoints
    assert ep.ipv4 == IPv4Address("10.99.0.129")
    assert (ep.ipv6, ep.gateway6) == (IPv6Address("fd00:99::2"), IPv6Address("fd00:99::1"))
    resolv = world.runtime.files[(cid, "/etc/resolv.conf")]
    assert "nameserver 192.0.2.53\n" in resolv and "search corp.example\n" in resolv
    assert "nameserver 2001:db8::53\n" in resolv


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
    # IPv6 turned on: without fixed-cidr-v6, the next free subnet of the pools (Docker >= 28)
    again.exited(cid)
    dual = world.start(bip="10.99.0.1/24", ipv6=True).network("bridge")
    assert dual.id == bridge.id and dual.enable_ipv6
    assert [str(p.subnet) for p in dual.ipam] == ["10.99.0.0/24", "fd00::/64"]
    assert world.start(bip="10.99.0.1/24", ipv6=True).network("bridge") == dual
    # and back to the defaults
    default = world.start().network("bridge")
    assert default.pool is not None and default.pool.subnet == IPv4Network("172.17.0.0/16")
    assert not default.enable_ipv6 and default.pools(6) == ()


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
