"""Crash points for the chaos tests: the places in every operation where a test may have the
service killed (after each kernel step that registered its undo, and right after each store
commit).

Nothing happens unless a hook is installed, and only `service.py` installs one, when the
environment asks for it (HATOBA_CRASH_AT, which only the tests set).
"""

from __future__ import annotations

from collections.abc import Callable

_hook: Callable[[str], None] | None = None


def install(hook: Callable[[str], None] | None) -> None:
    global _hook
    _hook = hook


def reached(point: str) -> None:
    if _hook is not None:
        _hook(point)
