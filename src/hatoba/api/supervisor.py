"""Watches container shims, turns their exits into engine updates, and answers waiters; runs
what follows a container's start and exit: its health checks (api/health.py) and its restart
policy's restarts (api/restarts.py).

A shim exits right after its container did (having written exit.json). The service watches each
shim with a pidfd, which works for processes that are not its children, so containers started
by an earlier incarnation of the service are watched the same way after a restart.

A stop or a kill with the stop signal or SIGKILL through the API rules out a restart by the
policy after the exit it causes (Docker's ExitOnNext); a stop while a restart waits cancels it.

Exits that come together (a `compose down` stopping 100 replicas) are recorded together: while
the engine records some, the next ones wait and then go in one call (`Engine.exited_many`: one
firewall transaction and one commit for all of them).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections import defaultdict
from collections.abc import Coroutine, Sequence
from typing import Any

from hatoba.api.events import EventLog
from hatoba.api.health import HealthChecks
from hatoba.api.restarts import Restarts
from hatoba.api.runner import EngineRunner
from hatoba.engine.engine import Engine
from hatoba.errors import Conflict, HatobaError, NotModified
from hatoba.model.container import RESTARTING, RUNNING, Container
from hatoba.model.signals import signal_number

log = logging.getLogger("hatoba.supervisor")
DEFAULT_STOP_TIMEOUT = 10


class Supervisor:
    def __init__(
        self,
        engine: Engine,
        runner: EngineRunner,
        health: HealthChecks,
        events: EventLog | None = None,
    ) -> None:
        self._engine = engine
        self._runner = runner
        self._health = health
        self._events = events or EventLog()
        self.restarts = Restarts(engine, runner, self.watch)
        # containers whose next exit the user caused: no restart by policy after it
        self._stopped_by_user: set[str] = set()
        self._watched: dict[str, int] = {}
        self._exit_waiters: dict[str, list[asyncio.Future[int]]] = defaultdict(list)
        self._removed_waiters: dict[str, list[asyncio.Future[int]]] = defaultdict(list)
        self._tasks: set[asyncio.Task[None]] = set()
        # exits seen and not yet recorded: (id, whether its restart policy may act)
        self._exits: list[tuple[str, bool]] = []
        self._recording: asyncio.Task[None] | None = None

    # --- watching ---------------------------------------------------------------------------

    def watch(self, container: Container) -> None:
        """Call on the loop thread after a start (or at boot for running containers)."""
        cid = container.id
        if cid in self._watched:
            return
        loop = asyncio.get_running_loop()
        try:
            fd = os.pidfd_open(container.state.shim_pid)
        except ProcessLookupError:
            self._exited(cid)
            return
        if not self._engine.core.runtime.is_alive(
            container.state.shim_pid, container.state.shim_start
        ):
            os.close(fd)
            self._exited(cid)
            return
        self._watched[cid] = fd
        loop.add_reader(fd, self._on_shim_exit, cid)
        self._health.follow(container)

    def started_by_user(self, container: Container) -> None:
        """After a start through the API: the restart policy begins afresh."""
        self.restarts.forget(container.id)
        self._stopped_by_user.discard(container.id)
        self.watch(container)

    def _on_shim_exit(self, cid: str) -> None:
        fd = self._watched.pop(cid, None)
        if fd is not None:
            asyncio.get_running_loop().remove_reader(fd)
            os.close(fd)
        self._exited(cid)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _exited(self, cid: str) -> None:
        self._health.forget(cid)
        self._exits.append((cid, cid not in self._stopped_by_user))
        self._stopped_by_user.discard(cid)
        if self._recording is None or self._recording.done():
            self._recording = asyncio.ensure_future(self._record_exits())

    async def _record_exits(self) -> None:
        """Record the exits seen, those that came meanwhile in one call each time."""
        while self._exits:
            exits, self._exits = self._exits, []
            try:
                done = await self._runner.call(self._engine.exited_many, exits)
            except Exception:
                log.exception("recording the exits of %s failed", [cid for cid, _ in exits])
                continue
            for (cid, _), container in zip(exits, done, strict=True):
                self._spawn(self._after_exit(cid, container))

    async def _after_exit(self, cid: str, done: Container | None) -> None:
        code = done.state.exit_code if done else 0
        for fut in self._exit_waiters.pop(cid, []):
            if not fut.done():
                fut.set_result(code)
        if done is not None and done.state.restarting:
            self.restarts.after_exit(done)
        elif done is not None and done.config.auto_remove:
            # `--rm` takes the container's anonymous volumes too, as Docker's does
            await self.remove(cid, with_volumes=True)

    # --- waiting ----------------------------------------------------------------------------

    async def wait(self, ref: str, condition: str = "not-running") -> int:
        container = self._engine.state.container(ref)
        cid = container.id
        loop = asyncio.get_running_loop()
        if condition == "removed":
            fut: asyncio.Future[int] = loop.create_future()
            self._removed_waiters[cid].append(fut)
            return await fut
        # a container waiting for its restart counts as running (Docker)
        if condition == "not-running" and container.state.status not in (RUNNING, RESTARTING):
            return container.state.exit_code
        fut = loop.create_future()
        self._exit_waiters[cid].append(fut)
        return await fut

    async def stop(self, ref: str, timeout: int | None = None) -> Container:
        container = self._engine.state.container(ref)
        if container.state.restarting:
            container = await self._end_restarts(container)
            if not container.state.running:
                return container  # the restart it waited for will not come
        if container.state.status != RUNNING:
            raise NotModified("container already stopped")
        if timeout is None:
            timeout = container.config.stop_timeout
        if timeout is None:
            timeout = DEFAULT_STOP_TIMEOUT
        waiter = self._exit_waiter(container.id)
        self._stopped_by_user.add(container.id)
        await self.kill(container.id, signal_number(container.config.stop_signal))
        try:
            await asyncio.wait_for(asyncio.shield(waiter), timeout=max(timeout, 0))
        except TimeoutError:
            with contextlib.suppress(Conflict):
                await self.kill(container.id, signal.SIGKILL)
            await waiter
        self._events.container("stop", container)
        return container

    async def kill(self, ref: str, signum: int) -> Container:
        container = self._engine.state.container(ref)
        if container.state.restarting:
            container = await self._end_restarts(container)
            if not container.state.running:
                return container
        if signum in (signal.SIGKILL, signal_number(container.config.stop_signal)):
            self._stopped_by_user.add(container.id)
        killed = await self._runner.call(self._engine.kill, container.id, signum)
        self._events.container("kill", killed, signal=str(signum))
        return killed

    async def pause(self, ref: str) -> Container:
        """Freeze the container; its health checks wait (Docker's monitor stops too)."""
        paused = await self._runner.call(self._engine.pause, ref)
        self._health.forget(paused.id)
        self._events.container("pause", paused)
        return paused

    async def unpause(self, ref: str) -> Container:
        resumed = await self._runner.call(self._engine.unpause, ref)
        self._health.follow(resumed)
        self._events.container("unpause", resumed)
        return resumed

    async def _end_restarts(self, container: Container) -> Container:
        """The user stops a container that waits for its restart: it stays exited. Returns
        the container as it is now: running if the restart had begun already."""
        if not container.state.restarting:
            return container
        self.restarts.cancel(container.id)
        now = await self._runner.call(self._engine.stop_restarting, container.id)
        if now.state.running:
            self.watch(now)
        return now

    def _exit_waiter(self, cid: str) -> asyncio.Future[int]:
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._exit_waiters[cid].append(fut)
        return fut

    async def remove(self, ref: str, force: bool = False, with_volumes: bool = False) -> Container:
        container = self._engine.state.container(ref)
        if force:
            await self._kill_for_removal(container.id)
        removed = await self._runner.call(self._engine.remove, container.id, with_volumes)
        self.forget_removed(removed)
        return removed

    async def remove_many(self, ids: Sequence[str], force: bool) -> list[Container | HatobaError]:
        """Remove these containers (by id) in one engine call; with `force`, the running
        ones are killed first (together). Each, or why it stays."""
        if force:
            await asyncio.gather(*(self._kill_for_removal(cid) for cid in ids))
        outcomes = await self._runner.call(self._engine.remove_many, ids)
        for outcome in outcomes:
            if isinstance(outcome, Container):
                self.forget_removed(outcome)
        return outcomes

    async def _kill_for_removal(self, cid: str) -> None:
        container = self._engine.state.containers.get(cid)
        if container is None:
            return
        container = await self._end_restarts(container)
        if container.state.status == RUNNING:
            waiter = self._exit_waiter(cid)
            self._stopped_by_user.add(cid)
            with contextlib.suppress(Conflict):
                await self.kill(cid, signal.SIGKILL)
            await waiter

    def forget_removed(self, removed: Container) -> None:
        """A container is gone: its restarts end, its `wait --condition removed` returns."""
        self.restarts.forget(removed.id)
        for fut in self._removed_waiters.pop(removed.id, []):
            if not fut.done():
                fut.set_result(removed.state.exit_code)

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        for fd in self._watched.values():
            loop.remove_reader(fd)
            os.close(fd)
        self._watched.clear()
        if self._recording is not None:
            self._recording.cancel()
        for task in list(self._tasks):
            task.cancel()
        await self.restarts.close()
        await self._health.close()
