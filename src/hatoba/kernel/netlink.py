"""rtnetlink requests on plain sockets, messages encoded and decoded by pyroute2.

pyroute2's high-level `IPRoute` costs a few tenths of a millisecond per call and opens its
sockets by forking when asked for another namespace. A container attach needs about six
requests in two namespaces, so here requests are built as pyroute2 message objects and sent in
batches on sockets the caller keeps: one for the host, one per container namespace (opened
inside the namespace by `netns.create_netns(..., then=NetlinkSocket)`).
"""

from __future__ import annotations

import errno
import os
import socket
import struct
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, ip_address, ip_network
from typing import Any

from pyroute2.netlink import (
    NLM_F_ACK,
    NLM_F_CREATE,
    NLM_F_DUMP,
    NLM_F_EXCL,
    NLM_F_REPLACE,
    NLM_F_REQUEST,
    NLMSG_DONE,
    NLMSG_ERROR,
)
from pyroute2.netlink.rtnl import (
    RTM_DELLINK,
    RTM_DELNEIGH,
    RTM_GETADDR,
    RTM_GETLINK,
    RTM_GETNEIGH,
    RTM_GETROUTE,
    RTM_NEWADDR,
    RTM_NEWLINK,
    RTM_NEWNEIGH,
    RTM_NEWROUTE,
)
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
from pyroute2.netlink.rtnl.marshal import MarshalRtnl
from pyroute2.netlink.rtnl.ndmsg import ndmsg
from pyroute2.netlink.rtnl.rtmsg import rtmsg

from hatoba.errors import KernelError
from hatoba.model.network import IPAddress, IPNetwork
from hatoba.observe.usage import LinkCounters

NETLINK_ROUTE = 0
IFF_UP = 0x1
AF_INET, AF_INET6 = socket.AF_INET, socket.AF_INET6
AF_BRIDGE = socket.AF_BRIDGE
IFA_F_NODAD = 0x02
NUD_PERMANENT = 0x80
# a forwarding entry of the device itself (a VXLAN's own table), not of its bridge
NTF_SELF = 0x02
RT_TABLE_MAIN = 254
_RECV_SIZE = 1 << 16


@dataclass(frozen=True)
class Link:
    index: int
    name: str
    kind: str
    mtu: int
    mac: str
    alias: str
    master: int
    up: bool


@dataclass(frozen=True)
class Route:
    dst: IPNetwork
    oif: int
    gateway: IPAddress | None


@dataclass(frozen=True)
class Address:
    index: int
    network: IPNetwork
    address: IPAddress


class NetlinkSocket:
    """An rtnetlink socket bound to the namespace it was created in. Not for concurrent use."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
        self._sock.bind((0, 0))
        self._seq = 0
        self._marshal = MarshalRtnl()
        self._lock = threading.Lock()

    def close(self) -> None:
        self._sock.close()

    def fileno(self) -> int:
        return self._sock.fileno()

    # --- transport ------------------------------------------------------------------------

    def request(self, messages: Sequence[Any], what: str) -> None:
        """Send all messages in one write; the kernel runs them in order and acks each."""
        with self._lock:
            first = self._seq + 1
            payload = bytearray()
            for msg in messages:
                self._seq += 1
                msg["header"]["sequence_number"] = self._seq
                msg["header"]["flags"] |= NLM_F_REQUEST | NLM_F_ACK
                msg.encode()
                payload += msg.data
            self._sock.send(payload)
            pending = set(range(first, self._seq + 1))
            failure: int = 0
            while pending:
                data = self._sock.recv(_RECV_SIZE)
                for seq, code in _acks(data):
                    if seq in pending:
                        pending.discard(seq)
                        if code and not failure:
                            failure = code
        if failure:
            raise KernelError(f"{what}: {os.strerror(failure)}", failure)

    def dump(self, msg: Any) -> list[Any]:
        with self._lock:
            self._seq += 1
            msg["header"]["sequence_number"] = self._seq
            msg["header"]["flags"] = NLM_F_REQUEST | NLM_F_DUMP
            msg.encode()
            self._sock.send(msg.data)
            result: list[Any] = []
            while True:
                data = self._sock.recv(_RECV_SIZE)
                done = False
                for parsed in self._marshal.parse(data):
                    if parsed["header"]["sequence_number"] != self._seq:
                        continue  # not ours (a late answer to an earlier request)
                    kind = parsed["header"]["type"]
                    if kind == NLMSG_DONE:
                        done = True
                    elif kind == NLMSG_ERROR:
                        code = _error_code(parsed)
                        raise KernelError(f"dump: {os.strerror(code or errno.EIO)}", code)
                    else:
                        result.append(parsed)
                if done:
                    return result

    # --- queries ----------------------------------------------------------------------------

    def links(self) -> list[Link]:
        msg = ifinfmsg()
        msg["header"]["type"] = RTM_GETLINK
        return [_link(m) for m in self.dump(msg)]

    def counters(self) -> dict[str, LinkCounters]:
        """Every link's 64-bit statistics, by name."""
        msg = ifinfmsg()
        msg["header"]["type"] = RTM_GETLINK
        found = {}
        for m in self.dump(msg):
            stats = m.get_attr("IFLA_STATS64")
            if stats is not None:
                found[m.get_attr("IFLA_IFNAME") or ""] = LinkCounters(
                    **{name: int(stats[name]) for name in _COUNTERS}
                )
        return found

    def link(self, name: str = "", index: int = 0) -> Link | None:
        """One link by name or index (RTM_GETLINK without a dump: no cost per host link)."""
        msg = ifinfmsg()
        msg["index"] = index
        msg["attrs"] = [("IFLA_IFNAME", name)] if name else []
        msg["header"]["type"] = RTM_GETLINK
        with self._lock:
            self._seq += 1
            msg["header"]["sequence_number"] = self._seq
            msg["header"]["flags"] = NLM_F_REQUEST
            msg.encode()
            self._sock.send(msg.data)
            while True:
                data = self._sock.recv(_RECV_SIZE)
                for parsed in self._marshal.parse(data):
                    if parsed["header"]["sequence_number"] != self._seq:
                        continue
                    if parsed["header"]["type"] == NLMSG_ERROR:
                        code = _error_code(parsed)
                        if code in (0, errno.ENODEV):
                            return None
                        raise KernelError(f"get link {name or index}: {os.strerror(code)}", code)
                    return _link(parsed)

    def routes(self, family: int = AF_INET) -> list[Route]:
        msg = rtmsg()
        msg["family"] = family
        msg["header"]["type"] = RTM_GETROUTE
        routes = []
        for m in self.dump(msg):
            if m.get_attr("RTA_TABLE") not in (None, RT_TABLE_MAIN):
                continue
            dst = m.get_attr("RTA_DST") or ("0.0.0.0" if family == AF_INET else "::")
            gw = m.get_attr("RTA_GATEWAY")
            routes.append(
                Route(
                    dst=ip_network(f"{dst}/{m['dst_len']}", strict=False),
                    oif=m.get_attr("RTA_OIF") or 0,
                    gateway=ip_address(gw) if gw else None,
                )
            )
        return routes

    def addresses(self, family: int = AF_INET) -> list[Address]:
        msg = ifaddrmsg()
        msg["family"] = family
        msg["header"]["type"] = RTM_GETADDR
        return [
            Address(
                index=m["index"],
                network=ip_network(f"{m.get_attr('IFA_ADDRESS')}/{m['prefixlen']}", strict=False),
                address=ip_address(m.get_attr("IFA_LOCAL") or m.get_attr("IFA_ADDRESS")),
            )
            for m in self.dump(msg)
        ]


_COUNTERS = tuple(LinkCounters.__dataclass_fields__)


def _error_code(parsed: Any) -> int:
    """The positive errno of a decoded NLMSG_ERROR (pyroute2 stores a NetlinkError there)."""
    error = parsed["header"].get("error")
    return int(getattr(error, "code", 0) or 0)


def _acks(data: bytes) -> Iterable[tuple[int, int]]:
    """(sequence, errno) of each NLMSG_ERROR in a buffer; errno 0 is an ack."""
    offset = 0
    while offset + 16 <= len(data):
        length, kind, _flags, seq, _pid = struct.unpack_from("=IHHII", data, offset)
        if kind == NLMSG_ERROR:
            (code,) = struct.unpack_from("=i", data, offset + 16)
            yield seq, -code
        offset += (length + 3) & ~3
        if length == 0:
            break


def _link(m: Any) -> Link:
    info = m.get_attr("IFLA_LINKINFO")
    kind = info.get_attr("IFLA_INFO_KIND") if info is not None else ""
    return Link(
        index=m["index"],
        name=m.get_attr("IFLA_IFNAME") or "",
        kind=kind or "",
        mtu=m.get_attr("IFLA_MTU") or 0,
        mac=m.get_attr("IFLA_ADDRESS") or "",
        alias=m.get_attr("IFLA_IFALIAS") or "",
        master=m.get_attr("IFLA_MASTER") or 0,
        up=bool(m["flags"] & IFF_UP),
    )


# --- message builders (pure: they only fill pyroute2 message objects) -----------------------


def _newlink(index: int = 0, attrs: list[Any] | None = None, *, create: bool = False) -> Any:
    msg = ifinfmsg()
    msg["index"] = index
    msg["attrs"] = attrs or []
    msg["header"]["type"] = RTM_NEWLINK
    msg["header"]["flags"] = NLM_F_CREATE | NLM_F_EXCL if create else 0
    return msg


def bridge_create(name: str, mac: str, mtu: int) -> Any:
    return _newlink(
        attrs=[
            ("IFLA_IFNAME", name),
            ("IFLA_ADDRESS", mac),
            ("IFLA_MTU", mtu),
            ("IFLA_LINKINFO", {"attrs": [("IFLA_INFO_KIND", "bridge")]}),
        ],
        create=True,
    )


def link_alias(name: str, alias: str) -> Any:
    """The kernel ignores IFLA_IFALIAS when it creates a link, so it is set right after."""
    return _newlink(attrs=[("IFLA_IFNAME", name), ("IFLA_IFALIAS", alias)])


def hairpin(name: str) -> Any:
    """Let frames that came in by this bridge port go out by it again: a container reaching
    itself through its own published port (the DNAT turns its packet back to its own port)."""
    slave = {"attrs": [("IFLA_BRPORT_MODE", 1)]}
    info = {"attrs": [("IFLA_INFO_SLAVE_KIND", "bridge"), ("IFLA_INFO_SLAVE_DATA", slave)]}
    return _newlink(attrs=[("IFLA_IFNAME", name), ("IFLA_LINKINFO", info)])


def link_master(name: str, master: int) -> Any:
    return _newlink(attrs=[("IFLA_IFNAME", name), ("IFLA_MASTER", master)])


def link_up(index: int = 0, name: str | None = None) -> Any:
    msg = _newlink(index, [("IFLA_IFNAME", name)] if name else [])
    msg["flags"] = IFF_UP
    msg["change"] = IFF_UP
    return msg


def link_delete(index: int = 0, name: str | None = None) -> Any:
    msg = ifinfmsg()
    msg["index"] = index
    msg["attrs"] = [("IFLA_IFNAME", name)] if name else []
    msg["header"]["type"] = RTM_DELLINK
    msg["header"]["flags"] = 0
    return msg


def veth_create(
    host_name: str,
    peer_name: str,
    peer_index: int,
    peer_mac: str,
    peer_netns_fd: int,
    master: int,
    mtu: int,
) -> Any:
    """The pair in one request: host end enslaved and up, peer born inside the container.

    Creating the peer directly in its namespace avoids a device move (~15 ms of RCU waits);
    choosing the peer's ifindex lets the next requests address it without a lookup.
    """
    msg = _newlink(
        attrs=[
            ("IFLA_IFNAME", host_name),
            ("IFLA_MTU", mtu),
            ("IFLA_MASTER", master),
            (
                "IFLA_LINKINFO",
                {
                    "attrs": [
                        ("IFLA_INFO_KIND", "veth"),
                        (
                            "IFLA_INFO_DATA",
                            {
                                "attrs": [
                                    (
                                        "VETH_INFO_PEER",
                                        {
                                            "index": peer_index,
                                            "attrs": [
                                                ("IFLA_IFNAME", peer_name),
                                                ("IFLA_ADDRESS", peer_mac),
                                                ("IFLA_MTU", mtu),
                                                ("IFLA_NET_NS_FD", peer_netns_fd),
                                            ],
                                        },
                                    )
                                ]
                            },
                        ),
                    ]
                },
            ),
        ],
        create=True,
    )
    msg["flags"] = IFF_UP
    msg["change"] = IFF_UP
    return msg


# linux/if_link.h: enum macvlan_mode
MACVLAN_MODES = {"private": 1, "vepa": 2, "bridge": 4, "passthru": 8}


def macvlan_create(name: str, parent: int, mode: str, mac: str, netns_fd: int) -> Any:
    """A macvlan on `parent` (an index in the requesting namespace), born in the namespace of
    `netns_fd`: no device move. It starts down, so it can still be renamed there."""
    data = {"attrs": [("IFLA_MACVLAN_MODE", MACVLAN_MODES[mode])]}
    return _newlink(
        attrs=[
            ("IFLA_IFNAME", name),
            ("IFLA_LINK", parent),
            ("IFLA_ADDRESS", mac),
            ("IFLA_NET_NS_FD", netns_fd),
            ("IFLA_LINKINFO", {"attrs": [("IFLA_INFO_KIND", "macvlan"), ("IFLA_INFO_DATA", data)]}),
        ],
        create=True,
    )


# kinds that cannot exist without a lower device: a create request naming none makes nothing
LOWER_DEVICE_KINDS = frozenset({"macvlan", "macvtap", "ipvlan", "ipvtap", "vlan"})


def link_probe(kind: str) -> Any:
    """A create request for a link of `kind` without its lower device: the kernel refuses it,
    with EOPNOTSUPP when it has no driver for the kind, with EINVAL otherwise."""
    if kind not in LOWER_DEVICE_KINDS:
        raise ValueError(f"a probe for {kind} links could make one")
    info = {"attrs": [("IFLA_INFO_KIND", kind)]}
    return _newlink(attrs=[("IFLA_IFNAME", "hatoba-probe"), ("IFLA_LINKINFO", info)], create=True)


def link_rename(index: int, name: str) -> Any:
    return _newlink(index, [("IFLA_IFNAME", name)])


def address_add(index: int, network: IPNetwork, address: IPAddress) -> Any:
    """An address on a link; an IPv6 one skips duplicate address detection (the address is
    ours by allocation, and a tentative address could not send for a second or two)."""
    msg = ifaddrmsg()
    msg["family"] = AF_INET if address.version == 4 else AF_INET6
    msg["prefixlen"] = network.prefixlen
    msg["index"] = index
    attrs = [("IFA_LOCAL", str(address)), ("IFA_ADDRESS", str(address))]
    if address.version == 6:
        msg["flags"] = IFA_F_NODAD
    elif network.prefixlen < 31:
        attrs.append(("IFA_BROADCAST", str(network.broadcast_address)))
    msg["attrs"] = attrs
    msg["header"]["type"] = RTM_NEWADDR
    msg["header"]["flags"] = NLM_F_CREATE | NLM_F_EXCL
    return msg


def default_route(gateway: IPAddress, oif: int) -> Any:
    msg = rtmsg()
    msg["family"] = AF_INET if gateway.version == 4 else AF_INET6
    msg["dst_len"] = 0
    msg["table"] = RT_TABLE_MAIN
    msg["proto"] = 3  # RTPROT_BOOT, as `ip route add`
    msg["scope"] = 0  # RT_SCOPE_UNIVERSE
    msg["type"] = 1  # RTN_UNICAST
    msg["attrs"] = [("RTA_GATEWAY", str(gateway)), ("RTA_OIF", oif)]
    msg["header"]["type"] = RTM_NEWROUTE
    msg["header"]["flags"] = NLM_F_CREATE | NLM_F_EXCL
    return msg


def vxlan_create(name: str, vni: int, mtu: int, master: int, local: IPv4Address, port: int) -> Any:
    """A VXLAN port of bridge `master`: no learning (peers are static entries) and ARP
    answered from its neighbour table (`proxy`), so nothing is ever flooded to other hosts."""
    data = {
        "attrs": [
            ("IFLA_VXLAN_ID", vni),
            ("IFLA_VXLAN_LOCAL", str(local)),
            ("IFLA_VXLAN_PORT", port),
            ("IFLA_VXLAN_LEARNING", 0),
            ("IFLA_VXLAN_PROXY", 1),
            # no outer UDP checksum (RFC 7348 allows it over IPv4): the inner packet has its own
            ("IFLA_VXLAN_UDP_CSUM", 0),
        ]
    }
    msg = _newlink(
        attrs=[
            ("IFLA_IFNAME", name),
            ("IFLA_MTU", mtu),
            ("IFLA_MASTER", master),
            ("IFLA_LINKINFO", {"attrs": [("IFLA_INFO_KIND", "vxlan"), ("IFLA_INFO_DATA", data)]}),
        ],
        create=True,
    )
    msg["flags"] = IFF_UP
    msg["change"] = IFF_UP
    return msg


def _ndmsg(kind: int, family: int, index: int, attrs: list[Any], flags: int = 0) -> Any:
    msg = ndmsg()
    msg["family"] = family
    msg["ifindex"] = index
    msg["state"] = NUD_PERMANENT
    msg["flags"] = flags
    msg["attrs"] = attrs
    msg["header"]["type"] = kind
    msg["header"]["flags"] = NLM_F_CREATE | NLM_F_REPLACE if kind == RTM_NEWNEIGH else 0
    return msg


def neighbour(index: int, address: IPv4Address, mac: str, *, add: bool) -> Any:
    """`ip neigh replace|del ADDRESS lladdr MAC dev INDEX nud permanent`."""
    kind = RTM_NEWNEIGH if add else RTM_DELNEIGH
    return _ndmsg(kind, AF_INET, index, [("NDA_DST", str(address)), ("NDA_LLADDR", mac)])


def forwarding(index: int, mac: str, vtep: IPv4Address, *, add: bool) -> Any:
    """`bridge fdb replace|del MAC dev INDEX dst VTEP self permanent`."""
    kind = RTM_NEWNEIGH if add else RTM_DELNEIGH
    attrs = [("NDA_LLADDR", mac), ("NDA_DST", str(vtep))]
    return _ndmsg(kind, AF_BRIDGE, index, attrs, NTF_SELF)


@dataclass(frozen=True)
class Neighbour:
    family: int
    index: int
    mac: str
    # the neighbour's address (AF_INET), or the tunnel endpoint behind it (AF_BRIDGE)
    address: IPv4Address | None


def neighbours_of(sock: NetlinkSocket, index: int) -> list[Neighbour]:
    """The permanent neighbour and forwarding entries of one device."""
    found = []
    for family in (AF_INET, AF_BRIDGE):
        msg = ndmsg()
        msg["family"] = family
        msg["header"]["type"] = RTM_GETNEIGH
        for m in sock.dump(msg):
            if m["ifindex"] != index or not m["state"] & NUD_PERMANENT:
                continue
            dst = m.get_attr("NDA_DST")
            found.append(
                Neighbour(
                    family,
                    index,
                    m.get_attr("NDA_LLADDR") or "",
                    IPv4Address(dst) if dst and ":" not in dst else None,
                )
            )
    return found
