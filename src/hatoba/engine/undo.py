"""Every kernel step registers its inverse; a failure unwinds them in reverse order."""

from __future__ import annotations

import logging
from collections.abc import Callable
from types import TracebackType
from typing import Any

from hatoba.engine import faults

log = logging.getLogger("hatoba.engine")


class UndoStack:
    def __init__(self) -> None:
        self._steps: list[tuple[str, Callable[[], Any]]] = []

    def push(self, what: str, undo: Callable[[], Any]) -> None:
        self._steps.append((what, undo))
        faults.reached(what)

    def commit(self) -> None:
        self._steps.clear()

    def unwind(self) -> None:
        while self._steps:
            what, undo = self._steps.pop()
            try:
                undo()
            except Exception:
                # keep unwinding: one failed undo must not leave the others undone
                log.exception("undo of %s failed", what)

    def __enter__(self) -> UndoStack:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self.unwind()
