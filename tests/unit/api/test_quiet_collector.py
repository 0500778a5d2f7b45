"""The service's full garbage collections: none of CPython's own while the collector runs,
one once the engine has worked and then been quiet, none while it works or after DNS-like
work alone until the longest wait, and CPython's thresholds back when it stops."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Iterator

import pytest

from hatoba.api.collector import QuietCollector
from hatoba.api.runner import EngineRunner

QUIET = 0.05


class Cycle:
    def __init__(self) -> None:
        self.me = self


@pytest.fixture
def full_collections() -> Iterator[list[int]]:
    """Generation-2 collections while the test runs, as their count of collected objects."""
    seen: list[int] = []

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "stop" and info["generation"] == 2:
            seen.append(info["collected"])

    gc.callbacks.append(callback)
    yield seen
    gc.callbacks.remove(callback)


def old_garbage() -> weakref.ref[Cycle]:
    """A cycle moved to the oldest generation, then dropped: only a full collection frees it."""
    cycle = Cycle()
    gc.collect(1)
    return weakref.ref(cycle)


async def gone(garbage: weakref.ref[Cycle]) -> float:
    """When (monotonic) `garbage` was found freed, within a few seconds."""
    deadline = time.monotonic() + 5
    while garbage() is not None and time.monotonic() < deadline:
        await asyncio.sleep(QUIET / 5)
    assert garbage() is None
    return time.monotonic()


def with_collector(
    test: Callable[[QuietCollector, EngineRunner], Awaitable[None]], longest: float = 60.0
) -> None:
    async def main() -> None:
        runner = EngineRunner("test-engine")
        collector = QuietCollector(runner, quiet=QUIET, longest=longest)
        collector.start()
        try:
            await test(collector, runner)
        finally:
            await collector.aclose()
            runner.shutdown()

    asyncio.run(main())


def test_old_garbage_goes_once_the_engine_has_worked_and_is_quiet(
    full_collections: list[int],
) -> None:
    async def test(collector: QuietCollector, runner: EngineRunner) -> None:
        before = gc.get_threshold()
        assert before[2] > 10**9  # CPython's own full collections are off
        garbage = old_garbage()
        await runner.call(lambda: None)
        await gone(garbage)

    thresholds = gc.get_threshold()
    with_collector(test)
    assert full_collections
    assert gc.get_threshold() == thresholds


def test_none_while_the_engine_works(full_collections: list[int]) -> None:
    async def test(collector: QuietCollector, runner: EngineRunner) -> None:
        garbage = old_garbage()
        await runner.call(lambda: None)
        release = threading.Event()
        busy = asyncio.ensure_future(runner.call(release.wait))
        await asyncio.sleep(5 * QUIET)
        assert garbage() is not None and not full_collections
        release.set()
        await busy
        await gone(garbage)  # quiet again

    with_collector(test)


def test_without_engine_work_only_after_the_longest_wait(full_collections: list[int]) -> None:
    async def test(collector: QuietCollector, runner: EngineRunner) -> None:
        started = time.monotonic()
        garbage = old_garbage()
        await asyncio.sleep(4 * QUIET)
        assert garbage() is not None and not full_collections
        assert await gone(garbage) - started >= 19 * QUIET  # not at the first quiet check

    with_collector(test, longest=20 * QUIET)
