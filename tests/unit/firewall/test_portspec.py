"""`-p`/`--expose` parsing (the docker CLI's part) and PortBindings → PortMappings (the daemon's).

Expected shapes and texts were taken from the docker 28.2 CLI, which sends its parse result to
the daemon (captured with a fake API socket) or prints the error.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

import pytest

from hatoba.errors import InvalidArgument
from hatoba.model.ports import PortMapping
from hatoba.model.portspec import mappings_from_api, parse_expose, parse_publish


@pytest.mark.parametrize(
    ("spec", "exposed", "bindings"),
    [
        ("80", ["80/tcp"], {"80/tcp": [("", "")]}),
        (":80", ["80/tcp"], {"80/tcp": [("", "")]}),
        ("8000:80", ["80/tcp"], {"80/tcp": [("", "8000")]}),
        ("0:80", ["80/tcp"], {"80/tcp": [("", "0")]}),
        ("127.0.0.1:8001:80", ["80/tcp"], {"80/tcp": [("127.0.0.1", "8001")]}),
        ("127.0.0.1::80", ["80/tcp"], {"80/tcp": [("127.0.0.1", "")]}),
        ("0.0.0.0:8000:80", ["80/tcp"], {"80/tcp": [("0.0.0.0", "8000")]}),
        ("[::1]:80:80", ["80/tcp"], {"80/tcp": [("::1", "80")]}),
        ("[1:2::3]::80", ["80/tcp"], {"80/tcp": [("1:2::3", "")]}),
        ("8000:80/udp", ["80/udp"], {"80/udp": [("", "8000")]}),
        ("8000:80/sctp", ["80/sctp"], {"80/sctp": [("", "8000")]}),
        ("80/UDP", ["80/udp"], {"80/udp": [("", "")]}),
        ("80/", ["80/tcp"], {"80/tcp": [("", "")]}),
        ("80/tcp/udp", ["80/tcp"], {"80/tcp": [("", "")]}),
        ("080", ["80/tcp"], {"80/tcp": [("", "")]}),
        ("8000-8010:80", ["80/tcp"], {"80/tcp": [("", "8000-8010")]}),
        ("8000-8000:80", ["80/tcp"], {"80/tcp": [("", "8000")]}),
        ("1-2-3:80", ["80/tcp"], {"80/tcp": [("", "1-2")]}),
        ("80-82", ["80/tcp", "81/tcp", "82/tcp"], {f"{p}/tcp": [("", "")] for p in (80, 81, 82)}),
        ("80-81-82", ["80/tcp", "81/tcp"], {"80/tcp": [("", "")], "81/tcp": [("", "")]}),
        (
            "8000-8002:80-82/udp",
            ["80/udp", "81/udp", "82/udp"],
            {"80/udp": [("", "8000")], "81/udp": [("", "8001")], "82/udp": [("", "8002")]},
        ),
        ("80:0", ["0/tcp"], {"0/tcp": [("", "80")]}),
    ],
)
def test_publish_specs_parse_as_the_docker_cli_sends_them(
    spec: str, exposed: list[str], bindings: dict[str, list[tuple[str, str]]]
) -> None:
    got_exposed, got_bindings = parse_publish([spec])
    assert got_exposed == {key: {} for key in exposed}
    assert got_bindings == {
        k: [{"HostIp": ip, "HostPort": hp} for ip, hp in v] for k, v in bindings.items()
    }


def test_several_specs_for_one_port_add_bindings() -> None:
    exposed, bindings = parse_publish(["8000:80", "127.0.0.1:8001:80", "53:53/udp"])
    assert exposed == {"80/tcp": {}, "53/udp": {}}
    assert bindings["80/tcp"] == [
        {"HostIp": "", "HostPort": "8000"},
        {"HostIp": "127.0.0.1", "HostPort": "8001"},
    ]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("abc", "invalid containerPort: abc"),
        ("80:abc", "invalid containerPort: abc"),
        ("abc/xyz", "invalid containerPort: abc"),
        ("99999", "invalid containerPort: 99999"),
        ("80:70000", "invalid containerPort: 70000"),
        ("80:-1", "invalid containerPort: -1"),
        ("80-", "invalid containerPort: 80-"),
        ("-80", "invalid containerPort: -80"),
        ("+80", "invalid containerPort: +80"),
        (" 80", "invalid containerPort:  80"),
        ("abc:80", "invalid hostPort: abc"),
        ("-1:80", "invalid hostPort: -1"),
        ("65536:80", "invalid hostPort: 65536"),
        ("80-70:80", "invalid hostPort: 80-70"),
        ("1.2.3.4:80", "invalid hostPort: 1.2.3.4"),
        ("1.2.3.4.5:80/xyz", "invalid hostPort: 1.2.3.4.5"),
        ("80/xyz", "invalid proto: xyz"),
        ("1.2.3.4.5:80:80", "invalid IP address: 1.2.3.4.5"),
        ("1.2.3.4.5::", "invalid IP address: 1.2.3.4.5"),
        ("a:b:c:d", "invalid IP address: a:b"),
        ("1.2.3.4:8000:80:90", "invalid IP address: 1.2.3.4:8000"),
        ("[::1:80:80", "invalid IP address [::1: missing ']' in address"),
        ("", "no port specified: <empty>"),
        ("/tcp", "no port specified: /tcp<empty>"),
        ("0.0.0.0:80:", "no port specified: 0.0.0.0:80:<empty>"),
        ("::", "no port specified: ::<empty>"),
        (
            "8000-8010:80-85",
            "invalid ranges specified for container and host Ports: 80-85 and 8000-8010",
        ),
        (
            "8000-8001:80-82",
            "invalid ranges specified for container and host Ports: 80-82 and 8000-8001",
        ),
        (
            "8000:80-81-82",
            "invalid ranges specified for container and host Ports: 80-81-82 and 8000",
        ),
    ],
)
def test_bad_publish_specs_fail_with_the_docker_cli_text(spec: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        parse_publish([spec])
    assert err.value.message == message


def test_expose() -> None:
    assert parse_expose(["80", "80-81/udp", "80/xyz"]) == {
        "80/tcp": {},
        "80/udp": {},
        "81/udp": {},
        "80/xyz": {},
    }


BAD_RANGE = "invalid range format for --expose: "
PARSE_UINT = "error: strconv.ParseUint: parsing"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("80:80", "invalid port format for --expose: 80:80"),
        ("a", f'{BAD_RANGE}a, {PARSE_UINT} "a": invalid syntax'),
        ("80-a", f'{BAD_RANGE}80-a, {PARSE_UINT} "a": invalid syntax'),
        ("70000", f'{BAD_RANGE}70000, {PARSE_UINT} "70000": value out of range'),
        ("80-70", f"{BAD_RANGE}80-70, error: invalid range specified for port: 80-70"),
        ("", f"{BAD_RANGE}, error: empty string specified for ports"),
        ("/tcp", f"{BAD_RANGE}/tcp, error: empty string specified for ports"),
    ],
)
def test_bad_expose_specs(spec: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        parse_expose([spec])
    assert err.value.message == message


LOOPBACK = IPv4Address("127.0.0.1")


def test_bindings_become_mappings_sorted_by_port() -> None:
    exposed, bindings = parse_publish(
        ["127.0.0.1:8001:80", "8000:80", "0.0.0.0::53/udp", "8000-8010:81", "0:82"]
    )
    assert mappings_from_api(bindings, exposed, False) == (
        # 0.0.0.0: IPv4 alone (Docker >= 27), no address: both families
        PortMapping(53, "udp", IPv4Address("0.0.0.0")),
        PortMapping(80, "tcp", LOOPBACK, 8001),
        PortMapping(80, "tcp", None, 8000),
        PortMapping(81, "tcp", None, 8000, 8010),
        PortMapping(82, "tcp", None, 0),
    )


def test_publish_all_gives_unbound_exposed_ports_a_random_host_port() -> None:
    exposed = {**parse_expose(["80", "443", "53/udp"]), "8080/tcp": {}}
    bindings = {"443/tcp": [{"HostIp": "", "HostPort": "8443"}], "8080/tcp": []}
    assert mappings_from_api(bindings, exposed, True) == (
        PortMapping(53, "udp"),
        PortMapping(80),
        PortMapping(443, host_port=8443),
        PortMapping(8080),
    )
    # without -P only explicit bindings count
    assert mappings_from_api(bindings, exposed, False) == (PortMapping(443, host_port=8443),)


def test_api_clients_may_omit_fields_and_exposed_ports() -> None:
    assert mappings_from_api({"80": [{}]}, None, False) == (PortMapping(80),)
    assert mappings_from_api(None, ["80/tcp"], True) == (PortMapping(80),)
    assert mappings_from_api(None, None, True) == ()


def test_ipv6_host_addresses_as_the_docker_cli_sends_them() -> None:
    exposed, bindings = parse_publish(["[::1]:8000:80", "[::]:8001:80", "[2001:db8::1]:8002:80"])
    assert [b["HostIp"] for key in sorted(bindings) for b in bindings[key]] == [
        "::1",
        "::",
        "2001:db8::1",
    ]
    assert [m.host_ip for m in mappings_from_api(bindings, exposed, False)] == [
        IPv6Address("::1"),
        IPv6Address("::"),
        IPv6Address("2001:db8::1"),
    ]


@pytest.mark.parametrize(
    ("bindings", "message"),
    [
        ({"abc/tcp": [{"HostPort": "80"}]}, 'invalid port specification: "abc"'),
        ({"0/tcp": [{"HostPort": "80"}]}, 'invalid port specification: "0"'),
        ({"80/icmp": [{"HostPort": "80"}]}, "invalid proto: icmp"),
        ({"80/tcp": [{"HostPort": "http"}]}, 'invalid port specification: "http"'),
        ({"80/tcp": [{"HostPort": "90-80"}]}, 'invalid port specification: "90-80"'),
        ({"80/tcp": [{"HostIp": "nowhere", "HostPort": "80"}]}, "invalid IP address: nowhere"),
    ],
)
def test_bad_bindings_from_the_api(bindings: dict[str, list[dict[str, str]]], message: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        mappings_from_api(bindings, None, False)
    assert err.value.message == message
