"""Netfilter's netlink groups as plain sockets: subscribe, split what arrives into messages,
read their attributes; and the ruleset's generation id.

nftables' change notifications (`fw_events`) and trace events (`nftrace`) are read this way,
from the event loop: a few struct calls read the fields needed, where pyroute2's asyncio core
would parse everything.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator

from hatoba.errors import KernelError

SUBSYS_NFTABLES = 10
NFT_MSG_NEWGEN, _NFT_MSG_GETGEN = 15, 16
_NFTA_GEN_ID = 1
_NLMSG_ERROR = 2
_NLM_F_REQUEST = 1
_NETLINK_NETFILTER = 12
_SOL_NETLINK = 270
_NETLINK_ADD_MEMBERSHIP = 1
_SO_RCVBUFFORCE = 33
_NLMSG = struct.Struct("=IHHII")
_NLA = struct.Struct("=HH")


def subscribe(group: int, rcvbuf: int, what: str) -> socket.socket:
    """A non-blocking socket on `group` of the calling thread's namespace; `what` names it in
    errors."""
    sock = socket.socket(
        socket.AF_NETLINK,
        socket.SOCK_RAW | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC,
        _NETLINK_NETFILTER,
    )
    try:
        sock.bind((0, 0))
        sock.setsockopt(_SOL_NETLINK, _NETLINK_ADD_MEMBERSHIP, group)
        sock.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, rcvbuf)
    except OSError as exc:
        sock.close()
        raise KernelError(f"{what}: {exc.strerror}", exc.errno) from exc
    return sock


def messages(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(type, body) of each netlink message in one read."""
    offset = 0
    while offset + _NLMSG.size <= len(data):
        length, kind, _flags, _seq, _port = _NLMSG.unpack_from(data, offset)
        if length < _NLMSG.size:
            return
        yield kind, data[offset + _NLMSG.size : offset + length]
        offset += (length + 3) & ~3


def attrs(data: bytes) -> dict[int, bytes]:
    """Attribute type → payload (the first of each type; nesting left to the caller)."""
    out: dict[int, bytes] = {}
    offset = 0
    while offset + _NLA.size <= len(data):
        length, kind = _NLA.unpack_from(data, offset)
        if length < _NLA.size:
            break
        out.setdefault(kind & 0x3FFF, data[offset + _NLA.size : offset + length])
        offset += (length + 3) & ~3
    return out


class Generation:
    """The nftables ruleset's generation id, which every commit moves on by one (asked with
    NFT_MSG_GETGEN on a socket of the calling thread's namespace)."""

    def __init__(self) -> None:
        self._sock = socket.socket(
            socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, _NETLINK_NETFILTER
        )
        self._sock.settimeout(5.0)
        self._sock.bind((0, 0))
        self._request = _NLMSG.pack(
            _NLMSG.size + 4, SUBSYS_NFTABLES << 8 | _NFT_MSG_GETGEN, _NLM_F_REQUEST, 0, 0
        ) + bytes(4)  # nfgenmsg: AF_UNSPEC, version 0, resource 0

    def read(self) -> int:
        try:
            self._sock.send(self._request)
            data = self._sock.recv(4096)
        except OSError as exc:
            raise KernelError(f"nftables generation: {exc}", exc.errno) from exc
        for kind, body in messages(data):
            if kind == SUBSYS_NFTABLES << 8 | NFT_MSG_NEWGEN:
                return int(struct.unpack(">I", attrs(body[4:])[_NFTA_GEN_ID][:4])[0])
            if kind == _NLMSG_ERROR:
                code = -struct.unpack_from("=i", body)[0]
                raise KernelError(f"nftables generation: error {code}", code)
        raise KernelError("nftables generation: no answer")

    def close(self) -> None:
        self._sock.close()
