"""Forget the UDP flows of a removed port mapping.

A UDP "connection" that was DNATed to a container keeps its conntrack entry, and so keeps going
to the old container, as long as the client keeps sending. Docker (`clearConntrackEntries`) and
CNI's portmap delete such entries; so do we. pyroute2's conntrack socket does it in-process
(no `conntrack` binary needed), with the kernel filtering the dump by protocol and port.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from typing import Any

from pyroute2 import Conntrack
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.nfnetlink.nfctsocket import NFCTAttrTuple

from hatoba.errors import KernelError
from hatoba.firewall.model import FwPort
from hatoba.kernel.fw_netns import HomeNetns


def clear_udp(home: HomeNetns, ports: Sequence[FwPort]) -> int:
    """Delete the conntrack entries of flows DNATed through these UDP mappings; return how many."""
    udp = [p for p in ports if p.protocol == "udp"]
    if not udp:
        return 0

    def work() -> int:
        deleted = 0
        ct = Conntrack()
        try:
            for port in udp:
                query = NFCTAttrTuple(proto=socket.IPPROTO_UDP, dport=port.host_port)
                for entry in list(ct.dump_entries(tuple_orig=query)):
                    if _through(entry, port):
                        deleted += _delete(ct, entry)
        except NetlinkError as exc:
            raise KernelError(f"conntrack: {exc}", exc.code) from exc
        finally:
            ct.close()
        return deleted

    return home.call(work)


def _through(entry: Any, port: FwPort) -> bool:
    """The flow was DNATed to this mapping's container (the reply comes from it)."""
    orig, reply = entry.tuple_orig, entry.tuple_reply
    if (
        port.host_ip is not None
        and not port.host_ip.is_unspecified
        and orig.daddr != str(port.host_ip)
    ):
        return False
    return bool(reply.saddr == str(port.container_ip) and reply.sport == port.container_port)


def _delete(ct: Conntrack, entry: Any) -> int:
    try:
        ct.entry("del", tuple_orig=entry.tuple_orig)
    except NetlinkError:
        return 0  # gone meanwhile
    return 1
