"""Full collections of Python's garbage collector while the service is quiet.

CPython collects its oldest generation whenever that has grown by a quarter since the last
full collection. With 1000 containers a full collection takes ~120 ms, and it lands inside
whatever request allocates at that moment: under a run of `run -d`, one in about forty
(measured: the service's CPU time per `run -d` at 1000 containers 13.5 ms with them, 8.0 ms
without). The service turns those off and collects the oldest generation itself: once the
engine, having worked, has had no work for QUIET seconds, or at the latest LONGEST seconds
after the last full collection (under work that never pauses, or DNS answers alone, which
leave little behind). The younger generations are collected as always: most cycles die
young.
"""

from __future__ import annotations

import asyncio
import gc
import time

from hatoba.api.runner import EngineRunner

QUIET = 1.0
LONGEST = 60.0
_NEVER = 2**31 - 1  # a threshold the count of younger collections never passes


class QuietCollector:
    def __init__(
        self, runner: EngineRunner, quiet: float = QUIET, longest: float = LONGEST
    ) -> None:
        self._runner = runner
        self._quiet = quiet
        self._longest = longest
        self._thresholds = gc.get_threshold()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        young, middle, _ = self._thresholds
        gc.set_threshold(young, middle, _NEVER)
        self._task = asyncio.get_running_loop().create_task(self._collect_when_quiet())

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        gc.set_threshold(*self._thresholds)

    async def _collect_when_quiet(self) -> None:
        last, worked = time.monotonic(), self._runner.finished
        while True:
            await asyncio.sleep(self._quiet)
            # collections of the middle generation since the last full one: objects moved up
            if gc.get_count()[2] == 0:
                continue
            now = time.monotonic()
            quiet = self._runner.quiet_for() >= self._quiet
            if (quiet and self._runner.finished != worked) or now - last >= self._longest:
                gc.collect()
                last, worked = now, self._runner.finished
