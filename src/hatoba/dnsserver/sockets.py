"""Sockets the resolver needs inside other namespaces, made on short-lived threads there.

A socket belongs to the namespace it was created in, whatever thread uses it later; so the
service's event loop serves sockets of every container without ever leaving its own namespace.
The NAT table is made by the nftables helper process, given the namespace's handle.
"""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

from pyroute2 import Conntrack
from pyroute2.conntrack import NFCTAttrTuple
from pyroute2.netlink.exceptions import NetlinkError

from hatoba.dns import nat
from hatoba.errors import KernelError
from hatoba.kernel.netns import call_in_each_netns, call_in_netns
from hatoba.kernel.nft_helper import NftHelper, NftNamespace

_LISTEN_BACKLOG = 128


@dataclass(frozen=True)
class ResolverSockets:
    """A container's 127.0.0.11 sockets; the NAT table sends port 53 to them."""

    udp: socket.socket
    tcp: socket.socket

    def close(self) -> None:
        self.udp.close()
        self.tcp.close()


def open_resolver(netns_path: str, helper: NftHelper, *, fresh: bool = False) -> ResolverSockets:
    """Bind the resolver's sockets in the namespace and install (or replace) its NAT table;
    a `fresh` namespace has no table of an earlier run to look for."""
    try:
        with helper.namespace(netns_path) as nft:
            return call_in_netns(netns_path, partial(_open_here, nft, fresh, netns_path))
    except OSError as exc:
        raise KernelError(f"cannot start the DNS resolver in {netns_path}: {exc}") from exc


def take_over_resolvers(
    netns_paths: Sequence[str], helper: NftHelper
) -> list[ResolverSockets | KernelError]:
    """`open_resolver` in each namespace, taking over from an earlier run, all on one thread."""
    contexts = [helper.namespace(path) for path in netns_paths]
    try:
        return call_in_each_netns(
            [
                (p, partial(_open_here, nft, False, p))
                for p, nft in zip(netns_paths, contexts, strict=True)
            ]
        )
    finally:
        for nft in contexts:
            nft.close()


def _open_here(nft: NftNamespace, fresh: bool, netns_path: str) -> ResolverSockets:
    try:
        return _bind_and_nat(nft, fresh)
    except OSError as exc:
        raise KernelError(f"cannot start the DNS resolver in {netns_path}: {exc}") from exc


def _bind_and_nat(nft: NftNamespace, fresh: bool) -> ResolverSockets:
    previous = None if fresh else _previous_shape(nft)
    ports = nat.ports_in(previous or frozenset())
    udp = _bind(socket.SOCK_DGRAM, ports.get("udp", 0))
    try:
        tcp = _bind(socket.SOCK_STREAM, ports.get("tcp", 0))
        try:
            tcp.listen(_LISTEN_BACKLOG)
            bound = udp.getsockname()[1], tcp.getsockname()[1]
            if previous != nat.expected_shape(*bound):
                nft.run(nat.table_commands(*bound, replace=previous is not None))
            if ports and ports != {"udp": bound[0], "tcp": bound[1]}:
                _forget_flows_to_resolver()
        except BaseException:
            tcp.close()
            raise
    except BaseException:
        udp.close()
        raise
    return ResolverSockets(udp, tcp)


def _forget_flows_to_resolver() -> None:
    """Drop the conntrack entries of flows to 127.0.0.11:53 in this namespace.

    Their NAT was decided by the old table: a client that keeps sending from one port would
    keep reaching the old, closed port for as long as it keeps sending.
    """
    with Conntrack() as conntrack:
        for protocol in (socket.IPPROTO_UDP, socket.IPPROTO_TCP):
            flows = NFCTAttrTuple(daddr=nat.RESOLVER_IP, dport=53, proto=protocol)
            # pyroute2 cannot delete while it is still dumping: collect first
            for entry in list(conntrack.dump_entries(tuple_orig=flows)):
                with contextlib.suppress(NetlinkError):  # it may have expired meanwhile
                    conntrack.delete(entry)


def _previous_shape(nft: NftNamespace) -> nat.Shape | None:
    """The table an earlier run of the service left, in short; None when there is none."""
    try:
        listing = nft.run(nat.list_command())
    except KernelError:
        return None
    try:
        return nat.shape_of(json.loads(listing))
    except ValueError:
        return frozenset()


def _bind(kind: int, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, kind | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC)
    try:
        if kind == socket.SOCK_STREAM:
            # connections of the previous service may linger in TIME_WAIT on that port
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((nat.RESOLVER_IP, port))
        except OSError:
            if not port:
                raise
            sock.bind((nat.RESOLVER_IP, 0))  # the old port is taken: any port will do
    except BaseException:
        sock.close()
        raise
    return sock


def remove_nat(netns_path: str, helper: NftHelper) -> None:
    """Drop the NAT table; a namespace (or table) that is already gone is fine."""
    with contextlib.suppress(KernelError), helper.namespace(netns_path) as nft:
        nft.run(nat.delete_command())


def client_socket(netns_path: str | None, family: int, kind: int) -> socket.socket:
    """A non-blocking socket for talking to an upstream, in the namespace given (None: ours)."""

    def make() -> socket.socket:
        return socket.socket(family, kind | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC)

    return make() if netns_path is None else call_in_netns(netns_path, make)
