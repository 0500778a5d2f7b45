"""kernel/netlink.py packs rtnetlink messages itself: each one read back by pyroute2's decoder
(the reference for the kernel's layouts), and links pyroute2 encodes read by ours."""

from __future__ import annotations

import sys
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
from pyroute2.netlink.rtnl.marshal import MarshalRtnl

from hatoba.kernel import netlink as nl


def decoded(message: bytes) -> Any:
    (msg,) = MarshalRtnl().parse(message)
    return msg


def linkinfo(msg: Any) -> Any:
    return msg.get_attr("IFLA_LINKINFO")


def test_bridge_create_names_kind_mac_and_mtu() -> None:
    msg = decoded(nl.bridge_create("br-0123456789ab", 1450, "02:42:ac:12:00:01"))
    assert msg["header"]["type"] == nl.RTM_NEWLINK
    # echoed: the answer carries the new bridge's index
    assert msg["header"]["flags"] == nl.NLM_F_CREATE | nl.NLM_F_EXCL | nl.NLM_F_ECHO
    assert msg.get_attr("IFLA_IFNAME") == "br-0123456789ab"
    assert msg.get_attr("IFLA_ADDRESS") == "02:42:ac:12:00:01"
    assert msg.get_attr("IFLA_MTU") == 1450
    assert linkinfo(msg).get_attr("IFLA_INFO_KIND") == "bridge"


def test_bridge_settings_set_the_group_and_the_bridge_option() -> None:
    msg = decoded(nl.bridge_settings("br-x", 0x68620001))
    assert msg.get_attr("IFLA_IFNAME") == "br-x"
    assert msg.get_attr("IFLA_GROUP") == 0x68620001
    data = linkinfo(msg).get_attr("IFLA_INFO_DATA")
    assert data.get_attr("IFLA_BR_NF_CALL_IPTABLES") == 1
    # route_localnet as the kernel takes IPv4 settings (pyroute2 decodes only the dump's
    # layout of them): IFLA_AF_SPEC > AF_INET > IFLA_INET_CONF > one u32 per setting
    raw = nl.bridge_settings("br-x", 0x68620001)
    spec = dict(nl._attrs(raw, 16 + 16, len(raw)))[nl.IFLA_AF_SPEC]  # after both headers
    ((family, inet),) = nl._attrs(spec, 0, len(spec))
    assert family == nl.AF_INET
    ((kind, conf),) = nl._attrs(inet, 0, len(inet))
    assert kind == nl.IFLA_INET_CONF
    assert list(nl._attrs(conf, 0, len(conf))) == [
        (nl.IPV4_DEVCONF_ROUTE_LOCALNET, (1).to_bytes(4, sys.byteorder))
    ]


def test_a_segment_s_host_link_gets_the_group_and_route_localnet_but_no_bridge_option() -> None:
    raw = nl.bridge_settings("ov-x", 0x68620001, bridged=False)
    msg = decoded(raw)
    assert msg.get_attr("IFLA_GROUP") == 0x68620001
    assert msg.get_attr("IFLA_LINKINFO") is None
    attrs = dict(nl._attrs(raw, 16 + 16, len(raw)))
    assert nl.IFLA_AF_SPEC in attrs
    assert (
        attrs[nl.IFLA_AF_SPEC]
        == dict(
            nl._attrs(nl.bridge_settings("br-x", 1), 16 + 16, len(nl.bridge_settings("br-x", 1)))
        )[nl.IFLA_AF_SPEC]
    )


def test_veth_create_has_its_peer_inside_the_namespace() -> None:
    msg = decoded(nl.veth_create("vethabc1234", "eth0", 7, "02:42:ac:12:00:02", 9, 4, 1500))
    assert msg["flags"] == msg["change"] == nl.IFF_UP
    assert msg.get_attr("IFLA_IFNAME") == "vethabc1234"
    assert msg.get_attr("IFLA_MASTER") == 4
    assert msg.get_attr("IFLA_MTU") == 1500
    info = linkinfo(msg)
    assert info.get_attr("IFLA_INFO_KIND") == "veth"
    peer = info.get_attr("IFLA_INFO_DATA").get_attr("VETH_INFO_PEER")
    assert peer["index"] == 7
    assert peer.get_attr("IFLA_IFNAME") == "eth0"
    assert peer.get_attr("IFLA_ADDRESS") == "02:42:ac:12:00:02"
    assert peer.get_attr("IFLA_NET_NS_FD") == 9


def test_link_changes() -> None:
    alias = decoded(nl.link_alias("veth1", "hatoba:abc"))
    assert alias.get_attr("IFLA_IFNAME") == "veth1"
    assert alias.get_attr("IFLA_IFALIAS") == "hatoba:abc"
    slave = linkinfo(decoded(nl.hairpin("veth1")))
    assert slave.get_attr("IFLA_INFO_SLAVE_KIND") == "bridge"
    assert slave.get_attr("IFLA_INFO_SLAVE_DATA").get_attr("IFLA_BRPORT_MODE") == 1
    assert decoded(nl.link_master("veth1", 12)).get_attr("IFLA_MASTER") == 12
    up = decoded(nl.link_up(3))
    assert (up["index"], up["flags"], up["change"]) == (3, nl.IFF_UP, nl.IFF_UP)
    assert decoded(nl.link_up(name="veth1")).get_attr("IFLA_IFNAME") == "veth1"
    gone = decoded(nl.link_delete(name="veth1"))
    assert gone["header"]["type"] == nl.RTM_DELLINK
    assert gone.get_attr("IFLA_IFNAME") == "veth1"


def test_address_add_with_broadcast() -> None:
    msg = decoded(nl.address_add(5, IPv4Network("172.18.0.0/16"), IPv4Address("172.18.0.2")))
    assert (msg["family"], msg["prefixlen"], msg["index"]) == (nl.AF_INET, 16, 5)
    assert msg.get_attr("IFA_LOCAL") == msg.get_attr("IFA_ADDRESS") == "172.18.0.2"
    assert msg.get_attr("IFA_BROADCAST") == "172.18.255.255"
    point = decoded(nl.address_add(5, IPv4Network("10.0.0.0/31"), IPv4Address("10.0.0.1")))
    assert point.get_attr("IFA_BROADCAST") is None


def test_default_route() -> None:
    msg = decoded(nl.default_route(IPv4Address("172.18.0.1"), 5))
    assert (msg["dst_len"], msg["table"], msg["proto"], msg["type"]) == (0, 254, 3, 1)
    assert msg.get_attr("RTA_GATEWAY") == "172.18.0.1"
    assert msg.get_attr("RTA_OIF") == 5


def test_stamped_sets_sequence_and_request_flags() -> None:
    msg = decoded(nl._stamped(nl.link_up(3), 41, nl.NLM_F_REQUEST | nl.NLM_F_ACK))
    assert msg["header"]["sequence_number"] == 41
    assert msg["header"]["flags"] == nl.NLM_F_REQUEST | nl.NLM_F_ACK


def test_links_encoded_by_pyroute2_are_read() -> None:
    msg = ifinfmsg()
    msg["index"] = 12
    msg["flags"] = nl.IFF_UP
    msg["attrs"] = [
        ("IFLA_IFNAME", "vethabc1234"),
        ("IFLA_ADDRESS", "02:42:ac:12:00:02"),
        ("IFLA_MTU", 1450),
        ("IFLA_MASTER", 4),
        ("IFLA_IFALIAS", "hatoba:cafe"),
        ("IFLA_LINKINFO", {"attrs": [("IFLA_INFO_KIND", "veth")]}),
    ]
    msg["header"]["type"] = nl.RTM_DELLINK
    msg.encode()
    ((deleted, link),) = nl.link_messages(bytes(msg.data))
    assert deleted
    assert link == nl.Link(
        12, "vethabc1234", "veth", 1450, "02:42:ac:12:00:02", "hatoba:cafe", 4, up=True
    )


def test_macvlan_create_names_its_parent_mode_and_namespace() -> None:
    msg = decoded(nl.macvlan_create("mv-1", 4, "bridge", "02:42:c0:a8:01:02", 9))
    assert msg["header"]["flags"] == nl.NLM_F_CREATE | nl.NLM_F_EXCL
    assert (msg.get_attr("IFLA_IFNAME"), msg.get_attr("IFLA_LINK")) == ("mv-1", 4)
    assert msg.get_attr("IFLA_ADDRESS") == "02:42:c0:a8:01:02"
    assert msg.get_attr("IFLA_NET_NS_FD") == 9
    assert linkinfo(msg).get_attr("IFLA_INFO_KIND") == "macvlan"
    data = linkinfo(msg).get_attr("IFLA_INFO_DATA")
    assert data.get_attr("IFLA_MACVLAN_MODE") == "bridge"  # pyroute2 names mode 4


def test_a_probe_and_a_rename() -> None:
    probe = decoded(nl.link_probe("ipvlan"))
    assert probe["header"]["flags"] == nl.NLM_F_CREATE | nl.NLM_F_EXCL
    assert linkinfo(probe).get_attr("IFLA_INFO_KIND") == "ipvlan"
    rename = decoded(nl.link_rename(7, "eth1"))
    assert (rename["index"], rename.get_attr("IFLA_IFNAME")) == (7, "eth1")


def test_vxlan_create_learns_nothing_and_answers_arp_itself() -> None:
    msg = decoded(nl.vxlan_create("vx-1", 4097, 1450, 12, IPv4Address("192.0.2.5"), 4789))
    assert (msg.get_attr("IFLA_MTU"), msg.get_attr("IFLA_MASTER")) == (1450, 12)
    assert msg["flags"] & nl.IFF_UP
    data = linkinfo(msg).get_attr("IFLA_INFO_DATA")
    assert data.get_attr("IFLA_VXLAN_ID") == 4097
    assert data.get_attr("IFLA_VXLAN_LOCAL") == "192.0.2.5"
    assert data.get_attr("IFLA_VXLAN_PORT") == 4789
    assert (data.get_attr("IFLA_VXLAN_LEARNING"), data.get_attr("IFLA_VXLAN_PROXY")) == (0, 1)
    assert data.get_attr("IFLA_VXLAN_UDP_CSUM") == 0


def test_neighbour_and_forwarding_entries() -> None:
    add = decoded(nl.neighbour(5, IPv4Address("10.0.9.2"), "02:42:0a:00:09:02", add=True))
    assert add["header"]["type"] == nl.RTM_NEWNEIGH
    assert add["header"]["flags"] == nl.NLM_F_CREATE | nl.NLM_F_REPLACE
    assert (add["family"], add["ifindex"], add["state"]) == (nl.AF_INET, 5, nl.NUD_PERMANENT)
    assert (add.get_attr("NDA_DST"), add.get_attr("NDA_LLADDR")) == (
        "10.0.9.2",
        "02:42:0a:00:09:02",
    )
    fdb = decoded(nl.forwarding(5, "02:42:0a:00:09:02", IPv4Address("192.0.2.7"), add=False))
    assert fdb["header"]["type"] == nl.RTM_DELNEIGH
    assert (fdb["family"], fdb["flags"]) == (nl.AF_BRIDGE, nl.NTF_SELF)
    assert fdb.get_attr("NDA_DST") == "192.0.2.7"


def test_link_messages_of_owned_links_only() -> None:
    def link(name: str, alias: str) -> bytes:
        msg = ifinfmsg()
        msg["attrs"] = [("IFLA_IFNAME", name), ("IFLA_IFALIAS", alias)]
        msg["header"]["type"] = nl.RTM_NEWLINK
        msg.encode()
        return bytes(msg.data)

    data = link("eth9", "someone else's") + link("veth1", "hatoba:cafe")
    assert [link.name for _, link in nl.link_messages(data)] == ["eth9", "veth1"]
    assert [link.name for _, link in nl.link_messages(data, b"hatoba:")] == ["veth1"]
