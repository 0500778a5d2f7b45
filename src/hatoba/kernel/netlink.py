"""rtnetlink requests on plain sockets, messages packed and read with `struct`.

pyroute2's `IPRoute` costs a few tenths of a millisecond per call and opens its sockets by
forking when asked for another namespace; even its message classes cost 0.1-0.5 ms to encode
one message and more to decode a link (python -m bench attach: a container's six messages
took ~1.3 ms of encoding alone). The few messages hatoba sends are fixed in shape, so they are
packed here (`bytes`, sequence number and flags filled in at send time), and replies are read
only for the fields hatoba uses. Requests go in batches on sockets the caller keeps: one for
the host, one per container namespace (opened inside the namespace by
`netns.create_netns(..., then=NetlinkSocket)`).

The constants are the kernel's uapi (linux/rtnetlink.h, if_link.h, if_addr.h, veth.h);
tests/unit/kernel/test_netlink_codec.py checks every message against pyroute2's decoder.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, ip_address, ip_network

from hatoba.errors import KernelError
from hatoba.model.network import IPAddress, IPNetwork
from hatoba.observe.usage import LinkCounters

NETLINK_ROUTE = 0
AF_INET, AF_INET6 = socket.AF_INET, socket.AF_INET6
AF_BRIDGE = socket.AF_BRIDGE
IFF_UP = 0x1
IFA_F_NODAD = 0x02
NUD_PERMANENT = 0x80
# a forwarding entry of the device itself (a VXLAN's own table), not of its bridge
NTF_SELF = 0x02
RT_TABLE_MAIN = 254
_RECV_SIZE = 1 << 16

# netlink (linux/netlink.h)
NLM_F_REQUEST, NLM_F_ACK, NLM_F_ECHO = 0x1, 0x4, 0x8
NLM_F_DUMP = 0x300
NLM_F_REPLACE, NLM_F_EXCL, NLM_F_CREATE = 0x100, 0x200, 0x400
NLMSG_ERROR, NLMSG_DONE = 2, 3
# rtnetlink message types
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK = 16, 17, 18
RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR = 20, 21, 22
RTM_NEWROUTE, RTM_DELROUTE, RTM_GETROUTE = 24, 25, 26
# multicast groups (linux/rtnetlink.h: enum rtnetlink_groups)
RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV4_ROUTE = 1, 5, 7
RTNLGRP_IPV6_IFADDR, RTNLGRP_IPV6_ROUTE = 9, 11
RTM_NEWNEIGH, RTM_DELNEIGH, RTM_GETNEIGH = 28, 29, 30
# link attributes
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_LINK, IFLA_MASTER = 1, 3, 4, 5, 10
IFLA_LINKINFO, IFLA_IFALIAS, IFLA_STATS64, IFLA_GROUP = 18, 20, 23, 27
IFLA_AF_SPEC, IFLA_NET_NS_FD, IFLA_EXT_MASK = 26, 28, 29
# IFLA_AF_SPEC's AF_INET part: the interface's IPv4 settings (linux/ip.h: IPV4_DEVCONF_*)
IFLA_INET_CONF = 1
IPV4_DEVCONF_ROUTE_LOCALNET = 26
IFLA_INFO_KIND, IFLA_INFO_DATA, IFLA_INFO_SLAVE_KIND, IFLA_INFO_SLAVE_DATA = 1, 2, 4, 5
VETH_INFO_PEER = 1
IFLA_BRPORT_MODE = 4  # hairpin
IFLA_BR_NF_CALL_IPTABLES = 36
IFLA_MACVLAN_MODE = 1
IFLA_VXLAN_ID, IFLA_VXLAN_LOCAL, IFLA_VXLAN_LEARNING, IFLA_VXLAN_PROXY = 1, 4, 7, 11
IFLA_VXLAN_PORT, IFLA_VXLAN_UDP_CSUM = 15, 18
RTEXT_FILTER_SKIP_STATS = 1 << 3
# address and route attributes
IFA_ADDRESS, IFA_LOCAL, IFA_BROADCAST = 1, 2, 4
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_TABLE = 1, 4, 5, 15
# neighbour attributes
NDA_DST, NDA_LLADDR = 1, 2

_HEADER = struct.Struct("=IHHII")  # nlmsghdr: length, type, flags, sequence, port
_IFINFO = struct.Struct("=BxHiII")  # family, type, index, flags, change
_IFADDR = struct.Struct("=BBBBI")  # family, prefix length, flags, scope, index
_RTMSG = struct.Struct("=BBBBBBBBI")  # family, dst_len, src_len, tos, table, proto, scope, type
_NDMSG = struct.Struct("=BxxxiHBB")  # family, index, state, flags, type
# rtnl_link_stats64 opens with these eight u64 counters
_STATS64 = struct.Struct("=8Q")
_STATS64_FIELDS = ("rx_packets", "tx_packets", "rx_bytes", "tx_bytes", "rx_errors", "tx_errors",
                   "rx_dropped", "tx_dropped")  # fmt: skip
_ATTR = struct.Struct("=HH")  # length, type
_NLA_NESTED = 0x8000  # set by some kernels on nested attributes' types
_NLA_TYPE = 0x3FFF


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


@dataclass(frozen=True)
class Neighbour:
    family: int
    index: int
    mac: str
    # the neighbour's address (AF_INET), or the tunnel endpoint behind it (AF_BRIDGE)
    address: IPv4Address | None


class NetlinkSocket:
    """An rtnetlink socket bound to the namespace it was created in. One request at a time
    (a lock keeps them apart when threads share it). With `groups`, it also receives the
    kernel's notifications of those multicast groups (read them with `announced` only)."""

    def __init__(self, groups: Sequence[int] = ()) -> None:
        self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
        self._sock.bind((0, sum(1 << (group - 1) for group in set(groups))))
        self._seq = 0
        self._lock = threading.Lock()

    def close(self) -> None:
        self._sock.close()

    def fileno(self) -> int:
        return self._sock.fileno()

    # --- transport ------------------------------------------------------------------------

    def request(self, messages: Sequence[bytes], what: str) -> list[Link]:
        """Send all messages in one write; the kernel runs them in order and acks each.
        Returns the links it echoed (to a create sent with NLM_F_ECHO), as it made them."""
        echoed = []
        with self._lock:
            first = self._seq + 1
            payload = bytearray()
            for msg in messages:
                self._seq += 1
                payload += _stamped(msg, self._seq, NLM_F_REQUEST | NLM_F_ACK)
            self._sock.send(payload)
            pending = set(range(first, self._seq + 1))
            failure = 0
            while pending:
                data = self._sock.recv(_RECV_SIZE)
                for kind, seq, offset, end in _messages(data):
                    if seq not in pending:
                        continue
                    if kind == NLMSG_ERROR:
                        pending.discard(seq)
                        code = -struct.unpack_from("=i", data, offset)[0]
                        if code and not failure:
                            failure = code
                    elif kind == RTM_NEWLINK:  # the echo comes before the ack
                        echoed.append(parse_link(data, offset, end))
        if failure:
            raise KernelError(f"{what}: {os.strerror(failure)}", failure)
        return echoed

    def _dump(self, msg: bytes) -> Iterator[tuple[bytes, int, int, int]]:
        """(buffer, type, body offset, end) of each message a dump answers."""
        with self._lock:
            self._seq += 1
            seq = self._seq
            self._sock.send(_stamped(msg, seq, NLM_F_REQUEST | NLM_F_DUMP))
            while True:
                data = self._sock.recv(_RECV_SIZE)
                for kind, mseq, offset, end in _messages(data):
                    if mseq != seq:
                        continue  # not ours (a late answer to an earlier request)
                    if kind == NLMSG_DONE:
                        return
                    if kind == NLMSG_ERROR:
                        code = -struct.unpack_from("=i", data, offset)[0]
                        raise KernelError(f"dump: {os.strerror(code or errno.EIO)}", code)
                    yield data, kind, offset, end

    def announced(self) -> list[tuple[int, int]] | None:
        """The notifications waiting, without waiting for more: (message type, the interface
        it concerns, 0 when it names none) each; None when the kernel dropped some (the
        socket's buffer was full)."""
        found: list[tuple[int, int]] = []
        while True:
            try:
                data = self._sock.recv(_RECV_SIZE, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return found
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:
                    return None
                raise
            found += ((kind, _subject(kind, data, o, e)) for kind, _, o, e in _messages(data))

    # --- queries ----------------------------------------------------------------------------

    def links(self) -> list[Link]:
        return [parse_link(d, o, e) for d, _, o, e in self._dump(_get_links())]

    def counters(self) -> dict[str, LinkCounters]:
        """Every link's 64-bit statistics, by name."""
        found = {}
        for data, _, offset, end in self._dump(_message(RTM_GETLINK, 0, _ifinfo())):
            attrs = dict(_attrs(data, offset + _IFINFO.size, end))
            stats = attrs.get(IFLA_STATS64)
            if stats is not None and len(stats) >= _STATS64.size:
                values = dict(zip(_STATS64_FIELDS, _STATS64.unpack_from(stats), strict=True))
                found[_text(attrs.get(IFLA_IFNAME, b""))] = LinkCounters(**values)
        return found

    def link(self, name: str = "", index: int = 0) -> Link | None:
        """One link by name or index (RTM_GETLINK without a dump: no cost per host link)."""
        with self._lock:
            self._seq += 1
            seq = self._seq
            self._sock.send(_stamped(_get_link(name, index), seq, NLM_F_REQUEST))
            while True:
                data = self._sock.recv(_RECV_SIZE)
                for kind, mseq, offset, end in _messages(data):
                    if mseq != seq:
                        continue
                    if kind == NLMSG_ERROR:
                        code = -struct.unpack_from("=i", data, offset)[0]
                        if code in (0, errno.ENODEV):
                            return None
                        raise KernelError(f"get link {name or index}: {os.strerror(code)}", code)
                    return parse_link(data, offset, end)

    def routes(self, family: int = AF_INET) -> list[Route]:
        routes = []
        request = _message(RTM_GETROUTE, 0, _RTMSG.pack(family, 0, 0, 0, 0, 0, 0, 0, 0))
        anywhere = bytes(4 if family == AF_INET else 16)
        for data, _, offset, end in self._dump(request):
            _family, dst_len, _src, _tos, table, *_ = _RTMSG.unpack_from(data, offset)
            attrs = dict(_attrs(data, offset + _RTMSG.size, end))
            if RTA_TABLE in attrs:
                table = struct.unpack("=I", attrs[RTA_TABLE])[0]
            if table != RT_TABLE_MAIN:
                continue
            gateway = attrs.get(RTA_GATEWAY)
            routes.append(
                Route(
                    dst=ip_network((attrs.get(RTA_DST, anywhere), dst_len), strict=False),
                    oif=struct.unpack("=I", attrs[RTA_OIF])[0] if RTA_OIF in attrs else 0,
                    gateway=ip_address(gateway) if gateway else None,
                )
            )
        return routes

    def addresses(self, family: int = AF_INET) -> list[Address]:
        found = []
        request = _message(RTM_GETADDR, 0, _IFADDR.pack(family, 0, 0, 0, 0))
        for data, _, offset, end in self._dump(request):
            _family, prefix, _flags, _scope, index = _IFADDR.unpack_from(data, offset)
            attrs = dict(_attrs(data, offset + _IFADDR.size, end))
            network = attrs.get(IFA_ADDRESS) or attrs.get(IFA_LOCAL)
            if network is None:
                continue
            own = ip_address(attrs.get(IFA_LOCAL) or network)
            found.append(Address(index, ip_network((network, prefix), strict=False), own))
        return found

    def neighbours(self, index: int) -> list[Neighbour]:
        """The permanent neighbour and forwarding entries of one device."""
        found = []
        for family in (AF_INET, AF_BRIDGE):
            request = _message(RTM_GETNEIGH, 0, _NDMSG.pack(family, 0, 0, 0, 0))
            for data, _, offset, end in self._dump(request):
                _family, link, state, _flags, _type = _NDMSG.unpack_from(data, offset)
                if link != index or not state & NUD_PERMANENT:
                    continue
                attrs = dict(_attrs(data, offset + _NDMSG.size, end))
                dst = attrs.get(NDA_DST, b"")
                mac = ":".join(f"{b:02x}" for b in attrs.get(NDA_LLADDR, b""))
                found.append(
                    Neighbour(family, index, mac, IPv4Address(dst) if len(dst) == 4 else None)
                )
        return found


# --- reading ----------------------------------------------------------------------------------


def _messages(data: bytes) -> Iterator[tuple[int, int, int, int]]:
    """(type, sequence, body offset, end) of each message in a buffer."""
    offset = 0
    while offset + _HEADER.size <= len(data):
        length, kind, _flags, seq, _port = _HEADER.unpack_from(data, offset)
        if length < _HEADER.size:
            return
        yield kind, seq, offset + _HEADER.size, offset + length
        offset += (length + 3) & ~3


def _attrs(data: bytes, offset: int, end: int) -> Iterator[tuple[int, bytes]]:
    """(type, payload) of each attribute between `offset` and `end`."""
    while offset + _ATTR.size <= end:
        length, kind = _ATTR.unpack_from(data, offset)
        if length < _ATTR.size:
            return
        yield kind & _NLA_TYPE, data[offset + _ATTR.size : offset + length]
        offset += (length + 3) & ~3


def _subject(kind: int, data: bytes, offset: int, end: int) -> int:
    """The interface index a link, address or route message is about (a route's output
    interface; 0 for a route without one, as a multipath route)."""
    if kind in (RTM_NEWLINK, RTM_DELLINK):
        return int(_IFINFO.unpack_from(data, offset)[2])
    if kind in (RTM_NEWADDR, RTM_DELADDR):
        return int(_IFADDR.unpack_from(data, offset)[4])
    if kind in (RTM_NEWROUTE, RTM_DELROUTE):
        oif = dict(_attrs(data, offset + _RTMSG.size, end)).get(RTA_OIF)
        return int(struct.unpack("=I", oif)[0]) if oif else 0
    return 0


def _text(payload: bytes) -> str:
    return payload.split(b"\0", 1)[0].decode(errors="replace")


def parse_link(data: bytes, offset: int, end: int) -> Link:
    """The fields hatoba uses of an RTM_NEWLINK / RTM_DELLINK message's body. A link message
    carries some fifty attributes (statistics, IPv6 settings): only these are copied out."""
    _family, _type, index, flags, _change = _IFINFO.unpack_from(data, offset)
    name = alias = kind = mac = ""
    mtu = master = 0
    unpack = _ATTR.unpack_from
    at = offset + _IFINFO.size
    while at + 4 <= end:
        length, attr = unpack(data, at)
        if length < 4:
            break
        attr &= _NLA_TYPE
        if attr in _LINK_FIELDS:
            payload = data[at + 4 : at + length]
            if attr == IFLA_IFNAME:
                name = _text(payload)
            elif attr == IFLA_IFALIAS:
                alias = _text(payload)
            elif attr == IFLA_MTU:
                mtu = struct.unpack("=I", payload)[0]
            elif attr == IFLA_MASTER:
                master = struct.unpack("=I", payload)[0]
            elif attr == IFLA_ADDRESS:
                mac = ":".join(f"{b:02x}" for b in payload)
            else:
                info = dict(_attrs(payload, 0, len(payload)))
                kind = _text(info.get(IFLA_INFO_KIND, b""))
        at += (length + 3) & ~3
    return Link(index, name, kind, mtu, mac, alias, master, bool(flags & IFF_UP))


_LINK_FIELDS = frozenset(
    {IFLA_IFNAME, IFLA_IFALIAS, IFLA_MTU, IFLA_MASTER, IFLA_ADDRESS, IFLA_LINKINFO}
)


def link_messages(data: bytes, alias_prefix: bytes = b"") -> Iterator[tuple[bool, Link]]:
    """(deleted, link) of each link message in a buffer of notifications; with
    `alias_prefix`, only of links whose message holds those bytes (their alias)."""
    for kind, _seq, offset, end in _messages(data):
        if kind in (RTM_NEWLINK, RTM_DELLINK) and data.find(alias_prefix, offset, end) >= 0:
            yield kind == RTM_DELLINK, parse_link(data, offset, end)


# --- writing (pure: bytes of whole messages, sequence and request flags filled in at send) ----


def _stamped(msg: bytes, seq: int, flags: int) -> bytes:
    stamped = bytearray(msg)
    old = struct.unpack_from("=H", stamped, 6)[0]
    struct.pack_into("=HI", stamped, 6, old | flags, seq)
    return bytes(stamped)


def _message(kind: int, flags: int, body: bytes) -> bytes:
    return _HEADER.pack(_HEADER.size + len(body), kind, flags, 0, 0) + body


def _attr(kind: int, payload: bytes) -> bytes:
    length = _ATTR.size + len(payload)
    return _ATTR.pack(length, kind) + payload + b"\0" * (-length % 4)


def _nested(kind: int, *attrs: bytes) -> bytes:
    return _attr(kind, b"".join(attrs))


def _string(kind: int, text: str) -> bytes:
    return _attr(kind, text.encode() + b"\0")


def _u32(kind: int, value: int) -> bytes:
    return _attr(kind, struct.pack("=I", value))


def _u8(kind: int, value: int) -> bytes:
    return _attr(kind, struct.pack("=B", value))


def _mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def _ifinfo(index: int = 0, up: bool = False) -> bytes:
    flags = IFF_UP if up else 0
    return _IFINFO.pack(0, 0, index, flags, flags)


def _newlink(body: bytes, *, create: bool = False, echo: bool = False) -> bytes:
    flags = (NLM_F_CREATE | NLM_F_EXCL if create else 0) | (NLM_F_ECHO if echo else 0)
    return _message(RTM_NEWLINK, flags, body)


def _get_link(name: str, index: int) -> bytes:
    attrs = _string(IFLA_IFNAME, name) if name else b""
    skip_stats = _u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS)
    return _message(RTM_GETLINK, 0, _ifinfo(index) + attrs + skip_stats)


def _get_links() -> bytes:
    return _message(RTM_GETLINK, 0, _ifinfo() + _u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS))


def bridge_create(name: str, mtu: int, mac: str = "") -> bytes:
    """`mac` "": the kernel's choice (a bridge that holds no address of its own). Echoed
    (Linux 6.3 and later): the answer carries the new bridge's index, which the next
    requests address it by without a lookup."""
    return _newlink(
        _ifinfo()
        + _string(IFLA_IFNAME, name)
        + (_attr(IFLA_ADDRESS, _mac(mac)) if mac else b"")
        + _u32(IFLA_MTU, mtu)
        + _nested(IFLA_LINKINFO, _string(IFLA_INFO_KIND, "bridge")),
        create=True,
        echo=True,
    )


def bridge_settings(name: str, group: int, *, bridged: bool = True) -> bytes:
    """The link in interface group `group` with its route_localnet on (the sysctl's value,
    set without opening /proc/sys, which costs more the more namespaces there are) and, for
    a bridge (`bridged`), its bridged frames passing the IPv4 netfilter hooks (conntrack)."""
    info = b""
    if bridged:
        data = _nested(IFLA_INFO_DATA, _u8(IFLA_BR_NF_CALL_IPTABLES, 1))
        info = _nested(IFLA_LINKINFO, _string(IFLA_INFO_KIND, "bridge"), data)
    ipv4 = _nested(AF_INET, _nested(IFLA_INET_CONF, _u32(IPV4_DEVCONF_ROUTE_LOCALNET, 1)))
    return _newlink(
        _ifinfo()
        + _string(IFLA_IFNAME, name)
        + _u32(IFLA_GROUP, group)
        + info
        + _nested(IFLA_AF_SPEC, ipv4)
    )


def link_alias(name: str, alias: str) -> bytes:
    """The kernel ignores IFLA_IFALIAS when it creates a link, so it is set right after."""
    return _newlink(_ifinfo() + _string(IFLA_IFNAME, name) + _string(IFLA_IFALIAS, alias))


def hairpin(name: str) -> bytes:
    """Let frames that came in by this bridge port go out by it again: a container reaching
    itself through its own published port (the DNAT turns its packet back to its own port)."""
    info = _nested(
        IFLA_LINKINFO,
        _string(IFLA_INFO_SLAVE_KIND, "bridge"),
        _nested(IFLA_INFO_SLAVE_DATA, _u8(IFLA_BRPORT_MODE, 1)),
    )
    return _newlink(_ifinfo() + _string(IFLA_IFNAME, name) + info)


def link_master(name: str, master: int) -> bytes:
    return _newlink(_ifinfo() + _string(IFLA_IFNAME, name) + _u32(IFLA_MASTER, master))


def link_up(index: int = 0, name: str | None = None) -> bytes:
    return _newlink(_ifinfo(index, up=True) + (_string(IFLA_IFNAME, name) if name else b""))


def link_delete(index: int = 0, name: str | None = None) -> bytes:
    attrs = _string(IFLA_IFNAME, name) if name else b""
    return _message(RTM_DELLINK, 0, _ifinfo(index) + attrs)


def veth_create(
    host_name: str,
    peer_name: str,
    peer_index: int,
    peer_mac: str,
    peer_netns_fd: int,
    master: int,
    mtu: int,
    host_index: int = 0,
) -> bytes:
    """The pair in one request: host end enslaved and up, peer born inside the container.

    Creating the peer directly in its namespace avoids a device move (~15 ms of RCU waits);
    choosing the peer's ifindex lets the next requests address it without a lookup.
    `host_index`: the host end's ifindex (0: the kernel's choice).
    """
    peer = (
        _ifinfo(peer_index)
        + _string(IFLA_IFNAME, peer_name)
        + _attr(IFLA_ADDRESS, _mac(peer_mac))
        + _u32(IFLA_MTU, mtu)
        + _u32(IFLA_NET_NS_FD, peer_netns_fd)
    )
    info = _nested(
        IFLA_LINKINFO,
        _string(IFLA_INFO_KIND, "veth"),
        _nested(IFLA_INFO_DATA, _attr(VETH_INFO_PEER, peer)),
    )
    return _newlink(
        _ifinfo(host_index, up=True)
        + _string(IFLA_IFNAME, host_name)
        + _u32(IFLA_MTU, mtu)
        + _u32(IFLA_MASTER, master)
        + info,
        create=True,
    )


def address_add(index: int, network: IPNetwork, address: IPAddress) -> bytes:
    """An address on a link; an IPv6 one skips duplicate address detection (the address is
    ours by allocation, and a tentative address could not send for a second or two)."""
    attrs = _attr(IFA_LOCAL, address.packed) + _attr(IFA_ADDRESS, address.packed)
    family, flags = AF_INET, 0
    if address.version == 6:
        family, flags = AF_INET6, IFA_F_NODAD
    elif network.prefixlen < 31:
        attrs += _attr(IFA_BROADCAST, network.broadcast_address.packed)
    body = _IFADDR.pack(family, network.prefixlen, flags, 0, index) + attrs
    return _message(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, body)


def default_route(gateway: IPAddress, oif: int) -> bytes:
    # RTPROT_BOOT (as `ip route add`), RT_SCOPE_UNIVERSE, RTN_UNICAST
    family = AF_INET if gateway.version == 4 else AF_INET6
    body = _RTMSG.pack(family, 0, 0, 0, RT_TABLE_MAIN, 3, 0, 1, 0)
    body += _attr(RTA_GATEWAY, gateway.packed) + _u32(RTA_OIF, oif)
    return _message(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, body)


# linux/if_link.h: enum macvlan_mode
MACVLAN_MODES = {"private": 1, "vepa": 2, "bridge": 4, "passthru": 8}


def macvlan_create(name: str, parent: int, mode: str, mac: str, netns_fd: int) -> bytes:
    """A macvlan on `parent` (an index in the requesting namespace), born in the namespace of
    `netns_fd`: no device move. It starts down, so it can still be renamed there."""
    info = _nested(
        IFLA_LINKINFO,
        _string(IFLA_INFO_KIND, "macvlan"),
        _nested(IFLA_INFO_DATA, _u32(IFLA_MACVLAN_MODE, MACVLAN_MODES[mode])),
    )
    return _newlink(
        _ifinfo()
        + _string(IFLA_IFNAME, name)
        + _u32(IFLA_LINK, parent)
        + _attr(IFLA_ADDRESS, _mac(mac))
        + _u32(IFLA_NET_NS_FD, netns_fd)
        + info,
        create=True,
    )


# kinds that cannot exist without a lower device: a create request naming none makes nothing
LOWER_DEVICE_KINDS = frozenset({"macvlan", "macvtap", "ipvlan", "ipvtap", "vlan"})


def link_probe(kind: str) -> bytes:
    """A create request for a link of `kind` without its lower device: the kernel refuses it,
    with EOPNOTSUPP when it has no driver for the kind, with EINVAL otherwise."""
    if kind not in LOWER_DEVICE_KINDS:
        raise ValueError(f"a probe for {kind} links could make one")
    info = _nested(IFLA_LINKINFO, _string(IFLA_INFO_KIND, kind))
    return _newlink(_ifinfo() + _string(IFLA_IFNAME, "hatoba-probe") + info, create=True)


def link_rename(index: int, name: str) -> bytes:
    return _newlink(_ifinfo(index) + _string(IFLA_IFNAME, name))


def link_down(index: int) -> bytes:
    return _newlink(_IFINFO.pack(0, 0, index, 0, IFF_UP))


def link_retire(index: int, name: str) -> bytes:
    """A bridge (down) out of service: renamed, in no interface group."""
    return _newlink(_ifinfo(index) + _string(IFLA_IFNAME, name) + _u32(IFLA_GROUP, 0))


def link_remake(index: int, name: str, mac: str, mtu: int) -> bytes:
    """A bridge (down) made into another: its name, MAC and MTU."""
    return _newlink(
        _ifinfo(index)
        + _string(IFLA_IFNAME, name)
        + _attr(IFLA_ADDRESS, _mac(mac))
        + _u32(IFLA_MTU, mtu)
    )


def address_delete(index: int, network: IPNetwork, address: IPAddress) -> bytes:
    family = AF_INET6 if address.version == 6 else AF_INET
    body = _IFADDR.pack(family, network.prefixlen, 0, 0, index)
    return _message(RTM_DELADDR, 0, body + _attr(IFA_LOCAL, address.packed))


def vxlan_create(
    name: str,
    vni: int,
    mtu: int,
    master: int,
    local: IPv4Address,
    port: int,
    netns_fd: int | None = None,
) -> bytes:
    """A VXLAN port of bridge `master`: no learning (peers are static entries) and ARP
    answered from its neighbour table (`proxy`), so nothing is ever flooded to other hosts.
    With `netns_fd` it is born in that namespace (`master` is an index there), its UDP socket
    in the requesting one."""
    data = _nested(
        IFLA_INFO_DATA,
        _u32(IFLA_VXLAN_ID, vni),
        _attr(IFLA_VXLAN_LOCAL, local.packed),
        _attr(IFLA_VXLAN_PORT, struct.pack("!H", port)),
        _u8(IFLA_VXLAN_LEARNING, 0),
        _u8(IFLA_VXLAN_PROXY, 1),
        # no outer UDP checksum (RFC 7348 allows it over IPv4): the inner packet has its own
        _u8(IFLA_VXLAN_UDP_CSUM, 0),
    )
    return _newlink(
        _ifinfo(up=True)
        + _string(IFLA_IFNAME, name)
        + _u32(IFLA_MTU, mtu)
        + _u32(IFLA_MASTER, master)
        + (_u32(IFLA_NET_NS_FD, netns_fd) if netns_fd is not None else b"")
        + _nested(IFLA_LINKINFO, _string(IFLA_INFO_KIND, "vxlan"), data),
        create=True,
    )


def _neighbour_message(add: bool, family: int, index: int, attrs: bytes, flags: int = 0) -> bytes:
    kind, how = (RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE) if add else (RTM_DELNEIGH, 0)
    return _message(kind, how, _NDMSG.pack(family, index, NUD_PERMANENT, flags, 0) + attrs)


def neighbour(index: int, address: IPv4Address, mac: str, *, add: bool) -> bytes:
    """`ip neigh replace|del ADDRESS lladdr MAC dev INDEX nud permanent`."""
    attrs = _attr(NDA_DST, address.packed) + _attr(NDA_LLADDR, _mac(mac))
    return _neighbour_message(add, AF_INET, index, attrs)


def forwarding(index: int, mac: str, vtep: IPv4Address, *, add: bool) -> bytes:
    """`bridge fdb replace|del MAC dev INDEX dst VTEP self permanent`."""
    attrs = _attr(NDA_LLADDR, _mac(mac)) + _attr(NDA_DST, vtep.packed)
    return _neighbour_message(add, AF_BRIDGE, index, attrs, NTF_SELF)
