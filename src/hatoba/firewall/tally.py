"""Counts over a state's items, carried from one state to the next.

Some questions about a state need every item ("is this host port published twice?", "does
another port still make this element?"). A tally answers them from counts kept with the
state; the next state gets them updated by what went and came, so a delta costs what changed
rather than what is there.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Generic, TypeVar

from hatoba.firewall.model import FirewallState

T = TypeVar("T")
Counts = dict[Hashable, int]


class Tally(Generic[T]):
    def __init__(
        self,
        name: str,
        items: Callable[[FirewallState], Sequence[T]],
        keys: Callable[[T], Iterable[Hashable]],
    ) -> None:
        self.name, self._items, self._keys = name, items, keys

    def of(self, state: FirewallState) -> Counts:
        """The counts of `state`, made once (a pass over its items) and kept with it."""
        counts: Counts | None = state.derived.get(self.name)
        if counts is None:
            counts = {}
            self._add(counts, self._items(state), 1)
            state.derived[self.name] = counts
        return counts

    def carry(
        self, old: FirewallState, new: FirewallState, gone: Sequence[T], came: Sequence[T]
    ) -> Counts:
        """The counts of `new`, which is `old` less `gone` plus `came`. They move from `old`
        rather than being copied (a copy costs an entry per item): the engine moves on from
        `old`, which counts again should it be used again."""
        counts: Counts | None = new.derived.get(self.name)
        if counts is None:
            counts = self.of(old)
            del old.derived[self.name]
            self._add(counts, gone, -1)
            self._add(counts, came, 1)
            new.derived[self.name] = counts
        return counts

    def _add(self, counts: Counts, items: Iterable[T], step: int) -> None:
        for item in items:
            for key in self._keys(item):
                counts[key] = counts.get(key, 0) + step
                if not counts[key]:
                    del counts[key]
