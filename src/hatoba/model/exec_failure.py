"""Docker's words and exit codes for a process the runtime could not start, the container's
own or an exec's: Docker 20.10's translateContainerdStartErr over runc's texts, read from
crun's (127: no such executable, 126: it cannot be run).

The docker CLI picks its own exit status from these words (`executable file not found`, `no
such file or directory`, `permission denied`), so they are Docker's exactly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

NOT_FOUND = 127
CANNOT_RUN = 126
# what an exec that failed for another reason exits with (Docker's before it looked closer)
EXEC_FAILED = 126

_NOT_IN_PATH = re.compile(r"^executable file `.*` not found in \$PATH")
# crun's texts when the file is there but no process could be made of it
_CANNOT_RUN = ("open executable: Permission denied", "open executable: Operation not permitted")
_NO_INTERPRETER = "exec: No such file or directory"
_DENIED = "exec: Permission denied"
# crun's texts as they start an exec's stderr, written before any process of the user runs
# (on a terminal in red, after a timestamp)
RUNTIME_LINE = re.compile(
    rb"^(?:\x1b\[1;31m)?(?:\d{4}-\d\d-\d\dT\S+: )?"
    rb"(?:executable file `.*` not found in \$PATH: .*|open executable: .*|exec: .*?)"
    rb"(?:\x1b\[0m)?\r?\n$"
)


@dataclass(frozen=True)
class StartFailure:
    reason: str  # Docker's words, after "starting container process caused: "
    exit_code: int


def start_failure(executable: str, runtime_message: str) -> StartFailure | None:
    """What Docker says when `executable` could not be started and crun said
    `runtime_message`; None when crun's reason is not about the executable."""
    message = runtime_message.strip()
    if _NOT_IN_PATH.match(message):
        if "/" in executable:
            missing = f"stat {executable}: no such file or directory"
            return StartFailure(f'exec: "{executable}": {missing}', NOT_FOUND)
        return StartFailure(f'exec: "{executable}": executable file not found in $PATH', NOT_FOUND)
    if message == _NO_INTERPRETER:
        return StartFailure(f"exec {executable}: no such file or directory", NOT_FOUND)
    if message in _CANNOT_RUN or message == _DENIED:
        return StartFailure(f'exec: "{executable}": permission denied', CANNOT_RUN)
    return None


def create_failed(failure: StartFailure) -> str:
    """A container's start (Docker's `OCI runtime create failed`)."""
    return (
        f"OCI runtime create failed: starting container process caused: {failure.reason}: unknown"
    )


def exec_failed(reason: str) -> str:
    """An exec's start, as Docker writes it into the exec's stream."""
    caused = f"starting container process caused: {reason}: unknown"
    return f"OCI runtime exec failed: exec failed: {caused}"
