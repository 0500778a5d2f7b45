"""What Docker validates (and what a Docker-compatible engine must, where Docker writes the
value into a container's files or DNS as given), refused before anything is made: names
ending in a line break, an --ip at either end of its subnet, line breaks in the hostname,
--add-host names, DNS search domains and options, and container names or aliases that the
embedded DNS would answer in place of the host or of a public name."""

from __future__ import annotations

import dataclasses
from ipaddress import IPv4Address, IPv4Network
from typing import Any

import pytest

from hatoba.engine.containers import CreateRequest, EndpointRequest
from hatoba.errors import Conflict, InvalidArgument
from hatoba.model.container import ContainerConfig
from hatoba.model.ids import looks_like_id_prefix, validate_container_name
from hatoba.model.mounts import check_volume_name
from hatoba.model.network import IpamRequest, NetworkSpec

BASE = ContainerConfig(image="hostfs", cmd=("true",))


def state(world: Any) -> tuple[Any, ...]:
    engine, kernel, store, _ = world
    return (dict(engine.state.containers), dict(kernel.links), dict(store.containers))


@pytest.mark.parametrize("name", ["web\n", "web\nx", "/web\n"])
def test_names_ending_in_a_line_break_are_refused(name: str) -> None:
    with pytest.raises(InvalidArgument, match="Invalid container name"):
        validate_container_name(name)
    assert not looks_like_id_prefix("abc\n")


def test_volume_names_too() -> None:
    with pytest.raises(InvalidArgument, match="includes invalid characters"):
        check_volume_name("data\n")


@pytest.mark.parametrize(
    ("address", "what"), [("10.50.0.0", "network"), ("10.50.0.255", "broadcast")]
)
def test_an_ip_at_either_end_of_the_subnet_is_refused(world: Any, address: str, what: str) -> None:
    engine = world[0]
    subnet = IpamRequest(IPv4Network("10.50.0.0/24"))
    engine.create_network(NetworkSpec(name="vnet", ipam=(subnet,)))
    before = state(world)
    request = CreateRequest(
        dataclasses.replace(BASE, network_mode="vnet"),
        name="box",
        endpoints=(EndpointRequest("vnet", ipv4=IPv4Address(address)),),
    )
    with pytest.raises(Conflict) as refused:
        engine.create_container(request)
    assert refused.value.message == (
        f"Address already in use: {address} is the {what} address of 10.50.0.0/24"
    )
    assert state(world) == before


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"hostname": "h\nx"}, 'invalid hostname "h\\nx": it may not hold spaces'),
        ({"domainname": "example.org\n"}, 'invalid domainname "example.org\\n"'),
        ({"extra_hosts": ("a\nb:192.0.2.1",)}, 'invalid host name in --add-host "a\\nb"'),
        ({"extra_hosts": ("a b:192.0.2.1",)}, 'invalid host name in --add-host "a b"'),
        ({"dns_search": ("x\ny",)}, "x\ny is not a valid domain"),
        ({"dns_search": ("-bad.org",)}, "-bad.org is not a valid domain"),
        ({"dns_search": ("123",)}, "123 is not a valid domain"),
        ({"dns_options": ("ndots:1\nnameserver 203.0.113.9",)}, 'invalid DNS option "ndots:1'),
    ],
)
def test_values_written_into_the_containers_files_stay_one_word(
    world: Any, change: dict[str, Any], message: str
) -> None:
    engine = world[0]
    before = state(world)
    with pytest.raises(InvalidArgument) as refused:
        engine.create_container(CreateRequest(dataclasses.replace(BASE, **change), name="box"))
    assert refused.value.message.startswith(message)
    assert state(world) == before


def test_good_values_pass(world: Any) -> None:
    engine = world[0]
    good = dataclasses.replace(
        BASE,
        hostname="web-1",
        domainname="example.org",
        extra_hosts=("db:192.0.2.1", "gw:host-gateway"),
        dns_search=("example.org", "corp.example.", "."),
        dns_options=("ndots:2",),
    )
    assert engine.create_container(CreateRequest(good, name="box")).name == "box"


@pytest.mark.parametrize(
    ("name", "aliases", "message"),
    [
        ("host.docker.internal", (), "names under docker.internal are the host's"),
        ("web", ("gateway.docker.internal",), "names under docker.internal are the host's"),
        ("example.com", (), "its DNS answer would hide the public name example.com"),
        ("web", ("api.example.com",), "its DNS answer would hide the public name api.example"),
    ],
)
def test_names_the_dns_would_answer_in_place_of_others_are_refused(
    world: Any, name: str, aliases: tuple[str, ...], message: str
) -> None:
    engine = world[0]
    engine.create_network(NetworkSpec(name="vnet"))
    before = state(world)
    request = CreateRequest(
        dataclasses.replace(BASE, network_mode="vnet"),
        name=name,
        endpoints=(EndpointRequest("vnet", aliases=aliases),),
    )
    with pytest.raises(InvalidArgument) as refused:
        engine.create_container(request)
    shadowing = (aliases or (name,))[0]
    assert refused.value.message.startswith(f'invalid name "{shadowing}" on network vnet: ')
    assert message in refused.value.message
    assert state(world) == before


def test_a_dotted_name_is_fine_where_no_dns_answers_it_until_it_would_be(world: Any) -> None:
    engine = world[0]
    engine.create_network(NetworkSpec(name="vnet"))
    dotted = engine.create_container(CreateRequest(BASE, name="my.app"))  # the default bridge
    with pytest.raises(InvalidArgument, match='invalid name "my.app" on network vnet'):
        engine.connect("vnet", dotted.id)
    plain = engine.create_container(
        CreateRequest(dataclasses.replace(BASE, network_mode="vnet"), name="app")
    )
    with pytest.raises(InvalidArgument, match='invalid name "app.example.com" on network vnet'):
        engine.rename(plain.id, "app.example.com")
    assert engine.container("app").name == "app"
