"""What the API's async machinery needs from the runtime, matched by shape."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol


class ContainerIO(Protocol):
    def attach_socket(self, container_id: str) -> Path: ...
    def log_path(self, container_id: str) -> Path: ...
    def exec_argv(
        self,
        container_id: str,
        argv: Sequence[str],
        env: Sequence[str],
        cwd: str,
        tty: bool,
        console_socket: str | None,
    ) -> list[str]: ...
