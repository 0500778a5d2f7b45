"""Link change notifications (RTNLGRP_LINK) of the host namespace and of the namespaces it
has an id for (segments of overlay networks): which of hatoba's links someone deleted, or took
off their bridge.

The kernel announces every link change on this multicast group, so a listener learns at no
cost while nothing changes that a bridge or a veth hatoba owns (its alias says so) went away.
Messages are read by `netlink.link_messages`; only the link's name, alias, master and the
kind of change are kept.
"""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass

from hatoba.errors import KernelError
from hatoba.kernel.netlink import link_messages
from hatoba.model.host import OWNER_PREFIX

_NETLINK_ROUTE = 0
_RTMGRP_LINK = 1
_SO_RCVBUFFORCE = 33
_SOL_NETLINK, _NETLINK_LISTEN_ALL_NSID = 270, 8
_RCVBUF = 4 << 20
_OWNED = OWNER_PREFIX.encode()  # what an owned link's message holds (its alias)


@dataclass(frozen=True)
class LinkChange:
    name: str
    deleted: bool
    # the bridge index the link is a port of (0: none); meaningful for new-link messages
    master: int


class LinkEventsLost(Exception):
    """The socket overflowed: some changes went unseen."""


class LinkEvents:
    """Changes of owned links in the namespace this object was created in."""

    def __init__(self) -> None:
        sock = socket.socket(
            socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC
        )
        try:
            sock.bind((0, _RTMGRP_LINK))
            sock.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, _RCVBUF)
            # and of the namespaces this one has an id for: a segment's (overlay network's)
            # links, which its veths and VXLAN port give it one for
            sock.setsockopt(_SOL_NETLINK, _NETLINK_LISTEN_ALL_NSID, 1)
        except OSError as exc:
            sock.close()
            raise KernelError(f"link events: {exc.strerror}", exc.errno) from exc
        self._sock = sock

    def fileno(self) -> int:
        return self._sock.fileno()

    def read(self) -> list[LinkChange]:
        """Every change of an owned link since the last read (non-blocking)."""
        changes: list[LinkChange] = []
        while True:
            try:
                data = self._sock.recv(1 << 16)
            except BlockingIOError:
                return changes
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:
                    raise LinkEventsLost from exc
                raise KernelError(f"link events: {exc.strerror}", exc.errno) from exc
            changes.extend(
                LinkChange(link.name, deleted, link.master)
                for deleted, link in link_messages(data, _OWNED)
                if link.alias.startswith(OWNER_PREFIX)
            )

    def close(self) -> None:
        self._sock.close()
