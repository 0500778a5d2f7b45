"""Who may hold how many API connections: a cap per client process and one for the service.

One local client holding thousands of connections must neither keep other clients out nor use
up the descriptors the service needs for containers (each costs it about four). So:

- a process (identified by SO_PEERCRED on the unix socket) may hold `per_peer` connections;
  past that its new ones are refused;
- the service holds at most `total`; at that cap a new connection takes the place of the one
  that has waited longest for a request (an idle keep-alive or a head still trickling in; HTTP
  clients expect idle connections to close and reconnect), and is refused only when every
  connection is busy (requests being served, streams, attach and exec sessions).

Each peer that hits a cap is logged once while it holds connections, not once per connection.
"""

from __future__ import annotations

import contextlib
import logging
import resource
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("hatoba.api")

MAX_PER_PEER = 512  # docker compose holds one stream per container it attaches to
_PEERCRED = struct.Struct("3i")


def default_total() -> int:
    """A quarter of the descriptors this process may open, within [64, 4096]: the rest stay
    for containers."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(64, min(4096, soft // 4))


@dataclass(frozen=True)
class Peer:
    pid: int
    uid: int

    @classmethod
    def of(cls, sock: Any) -> Peer:
        """The process at the other end of a unix socket (pid 0 when the kernel cannot say)."""
        try:
            raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size)
        except (OSError, AttributeError):
            return cls(0, -1)
        pid, uid, _gid = _PEERCRED.unpack(raw)
        return cls(pid, uid)

    def describe(self) -> str:
        command = "?"
        with contextlib.suppress(OSError):
            command = Path(f"/proc/{self.pid}/comm").read_text().strip()
        return f"pid {self.pid} ({command}, uid {self.uid})"


@dataclass
class _Held:
    count: int = 0
    warned: bool = False


class Admission:
    def __init__(self, per_peer: int, total: int) -> None:
        self.per_peer = per_peer
        self.total = total
        self._open = 0
        self._held: dict[Peer, _Held] = {}
        # connections waiting for a request, longest-waiting first; the value closes one
        self._waiting: dict[object, Callable[[], object]] = {}
        self._full_warned = False

    def admit(self, peer: Peer) -> str | None:
        """None when the connection may stay (counted until `release`), else why not."""
        held = self._held.get(peer) or _Held()
        if held.count >= self.per_peer:
            self._held[peer] = held
            if not held.warned:
                held.warned = True
                log.warning(
                    "API client %s holds %d connections, the most one process may: "
                    "its further connections are refused",
                    peer.describe(),
                    held.count,
                )
            return f"too many API connections from this process (limit {self.per_peer})"
        if self._open >= self.total:
            victim = next(iter(self._waiting), None)
            self._warn_full(peer, evicting=victim is not None)
            if victim is None:
                return f"too many API connections (limit {self.total})"
            self._waiting.pop(victim)()
        held.count += 1
        self._held[peer] = held
        self._open += 1
        return None

    def release(self, peer: Peer) -> None:
        held = self._held[peer]
        held.count -= 1
        if held.count == 0:
            del self._held[peer]
        self._open -= 1
        if self._open <= self.total * 3 // 4:
            self._full_warned = False

    def waiting(self, connection: object, close: Callable[[], object]) -> None:
        """`connection` waits for a request from now on (it moves to the end of the line)."""
        self._waiting.pop(connection, None)
        self._waiting[connection] = close

    def busy(self, connection: object) -> None:
        self._waiting.pop(connection, None)

    def _warn_full(self, peer: Peer, *, evicting: bool) -> None:
        # once until the service is well below its cap again, so a full service logs one line
        if self._full_warned:
            return
        self._full_warned = True
        log.warning(
            "%d API connections open, the most the service takes (new one from %s): %s",
            self._open,
            peer.describe(),
            "closing those that wait longest for a request"
            if evicting
            else "all are busy, new ones are refused",
        )
