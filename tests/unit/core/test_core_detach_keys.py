"""Detach keys as Docker reads them, and the watch over a client's typing."""

from __future__ import annotations

import pytest

from hatoba.model.detach_keys import DEFAULT, DetachWatch, parse


@pytest.mark.parametrize(
    ("keys", "codes"),
    [
        ("ctrl-p,ctrl-q", b"\x10\x11"),
        ("a,b", b"ab"),
        (
            "ctrl-@,ctrl-a,ctrl-z,ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_",
            bytes([0, 1, 26, 27, 28, 29, 30, 31]),
        ),
        ("ctrl-x,DEL", b"\x18\x7f"),
    ],
)
def test_keys_are_read_as_docker_reads_them(keys: str, codes: bytes) -> None:
    assert parse(keys) == codes


@pytest.mark.parametrize("keys", ["ctrl-", "ctrl-P", "shift-a", "ab", ""])
def test_unknown_keys_are_refused_with_dockers_words(keys: str) -> None:
    with pytest.raises(ValueError, match="Unknown character: '"):
        parse(keys)


def test_the_sequence_detaches_and_is_not_passed_on() -> None:
    watch = DetachWatch()
    assert watch.feed(b"ls\r") == (b"ls\r", False)
    assert watch.feed(b"\x10") == (b"", False)  # a sequence begun: held
    assert watch.feed(b"\x11rest") == (b"", True)


def test_a_broken_sequence_passes_its_keys_on() -> None:
    watch = DetachWatch()
    assert watch.feed(b"a\x10b") == (b"a\x10b", False)
    assert watch.feed(b"\x10") == (b"", False)
    assert watch.feed(b"\x10") == (b"\x10", False)  # the second one may begin it again
    assert watch.feed(b"\x11") == (b"", True)


def test_own_keys_and_the_default() -> None:
    assert DetachWatch(b"").keys == DEFAULT
    watch = DetachWatch(parse("ctrl-x,x"))
    assert watch.feed(b"\x10\x11") == (b"\x10\x11", False)
    assert watch.feed(b"\x18x") == (b"", True)
