"""Runs engine use cases one at a time on a single worker thread.

The event loop never blocks on netlink, mounts or SQLite, and the engine never needs locks:
every change to the state happens on this one thread. Reads do not come here: route handlers
read the engine's current snapshot on the loop (engine/state.py). Long image work (import,
load, save) has a runner of its own, so it never holds up network and container operations.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class EngineRunner:
    def __init__(self, name: str = "hatoba-engine") -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._calls = 0  # in the pool's queue or running
        self.finished = 0  # calls ever finished
        self._quiet_since = time.monotonic()

    async def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        loop = asyncio.get_running_loop()
        self._calls += 1
        try:
            return await loop.run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))
        finally:
            self._calls -= 1
            self.finished += 1
            if not self._calls:
                self._quiet_since = time.monotonic()

    def quiet_for(self) -> float:
        """Seconds since the last call finished; 0 while one is waiting or running."""
        return 0.0 if self._calls else time.monotonic() - self._quiet_since

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True)
