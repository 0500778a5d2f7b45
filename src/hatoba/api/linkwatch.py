"""Repairs links someone else changed, within a second and without a restart.

The kernel tells the loop about every change of a link hatoba owns, in the host namespace and
in the segments of overlay networks. A change the records do not explain — a bridge, a
bridge's VXLAN port or a running container's veth deleted, a veth or VXLAN port taken off its
bridge — is answered by one repair on the engine's worker (`Engine.repair`), after a short
pause that gathers the burst of notifications one `ip link del` makes. hatoba's own deletions
(a container stops, a network goes) are not repaired: the records no longer name those links
by the time the repair runs, as it runs after the operation that deleted them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Iterable
from typing import Protocol

from hatoba.api.runner import EngineRunner
from hatoba.drivers import registry as drivers
from hatoba.engine.engine import Engine
from hatoba.engine.state import State

log = logging.getLogger("hatoba.linkwatch")
_GATHER = 0.05  # seconds: one repair for the burst of notifications a change makes


class LinkChange(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def deleted(self) -> bool: ...
    @property
    def master(self) -> int: ...


class LinkEventSource(Protocol):
    def fileno(self) -> int: ...
    # raises when notifications were lost (then everything is checked)
    def read(self) -> Iterable[LinkChange]: ...
    def close(self) -> None: ...


def _unexplained(
    change: LinkChange, bridges: frozenset[str], tunnels: frozenset[str], veths: Collection[str]
) -> bool:
    """A recorded bridge deleted, or one of its ports (a running container's veth, a VXLAN
    port) deleted or off its bridge."""
    if change.name in bridges:
        return change.deleted
    port = change.name in tunnels or change.name in veths
    return port and (change.deleted or not change.master)


class LinkWatch:
    def __init__(self, engine: Engine, runner: EngineRunner, events: LinkEventSource) -> None:
        self._engine = engine
        self._runner = runner
        self._events = events
        self._loop = asyncio.get_running_loop()
        self._pending: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None
        self._names: tuple[State | None, frozenset[str], frozenset[str]] = (
            None,
            frozenset(),
            frozenset(),
        )
        self._loop.add_reader(events.fileno(), self._on_events)

    def _on_events(self) -> None:
        try:
            changes = list(self._events.read())
        except Exception:  # notifications lost (or worse): look at everything
            self._schedule()
            return
        bridges, tunnels, veths = self._recorded()
        if any(_unexplained(change, bridges, tunnels, veths) for change in changes):
            self._schedule()

    def _recorded(self) -> tuple[frozenset[str], frozenset[str], Collection[str]]:
        """The networks' bridges and their VXLAN ports (per snapshot), and the veths of
        running containers (a lookup the snapshot carries)."""
        state = self._engine.state
        cached, bridges, tunnels = self._names
        if cached is not state:
            planned = [
                bridge
                for network in state.networks.values()
                for bridge in drivers.of(network).host_bridges(network)
            ]
            bridges = frozenset(bridge.name for bridge in planned)
            tunnels = frozenset(b.tunnel.name for b in planned if b.tunnel is not None)
            self._names = (state, bridges, tunnels)
        return bridges, tunnels, state.endpoint_host_ifnames

    def _schedule(self) -> None:
        if self._pending is None:
            self._pending = self._loop.call_later(_GATHER, self._start_repair)

    def _start_repair(self) -> None:
        self._pending = None
        if self._task is not None and not self._task.done():
            self._schedule()  # one repair at a time; the next one sees this change too
            return
        self._task = self._loop.create_task(self._repair())

    async def _repair(self) -> None:
        try:
            damaged = await self._runner.call(self._engine.repair)
        except Exception:
            log.exception("repairing links failed")
            return
        for container in damaged:
            log.error("container %s: %s", container.name, container.state.error)

    def close(self) -> None:
        self._loop.remove_reader(self._events.fileno())
        if self._pending is not None:
            self._pending.cancel()
        if self._task is not None:
            self._task.cancel()
        self._events.close()
