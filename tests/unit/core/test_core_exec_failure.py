"""A process crun could not start, in Docker's words and with Docker's exit codes: the docker
CLI picks its own exit status (127, 126) from those words."""

from __future__ import annotations

import pytest

from hatoba.model.exec_failure import (
    RUNTIME_LINE,
    StartFailure,
    create_failed,
    exec_failed,
    start_failure,
)

NOT_IN_PATH = "executable file `{}` not found in $PATH: No such file or directory"


@pytest.mark.parametrize(
    ("executable", "crun", "expected"),
    [
        (
            "nosuch",
            NOT_IN_PATH.format("nosuch"),
            StartFailure('exec: "nosuch": executable file not found in $PATH', 127),
        ),
        (
            "/nosuch",
            NOT_IN_PATH.format("/nosuch"),
            StartFailure('exec: "/nosuch": stat /nosuch: no such file or directory', 127),
        ),
        (
            "/etc/passwd",
            "open executable: Permission denied",
            StartFailure('exec: "/etc/passwd": permission denied', 126),
        ),
        # a folder: Go's LookPath says permission denied
        (
            "/etc",
            "open executable: Operation not permitted",
            StartFailure('exec: "/etc": permission denied', 126),
        ),
        # a script whose interpreter is missing
        (
            "/s",
            "exec: No such file or directory",
            StartFailure("exec /s: no such file or directory", 127),
        ),
        ("sh", "mount `/proc`: Operation not permitted", None),
    ],
)
def test_crun_reasons_in_dockers_words(
    executable: str, crun: str, expected: StartFailure | None
) -> None:
    assert start_failure(executable, crun) == expected


def test_the_whole_texts_are_dockers_without_runcs_source_line() -> None:
    failure = start_failure("nosuch", NOT_IN_PATH.format("nosuch"))
    assert failure is not None
    assert create_failed(failure) == (
        'OCI runtime create failed: starting container process caused: exec: "nosuch": '
        "executable file not found in $PATH: unknown"
    )
    assert exec_failed(failure.reason) == (
        'OCI runtime exec failed: exec failed: starting container process caused: exec: "nosuch": '
        "executable file not found in $PATH: unknown"
    )


@pytest.mark.parametrize(
    ("first_output", "held"),
    [
        (NOT_IN_PATH.format("x").encode() + b"\n", True),
        (b"open executable: Permission denied\n", True),
        # on a terminal: red, with a timestamp
        (
            b"\x1b[1;31m2026-12-06T21:25:33.347208Z: "
            + NOT_IN_PATH.format("x").encode()
            + b"\x1b[0m\r\n",
            True,
        ),
        (b"hello\n", False),
        (b"exec: one line\nand another\n", False),
    ],
)
def test_what_may_be_crun_s_line_on_a_shared_stream(first_output: bytes, held: bool) -> None:
    assert bool(RUNTIME_LINE.match(first_output)) is held
