"""Docker's restart manager on the service's loop: the wait before a restart policy starts an
exited container again, and the starts at service start-up.

The engine decides at each exit whether the policy restarts the container (it is then
`restarting`, engine/containers.py `exited`); this waits the backoff (model/restart.py
`next_delay`: 100 ms doubling to a minute, afresh after 10 s of running) and asks the engine
to start it, which wires its network as any start does. The backoff is kept here, in memory,
as Docker keeps it: a start by the user or a new service begins afresh. A stop during the
wait cancels it (`cancel`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from hatoba.api.runner import EngineRunner
from hatoba.engine.engine import Engine
from hatoba.errors import HatobaError
from hatoba.model.container import Container
from hatoba.model.humanize import parse_rfc3339
from hatoba.model.restart import next_delay

log = logging.getLogger("hatoba.restarts")


class Restarts:
    def __init__(
        self, engine: Engine, runner: EngineRunner, started: Callable[[Container], None]
    ) -> None:
        self._engine = engine
        self._runner = runner
        # the supervisor's watch: what every start must be followed by
        self._started = started
        # container id -> the last wait (Docker's restart manager timeout)
        self._delays: dict[str, float] = {}
        # container id -> the wait under way (only while it may still be cancelled)
        self._waiting: dict[str, asyncio.Task[None]] = {}

    def after_exit(self, container: Container) -> None:
        """A container the engine marked `restarting`: start it after the backoff."""
        cid = container.id
        ran_for = parse_rfc3339(container.state.finished_at) - parse_rfc3339(
            container.state.started_at
        )
        delay = next_delay(self._delays.get(cid, 0.0), ran_for)
        self._delays[cid] = delay
        self.cancel(cid)
        self._waiting[cid] = asyncio.ensure_future(self._restart_after(cid, delay))

    async def _restart_after(self, cid: str, delay: float) -> None:
        try:
            await asyncio.sleep(delay)
        except asyncio.CancelledError:
            return
        # from here on the start goes ahead: a stop that comes now finds the container
        # running (or left exited, if the start failed)
        self._waiting.pop(cid, None)
        try:
            started = await self._runner.call(self._engine.restart_by_policy, cid)
        except Exception:
            log.exception("restarting %s failed", cid)
            return
        if started is not None:
            self._started(started)

    def cancel(self, cid: str) -> None:
        """Called on the loop before the engine is told of a stop: a wait under way ends
        without a start."""
        waiting = self._waiting.pop(cid, None)
        if waiting is not None:
            waiting.cancel()

    def forget(self, cid: str) -> None:
        """A start by the user, or a remove: the next restart begins at the first delay."""
        self.cancel(cid)
        self._delays.pop(cid, None)

    async def at_service_start(self) -> None:
        """Docker's restarts at daemon start (model/restart.py `at_service_start`), one after
        the other on the worker; a container that fails to start is reported and left."""
        for cid in await self._runner.call(self._engine.due_at_start):
            try:
                started = await self._runner.call(self._engine.start, cid)
            except HatobaError as exc:
                log.warning("restart policy: starting %s failed: %s", cid[:12], exc.message)
                continue
            log.info("restart policy: started %s at service start", started.name)
            self._started(started)

    async def close(self) -> None:
        waiting = list(self._waiting.values())
        self._waiting.clear()
        for task in waiting:
            task.cancel()
        await asyncio.gather(*waiting, return_exceptions=True)
