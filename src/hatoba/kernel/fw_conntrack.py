"""Conntrack entries, in-process through pyroute2 (no `conntrack` binary), with the kernel
filtering each dump by protocol, addresses and ports.

* Forget the UDP flows of a removed port mapping. A UDP "connection" that was DNATed to a
  container keeps its conntrack entry, and so keeps going to the old container, as long as the
  client keeps sending. Docker (`clearConntrackEntries`) and CNI's portmap delete such entries;
  so do we.
* Find the entry of a traced flow: its reply tuple shows the NAT the flow got.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator, Sequence
from typing import Any

from pyroute2 import Conntrack
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.nfnetlink.nfctsocket import (
    IPSBIT_TO_NAME,
    TCP_CONNTRACK_TO_NAME,
    NFCTAttrTuple,
)

from hatoba.errors import KernelError
from hatoba.firewall.model import FwPort
from hatoba.kernel.fw_netns import HomeNetns
from hatoba.model.flows import Flow
from hatoba.observe import evidence
from hatoba.observe.packets import PROTO_NUMBERS


def clear_udp(home: HomeNetns, ports: Sequence[FwPort]) -> int:
    """Delete the conntrack entries of flows DNATed through these UDP mappings; return how many."""
    udp = [p for p in ports if p.protocol == "udp"]
    if not udp:
        return 0

    def work() -> int:
        deleted = 0
        with _table() as ct:
            for port in udp:
                families = [socket.AF_INET] + ([socket.AF_INET6] if port.container_ip6 else [])
                for family in families:
                    query = NFCTAttrTuple(
                        family=family, proto=socket.IPPROTO_UDP, dport=port.host_port
                    )
                    for entry in list(ct.dump_entries(tuple_orig=query)):
                        if _through(entry, port):
                            deleted += _delete(ct, entry)
        return deleted

    return home.call(work)


@contextlib.contextmanager
def _table() -> Iterator[Conntrack]:
    """The conntrack table of the calling thread's namespace; its errors are KernelErrors."""
    ct = Conntrack()
    try:
        yield ct
    except NetlinkError as exc:
        raise KernelError(f"conntrack: {exc}", exc.code) from exc
    finally:
        ct.close()


def _through(entry: Any, port: FwPort) -> bool:
    """The flow was DNATed to this mapping's container (the reply comes from it)."""
    orig, reply = entry.tuple_orig, entry.tuple_reply
    if (
        port.host_ip is not None
        and not port.host_ip.is_unspecified
        and orig.daddr != str(port.host_ip)
    ):
        return False
    containers = {str(a) for a in (port.container_ip, port.container_ip6) if a is not None}
    return bool(reply.saddr in containers and reply.sport == port.container_port)


def _delete(ct: Conntrack, entry: Any) -> int:
    try:
        ct.entry("del", tuple_orig=entry.tuple_orig)
    except NetlinkError:
        return 0  # gone meanwhile
    return 1


def find(home: HomeNetns, flow: Flow) -> evidence.Conntrack | None:
    """The entry `flow` made in the host's table, if it is there (one dropped before its first
    packet left the host never was)."""
    number = PROTO_NUMBERS[flow.proto]
    if flow.proto == "icmp":
        query = NFCTAttrTuple(proto=number, saddr=flow.src, daddr=flow.dst)
    else:
        query = NFCTAttrTuple(
            proto=number, saddr=flow.src, daddr=flow.dst, sport=flow.sport, dport=flow.dport
        )

    def work() -> evidence.Conntrack | None:
        with _table() as ct:
            for entry in ct.dump_entries(tuple_orig=query):
                orig = entry.tuple_orig
                if flow.proto == "icmp" and flow.sport is not None and orig.icmp_id != flow.sport:
                    continue
                return _entry(flow.proto, entry)
        return None

    return home.call(work)


def _entry(proto: str, entry: Any) -> evidence.Conntrack:
    def ends(t: Any) -> evidence.Endpoints:
        if proto == "icmp":
            return evidence.Endpoints(t.saddr, t.icmp_id or 0, t.daddr, t.icmp_id or 0)
        return evidence.Endpoints(t.saddr, t.sport or 0, t.daddr, t.dport or 0)

    state = ""
    if entry.protoinfo is not None:
        state = TCP_CONNTRACK_TO_NAME.get(entry.protoinfo.state, "")
    flags = tuple(name for bit, name in IPSBIT_TO_NAME.items() if entry.status & bit)
    return evidence.Conntrack(proto, ends(entry.tuple_orig), ends(entry.tuple_reply), state, flags)
