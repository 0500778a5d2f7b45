from __future__ import annotations

import typing
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from types import MappingProxyType

import pytest

from hatoba.errors import Forbidden, InvalidArgument
from hatoba.model.container import (
    Container,
    ContainerConfig,
    Endpoint,
    EndpointConfig,
    link_local_for,
)
from hatoba.model.humanize import human_duration, status_text
from hatoba.model.ids import new_id, short_id, validate_container_name, validate_network_name
from hatoba.model.launch import environment
from hatoba.model.network import IpamPool, Network
from hatoba.model.signals import signal_number
from hatoba.store import codec
from hatoba.store.codec import decode, encode


def test_ids():
    value = new_id()
    assert len(value) == 64 and int(value, 16) >= 0
    assert not short_id(value).isdigit()


@pytest.mark.parametrize("name", ["a", "-x", "bad name", "x/y"])
def test_bad_container_names(name):
    with pytest.raises(InvalidArgument, match="Invalid container name"):
        validate_container_name(name)


def test_container_name_leading_slash():
    assert validate_container_name("/web") == "web"


def test_network_names_are_what_docker_accepts():
    assert validate_network_name("my net (2)!") == "my net (2)!"
    with pytest.raises(InvalidArgument, match="^invalid name:  $"):
        validate_network_name(" ")
    for predefined in ("bridge", "host", "none", "default", "ingress"):
        refused = f"^operation is not permitted on predefined {predefined} network $"
        with pytest.raises(Forbidden, match=refused):
            validate_network_name(predefined)


def test_human_duration_matches_go_units():
    assert human_duration(0.2) == "Less than a second"
    assert human_duration(1) == "1 second"
    assert human_duration(59) == "59 seconds"
    assert human_duration(60) == "About a minute"
    assert human_duration(150) == "2 minutes"
    assert human_duration(3600) == "About an hour"
    assert human_duration(3 * 3600) == "3 hours"
    assert human_duration(3 * 86400) == "3 days"


def test_status_text():
    assert status_text("created", "", "", 0, 0) == "Created"
    assert status_text("running", "1970-01-01T00:00:00.5Z", "", 0, 5.6).startswith("Up 5 seconds")
    assert status_text("exited", "", "1970-01-01T00:00:00Z", 137, 3) == "Exited (137) 3 seconds ago"


def test_environment_precedence():
    env = environment(["PATH=/img", "A=1"], ["A=2", "B=3"], "host1", tty=True, home="/root")
    assert env[0] == "PATH=/img"
    assert "A=2" in env and "B=3" in env and "HOSTNAME=host1" in env
    assert "TERM=xterm" in env and "HOME=/root" in env


def test_home_is_the_users_unless_the_environment_sets_it():
    assert "HOME=/nonexistent" in environment([], [], "h", tty=False, home="/nonexistent")
    assert "HOME=/mine" in environment([], ["HOME=/mine"], "h", tty=False, home="/root")


def test_signal_names():
    assert signal_number("KILL") == 9 == signal_number("SIGKILL") == signal_number("9")
    with pytest.raises(InvalidArgument):
        signal_number("NOPE")


def test_codec_round_trip():
    pool = IpamPool(IPv4Network("172.18.0.0/16"), IPv4Address("172.18.0.1"), None, True)
    network = Network(
        "a" * 64,
        "n",
        "bridge",
        "t",
        ipam=(pool,),
        bridge="br-x",
        labels=MappingProxyType({"k": "v"}),
    )
    assert decode(Network, encode(network)) == network
    container = Container(
        "b" * 64,
        "c",
        "t",
        ContainerConfig(image="hostfs", cmd=("sleep", "1")),
        networks=(EndpointConfig("a" * 64, ("x",), IPv4Address("172.18.0.9")),),
        endpoints=(
            Endpoint(
                "a" * 64, "e", "eth0", "veth1", IPv4Address("172.18.0.9"), 16, "m", None, True
            ),
        ),
    )
    assert decode(Container, encode(container)) == container


def test_codec_round_trip_of_ipv6_values_and_records_written_before_ipv6():
    v6 = IPv6Network("fd00:1::/64")
    pool = IpamPool(v6, v6[1], IPv6Network("fd00:1::/80"), True, False)
    network = Network("a" * 64, "n", "bridge", "t", ipam=(pool,), enable_ipv6=True)
    assert decode(Network, encode(network)) == network
    endpoint = Endpoint("a" * 64, "e", "eth0", "veth1", None, 0, "m", None, True, v6[5], 64, v6[1])
    container = Container(
        "b" * 64,
        "c",
        "t",
        ContainerConfig(image="hostfs"),
        networks=(EndpointConfig("a" * 64, ipv6=v6[5]),),
        endpoints=(endpoint,),
    )
    assert decode(Container, encode(container)) == container
    # an older record has no IPv6 fields: IPv4 only, as it was
    old = encode(
        Network(
            "a" * 64,
            "n",
            "bridge",
            "t",
            ipam=(IpamPool(IPv4Network("10.0.0.0/24"), IPv4Address("10.0.0.1")),),
        )
    )
    del old["enable_ipv6"], old["enable_ipv4"]
    decoded = decode(Network, old)
    assert (decoded.enable_ipv6, decoded.enable_ipv4, decoded.pool) == (
        False,
        True,
        IpamPool(IPv4Network("10.0.0.0/24"), IPv4Address("10.0.0.1")),
    )


def test_the_link_local_address_the_kernel_makes_from_a_mac():
    assert link_local_for("02:42:ac:12:00:02") == IPv6Address("fe80::42:acff:fe12:2")
    endpoint = Endpoint(
        "n", "e", "eth0", "v", IPv4Address("172.18.0.2"), 16, "02:42:ac:12:00:02", None
    )
    assert endpoint.link_local is None  # no IPv6 on that interface


def test_codec_reads_each_type_s_hints_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A service start decodes a record per container: what a type's fields are is worked out
    once per type, not once per value."""
    asked: list[object] = []
    hints = typing.get_type_hints
    monkeypatch.setattr(typing, "get_type_hints", lambda tp: asked.append(tp) or hints(tp))
    codec._decoder.cache_clear()
    container = Container("b" * 64, "c", "t", ContainerConfig(image="hostfs", cmd=("sleep", "1")))
    for _ in range(3):
        assert decode(Container, encode(container)) == container
    assert asked and len(asked) == len(set(asked))
