"""The topology of a known setup: the tree exactly, the picture well-formed with every
container in it, the kernel's differences from the records said, and the JSON the CLI reads."""

from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import replace
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

import pytest

from fixtures.topology_world import CONTAINERS, DNS_NAMES, HOST_VIEW, NETWORKS
from hatoba.model.container import Container, ContainerConfig, Endpoint, EndpointConfig, RunState
from hatoba.model.network import IpamPool, Network
from hatoba.model.ports import PortMapping
from hatoba.observe import topology_draw as draw
from hatoba.observe.topology import HostLink, HostView, Topology
from hatoba.observe.topology_build import build

TREE = """\
host: uplink eth0 203.0.113.1/24, mac 0a:58:cb:00:71:01, mtu 1500, default via 203.0.113.254
├── published 0.0.0.0:8080/tcp → web 172.18.0.2:80
├── published 127.0.0.1:8081/tcp → web 172.18.0.2:80
├── network bridge (bridge): hatoba0 172.17.0.1/16, mac 02:42:5e:00:00:11
│   └── veth1111111 ⇄ legacy eth0 172.17.0.2/16, mac 02:42:ac:11:00:02
├── network back (bridge, internal): br-bbbbbbbbbbbb 172.19.0.1/16, mac 02:42:5e:00:00:13
│   └── veth4444444 ⇄ db eth1 172.19.0.2/16, mac 02:42:ac:13:00:02
│       └── dns: db, d0123456789a
├── network sample (bridge): br-ssssssssssss 172.18.0.1/16, mac 02:42:5e:00:00:12
│   ├── veth3333333 ⇄ db eth0 172.18.0.3/16, mac 02:42:ac:12:00:03
│   │   └── dns: db, d0123456789a
│   ├── veth2222222 ⇄ web eth0 172.18.0.2/16, mac 02:42:ac:12:00:02
│   │   ├── dns: web, www, w0123456789a
│   │   └── shared with: sidecar
│   └── old (exited)
├── network host (host): the host's own stack
│   └── monitor
└── network none (null): loopback only
    └── isolated
"""

EVERY_CONTAINER = ["legacy", "db", "web", "sidecar", "old", "monitor", "isolated"]


def known() -> Topology:
    return build(NETWORKS, CONTAINERS, DNS_NAMES, HOST_VIEW)


def test_the_tree_of_a_known_setup_is_exact() -> None:
    assert draw.text(known()) == TREE


def test_every_fact_survives_the_json_the_cli_reads() -> None:
    topology = known()
    assert Topology.from_json(topology.to_json()) == topology
    assert sorted(topology.containers) == sorted(EVERY_CONTAINER)
    sample = next(n for n in topology.networks if n.name == "sample")
    web = next(a for a in sample.attachments if a.container == "web")
    assert (web.veth, web.veth_mac, web.default_route) == ("veth2222222", "9a:00:00:00:00:02", True)
    assert sample.masquerade and not next(n for n in topology.networks if n.internal).masquerade


def test_where_the_kernel_differs_the_tree_says_so() -> None:
    links = [
        link
        for link in HOST_VIEW.links
        if link.name != "veth1111111"  # lost
    ]
    links = [
        replace(link, master="hatoba0")
        if link.name == "veth3333333"  # on the wrong bridge
        else replace(link, up=False)
        if link.name == "br-bbbbbbbbbbbb"
        else link
        for link in links
    ]
    tree = draw.text(build(NETWORKS, CONTAINERS, DNS_NAMES, replace(HOST_VIEW, links=tuple(links))))
    assert "│   └── veth1111111 ⇄ legacy eth0 172.17.0.2/16, mac 02:42:ac:11:00:02\n" in tree
    assert "│       └── problem: veth1111111 is missing on the host\n" in tree
    assert "│   │   ├── problem: veth3333333 is a port of hatoba0, not br-ssssssssssss\n" in tree
    assert "│   ├── problem: bridge br-bbbbbbbbbbbb is down\n" in tree


def test_without_the_kernel_the_records_alone_are_drawn() -> None:
    tree = draw.text(build(NETWORKS, CONTAINERS, DNS_NAMES, HostView()))
    assert tree.startswith("host: no default route\n")
    assert "problem" not in tree
    assert tree.splitlines()[1:] == TREE.splitlines()[1:]


def test_the_uplink_without_an_address() -> None:
    view = HostView(links=(HostLink("wlan0", mac="aa:bb:cc:dd:ee:ff"),), uplink="wlan0")
    assert draw.text(Topology(build([], [], {}, view).uplink)) == (
        "host: uplink wlan0, mac aa:bb:cc:dd:ee:ff\n"
    )


@pytest.mark.skipif(shutil.which("dot") is None, reason="needs Graphviz's dot")
def test_the_picture_is_well_formed_svg_with_every_container() -> None:
    done = subprocess.run(
        ["dot", "-Tsvg"], input=draw.dot(known()), capture_output=True, text=True, check=True
    )
    assert done.stderr == ""
    root = ET.fromstring(done.stdout.encode())
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    texts = [t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text")]
    words = {word for t in texts for word in t.split()}
    assert set(EVERY_CONTAINER) <= words
    assert {
        "eth0",
        "203.0.113.1/24",
        "br-ssssssssssss",
        "veth2222222",
        "02:42:ac:12:00:02",
    } <= words
    # a page around it: the picture inline, the tree below, and a live page's script
    page = draw.page(draw.fragment(known(), done.stdout), "now")
    assert page.count("<svg") == 1 and "<?xml" not in page
    assert "veth2222222 ⇄ web eth0" in page and "EventSource" not in page
    assert "new EventSource(" in draw.page("", "now", live=True)


def test_a_dual_stack_network_shows_both_families() -> None:
    v4, v6 = IPv4Network("172.20.0.0/16"), IPv6Network("fd00:20::/64")
    pools = (
        IpamPool(v4, IPv4Address("172.20.0.1")),
        IpamPool(v6, IPv6Address("fd00:20::1")),
    )
    dual = Network("d" * 64, "dual", "bridge", "", pools, "br-dddddddddddd", "02:42:5e:00:00:14")
    ports = (
        PortMapping(80, "tcp", None, 8080),
        PortMapping(80, "tcp", IPv6Address("::1"), 8081),
    )
    endpoint = Endpoint(
        dual.id, "ep-six", "eth0", "veth6666666", IPv4Address("172.20.0.2"), 16,
        "02:42:ac:14:00:02", IPv4Address("172.20.0.1"), True,
        IPv6Address("fd00:20::2"), 64, IPv6Address("fd00:20::1"),
    )  # fmt: skip
    six = Container(
        id="6" * 64,
        name="six",
        created="",
        config=ContainerConfig(image="hostfs", ports=ports),
        networks=(EndpointConfig(dual.id),),
        state=RunState(status="running"),
        endpoints=(endpoint,),
        published=ports,
    )
    tree = draw.text(build([dual], [six], {}, HostView()))
    assert "├── published 0.0.0.0:8080/tcp → six 172.20.0.2:80\n" in tree
    assert "├── published :::8080/tcp → six fd00:20::2:80\n" in tree
    assert "├── published ::1:8081/tcp → six fd00:20::2:80\n" in tree
    assert "network dual (bridge): br-dddddddddddd 172.20.0.1/16 fd00:20::1/64, mac" in tree
    assert "veth6666666 ⇄ six eth0 172.20.0.2/16 fd00:20::2/64, mac 02:42:ac:14:00:02" in tree
