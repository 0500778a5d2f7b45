"""The caller's terminal: raw mode while attached to a container's TTY, and its size."""

from __future__ import annotations

import os
import termios
import tty

TYPE_CHECKING = False  # `typing` costs ~4 ms of start-up; mypy treats this name as True
if TYPE_CHECKING:
    from typing import Any


def make_raw(fd: int) -> list[Any] | None:
    """Switch the terminal to raw mode; returns what `restore` needs (None if not a terminal)."""
    try:
        saved: list[Any] = termios.tcgetattr(fd)
    except termios.error:
        return None
    tty.setraw(fd, termios.TCSANOW)
    return saved


def restore(fd: int, saved: list[Any] | None) -> None:
    if saved is not None:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def size(fd: int) -> tuple[int, int] | None:
    """(rows, columns), or None when fd is not a terminal."""
    try:
        columns, lines = os.get_terminal_size(fd)
    except OSError:
        return None
    return lines, columns
