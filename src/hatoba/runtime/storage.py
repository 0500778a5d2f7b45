"""Volumes of the local driver and bind sources on the host.

    <root>/volumes/<name>/          the volume's folder (root's alone, as the state root)
    <root>/volumes/<name>/_data/    its files, bound into containers (0755, as Docker makes it)

A bind source is resolved (symbolic links followed) before it is checked and again when the
container starts, and what it resolves to is what gets mounted: a source inside hatoba's state
or run root is refused, so that no container reaches the API socket, the database or another
container's files. A source that holds a root (`/`, `/var`) is allowed; the root is masked
inside the mount and the mount is a slave of the host's, as Docker makes a bind that holds its
root, so that unmounts on the host (namespace handles) reach it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hatoba.errors import InvalidArgument, KernelError

_DATA = "_data"


@dataclass(frozen=True)
class BindSource:
    """A bind source as the runtime mounts it."""

    path: str
    # where hatoba's roots are inside the mount, relative to it ("" when the mount is a root)
    roots_inside: tuple[str, ...] = ()


class VolumeStorage:
    """Matches `hatoba.engine.ports.Storage`."""

    def __init__(self, root: Path, run_root: Path) -> None:
        self._volumes = root / "volumes"
        self._volumes.mkdir(parents=True, exist_ok=True)
        self._roots = roots_of(root, run_root)

    def volume_path(self, name: str) -> str:
        return str(self._volumes / name / _DATA)

    def create_volume(self, name: str) -> None:
        folder = self._volumes / name
        folder.mkdir(mode=0o700, exist_ok=True)
        data = folder / _DATA
        data.mkdir(exist_ok=True)
        data.chmod(0o755)  # containers' users walk it (the service's umask is 077)

    def remove_volume(self, name: str) -> None:
        # rmtree does not follow the links a container may have left in the volume
        shutil.rmtree(self._volumes / name, ignore_errors=True)

    def volume_names(self) -> set[str]:
        return {e.name for e in os.scandir(self._volumes) if e.is_dir(follow_symlinks=False)}

    def volume_size(self, name: str) -> int:
        return tree_size(self._volumes / name / _DATA)

    def check_bind_source(self, path: str, *, must_exist: bool) -> bool:
        return bool(resolve_bind_source(path, self._roots, must_exist=must_exist).roots_inside)


def roots_of(root: Path, run_root: Path) -> tuple[str, ...]:
    return tuple(str(p.resolve()) for p in (root, run_root))


def resolve_bind_source(
    path: str, roots: Sequence[str], *, must_exist: bool, create: bool = False
) -> BindSource:
    """`path` with its links followed; refused inside a root, missing when `must_exist`
    (Docker's text); made (0755) when missing and `create` (a `-v` source at start)."""
    resolved = os.path.realpath(path)
    for root in roots:
        if resolved == root or resolved.startswith(root.rstrip("/") + "/"):
            raise InvalidArgument(
                f'invalid mount config for type "bind": bind source path {path} is inside '
                f"hatoba's root {root}, which containers may not reach"
            )
    if not os.path.lexists(resolved):
        if must_exist:
            raise InvalidArgument(
                f'invalid mount config for type "bind": bind source path does not exist: {path}'
            )
        if create:
            try:
                os.makedirs(resolved, mode=0o755)
                os.chmod(resolved, 0o755)
            except OSError as exc:
                reason = f"error while creating mount source path '{path}': {exc}"
                raise KernelError(reason) from exc
    inside = tuple(
        os.path.relpath(root, resolved)
        for root in roots
        if resolved == "/" or root.startswith(resolved.rstrip("/") + "/")
    )
    return BindSource(resolved, inside)


def tree_size(path: Path) -> int:
    """Bytes of file content below `path`, each inode counted once, no link followed."""
    seen: set[tuple[int, int]] = set()
    total = 0
    stack = [str(path)]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)
            elif (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
    return total
