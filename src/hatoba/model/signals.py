"""Signal names as Docker accepts them: `KILL`, `SIGKILL`, `9`."""

from __future__ import annotations

import signal

from hatoba.errors import InvalidArgument


def signal_number(name: str | int) -> int:
    if isinstance(name, int):
        return name
    text = name.strip().upper()
    if text.isdigit():
        return int(text)
    if not text.startswith("SIG"):
        text = "SIG" + text
    try:
        return int(signal.Signals[text])
    except KeyError:
        raise InvalidArgument(f"Invalid signal: {name}") from None
