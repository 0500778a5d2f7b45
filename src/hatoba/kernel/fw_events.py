"""nftables change notifications (NFNLGRP_NFTABLES): which commits changed anything in which
tables (so someone else's change to ours is undone), and which changed the tables, chains or
rules of others (the host's own firewalls).

The kernel announces every committed change on this multicast group, and ends each commit with
a NEWGEN message carrying the id of the thread that committed it. So a listener learns, at no
cost while nothing changes, that someone else flushed the ruleset or deleted the table.

Only a few fields are read (message type, table name, committer): see `nfnetlink`.
"""

from __future__ import annotations

import errno
import struct
from dataclasses import dataclass

from hatoba.errors import KernelError
from hatoba.kernel import nfnetlink
from hatoba.kernel.fw_netns import HomeNetns

_NFNLGRP_NFTABLES = 7
# A full rebuild announces every set element; room for that avoids needless overflows.
_RCVBUF = 4 << 20
# NEW and DEL/DESTROY of tables, chains (a policy change is a NEWCHAIN) and rules
_STRUCTURE = frozenset({0, 2, 3, 5, 6, 8, 26, 27, 28})
_NFTA_TABLE = 1  # the table name is attribute 1 in table, chain, rule, set and element messages
_NFTA_GEN_PROC_PID = 2


@dataclass(frozen=True)
class Commit:
    committer: int  # thread id (task pid) of the process thread that committed
    # "<family number>/<table>" of tables where anything was added, changed or deleted
    touched: frozenset[str]
    # "<family number>/<table>" of tables whose tables, chains or rules changed
    reshaped: frozenset[str] = frozenset()


class EventsLost(Exception):
    """The socket overflowed: some commits went unseen."""


class NftEvents:
    def __init__(self, home: HomeNetns) -> None:
        self._sock = home.call(
            lambda: nfnetlink.subscribe(_NFNLGRP_NFTABLES, _RCVBUF, "nftables events")
        )
        self._touched: set[str] = set()
        self._reshaped: set[str] = set()

    def fileno(self) -> int:
        return self._sock.fileno()

    def read(self) -> list[Commit]:
        """Every commit completed since the last read (non-blocking)."""
        commits: list[Commit] = []
        while True:
            try:
                data = self._sock.recv(1 << 16)
            except BlockingIOError:
                return commits
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:
                    self._touched.clear()
                    self._reshaped.clear()
                    raise EventsLost from exc
                raise KernelError(f"nftables events: {exc.strerror}", exc.errno) from exc
            commits += self._parse(data)

    def _parse(self, data: bytes) -> list[Commit]:
        commits = []
        for kind, body in nfnetlink.messages(data):
            if kind >> 8 != nfnetlink.SUBSYS_NFTABLES or len(body) < 4:
                continue
            msg, family, attrs = kind & 0xFF, body[0], nfnetlink.attrs(body[4:])
            if msg == nfnetlink.NFT_MSG_NEWGEN:
                pid = struct.unpack(">I", attrs.get(_NFTA_GEN_PROC_PID, b"\0\0\0\0")[:4])[0]
                commits.append(Commit(pid, frozenset(self._touched), frozenset(self._reshaped)))
                self._touched.clear()
                self._reshaped.clear()
            elif _NFTA_TABLE in attrs:
                table = attrs[_NFTA_TABLE].rstrip(b"\0").decode(errors="replace")
                self._touched.add(f"{family}/{table}")
                if msg in _STRUCTURE:
                    self._reshaped.add(f"{family}/{table}")
        return commits

    def close(self) -> None:
        self._sock.close()
