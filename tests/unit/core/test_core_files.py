from __future__ import annotations

from ipaddress import IPv4Address

import pytest

from hatoba.errors import InvalidArgument
from hatoba.files.hosts import render_hosts
from hatoba.files.resolvconf import for_container, parse

STANDARD = (
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\n"
    "ff00::0\tip6-mcastprefix\n"
    "ff02::1\tip6-allnodes\n"
    "ff02::2\tip6-allrouters\n"
)


def test_hosts_like_docker():
    text = render_hosts("d54bb762ca64", [IPv4Address("172.17.0.2")])
    assert text == STANDARD + "172.17.0.2\td54bb762ca64\n"


def test_hosts_extra_host_goes_before_own_entry():
    text = render_hosts("myhost", [IPv4Address("172.18.0.12")], ["foo:10.1.2.3"])
    assert text.endswith("10.1.2.3\tfoo\n172.18.0.12\tmyhost\n")


def test_hosts_none_network_has_only_standard_lines():
    assert render_hosts("abc", []) == STANDARD


def test_bad_add_host():
    with pytest.raises(InvalidArgument, match="bad format for add-host"):
        render_hosts("h", [], ["nocolon"])


HOST = parse(
    "nameserver 10.255.255.53\nnameserver 127.0.0.53\nsearch corp.example\noptions edns0\n"
)


def test_default_bridge_copies_host_minus_loopback():
    r = for_container(HOST, embedded_dns=False)
    assert r.conf.render() == "search corp.example\nnameserver 10.255.255.53\noptions edns0\n"


def test_only_loopback_servers_fall_back_to_google_like_docker():
    r = for_container(parse("nameserver 127.0.0.53\n"), embedded_dns=False)
    assert r.conf.nameservers == ("8.8.8.8", "8.8.4.4")


def test_user_network_uses_embedded_dns():
    r = for_container(parse("nameserver 10.255.255.53\n"), embedded_dns=True)
    assert r.conf.render() == "nameserver 127.0.0.11\noptions ndots:0\n"
    assert r.upstreams == ("10.255.255.53",)
    assert r.upstreams_from_host


def test_dns_flags():
    r = for_container(HOST, embedded_dns=True, dns=["9.9.9.9"], dns_search=["example.org"])
    assert r.conf.render() == "search example.org\nnameserver 127.0.0.11\noptions edns0 ndots:0\n"
    assert r.upstreams == ("9.9.9.9",) and not r.upstreams_from_host
    legacy = for_container(HOST, embedded_dns=False, dns=["9.9.9.9"], dns_search=["example.org"])
    assert legacy.conf.render() == "search example.org\nnameserver 9.9.9.9\noptions edns0\n"


def test_host_network_keeps_everything():
    r = for_container(HOST, embedded_dns=False, host_network=True)
    assert "127.0.0.53" in r.conf.nameservers
