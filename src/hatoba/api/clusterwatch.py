"""Hands the cluster store's changes to the engine: its watch (a thread of the store adapter)
says something changed; the engine's worker makes this host follow (`Engine.follow_cluster`),
one run at a time with at most one more waiting, so a burst of changes costs two runs."""

from __future__ import annotations

import asyncio
import logging

from hatoba.api.runner import EngineRunner
from hatoba.engine.engine import Engine

log = logging.getLogger("hatoba.cluster")


class ClusterFollower:
    def __init__(self, engine: Engine, runner: EngineRunner) -> None:
        self._engine = engine
        self._runner = runner
        self._loop = asyncio.get_running_loop()
        self._waiting = False
        self._tasks: set[asyncio.Task[None]] = set()

    def changed(self) -> None:
        """From any thread."""
        self._loop.call_soon_threadsafe(self._schedule)

    def _schedule(self) -> None:
        if self._waiting:
            return
        self._waiting = True
        task = self._loop.create_task(self._follow())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _follow(self) -> None:
        try:
            await self._runner.call(self._cleared_then_follow)
        except Exception:
            log.exception("following the cluster store failed")

    def _cleared_then_follow(self) -> None:
        # cleared on the worker as the run begins: a change from now on needs another run
        self._waiting = False
        self._engine.follow_cluster()

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
