"""Signal names as Docker accepts them: `KILL`, `SIGKILL`, `9`."""

from __future__ import annotations

import signal

from hatoba.errors import InvalidArgument

# the kernel's signals are 1 to 64 (SIGRTMAX); Docker refuses any other number
_NUMBERS = range(1, 65)


def signal_number(name: str | int) -> int:
    if isinstance(name, int):
        number = name
    else:
        text = name.strip().upper()
        if text.isascii() and text.isdecimal():
            number = int(text)
        else:
            try:
                number = int(signal.Signals[text if text.startswith("SIG") else "SIG" + text])
            except KeyError:
                raise InvalidArgument(f"Invalid signal: {name}") from None
    if number not in _NUMBERS:
        raise InvalidArgument(f"Invalid signal: {name}")
    return number
