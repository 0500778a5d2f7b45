"""What the API's async machinery needs from the runtime and the image store, matched by shape."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, Protocol

from hatoba.model.launch import ProcessSpec


class ContainerIO(Protocol):
    def attach_socket(self, container_id: str) -> Path: ...
    def log_path(self, container_id: str) -> Path: ...
    def file_path(self, container_id: str, container_path: str) -> Path: ...
    def exec_argv(
        self,
        container_id: str,
        process: ProcessSpec,
        process_file: Path,
        console_socket: str | None,
        pid_file: str | None = None,
    ) -> list[str]: ...


class ImageCatalog(Protocol):
    """The image store in Docker API shapes, safe to call from several threads (see
    api/routes_images.py for which call runs where)."""

    def upload_file(self) -> IO[bytes]: ...
    def count(self) -> int: ...
    def summaries(self, filters: Mapping[str, Sequence[str]]) -> list[dict[str, Any]]: ...
    def inspect(self, reference: str) -> dict[str, Any]: ...
    def import_rootfs(
        self, body: IO[bytes], repo: str, tag: str, changes: Sequence[str], message: str
    ) -> str: ...
    def load(self, body: IO[bytes]) -> list[str]: ...
    # a finished `docker save` archive in an unlinked temporary file, at offset 0
    def save(self, references: Sequence[str]) -> IO[bytes]: ...
    def tag(self, source: str, repo: str, tag: str) -> None: ...
    def remove(
        self,
        reference: str,
        force: bool,
        in_use: Callable[[str], list[str]],
        is_running: Callable[[str], bool],
    ) -> list[dict[str, str]]: ...
