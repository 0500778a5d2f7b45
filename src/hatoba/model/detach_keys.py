"""Detach keys: the key sequence on an attached terminal's stdin that ends the attach and
leaves the container (or the exec's process) running. Docker's parsing (moby/term ToBytes)
and its default, ctrl-p,ctrl-q; Docker looks for them only when a terminal is attached."""

from __future__ import annotations

from hatoba.errors import InvalidArgument

DEFAULT = b"\x10\x11"  # ctrl-p,ctrl-q

# ctrl-@ is 0, ctrl-a 1, ..., ctrl-_ 31
_CONTROL = ["ctrl-@", *(f"ctrl-{c}" for c in "abcdefghijklmnopqrstuvwxyz"), "ctrl-["]
_CONTROL += ["ctrl-\\", "ctrl-]", "ctrl-^", "ctrl-_"]


def parse(keys: str) -> bytes:
    """`a,ctrl-b,DEL` → bytes; ValueError with Docker's words for a key it does not know."""
    codes = bytearray()
    for key in keys.split(","):
        if len(key) == 1:
            codes += key.encode()[:1]
        elif key in _CONTROL:
            codes.append(_CONTROL.index(key))
        elif key == "DEL":
            codes.append(127)
        else:
            raise ValueError(f"Unknown character: '{key}'")
    return bytes(codes)


def from_request(keys: str, word: str) -> bytes:
    """A request's keys (none: the default); Docker's 400 for keys it cannot read, which
    says `detach` for an attach and `escape` for an exec."""
    if not keys:
        return DEFAULT
    try:
        return parse(keys)
    except ValueError:
        raise InvalidArgument(f"Invalid {word} keys ({keys}) provided") from None


class DetachWatch:
    """Watches what a client types for the sequence: the bytes of a sequence begun are held
    until it completes (detach: they are not passed on) or breaks (they are passed on)."""

    def __init__(self, keys: bytes = DEFAULT) -> None:
        self.keys = keys or DEFAULT
        self.matched = 0

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """What to pass on, and whether the sequence is complete (then the rest is dropped,
        as the attach ends)."""
        out = bytearray()
        for byte in data:
            if byte != self.keys[self.matched] and self.matched:
                out += self.keys[: self.matched]
                self.matched = 0
            if byte == self.keys[self.matched]:
                self.matched += 1
                if self.matched == len(self.keys):
                    self.matched = 0
                    return bytes(out), True
            else:
                out.append(byte)
        return bytes(out), False
