"""Layers, content-addressed by diff id (sha256 of the uncompressed tar), extracted once.

    layers/<hex>/diff/       the extracted tree: an overlayfs lower directory, shared by images
    layers/<hex>/layer.tar   the tar as received, so `save` re-exports it byte for byte
    layers/<hex>/size        bytes of file content (what `images` reports)

A layer is staged in a work directory and appears with one rename, so a layer directory is
either complete or absent.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from hatoba.errors import InvalidArgument
from hatoba.images.extract import extract_layer
from hatoba.images.spool import Readable, spool

_DIFF = "diff"
_TAR = "layer.tar"
_SIZE = "size"


@dataclass(frozen=True)
class StagedLayer:
    diff_id: str
    staged: Path | None  # None: the store already has it


class LayerStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, diff_id: str) -> Path:
        return self.root / _hex(diff_id)

    def diff_dir(self, diff_id: str) -> Path:
        return self.path(diff_id) / _DIFF

    def tar_path(self, diff_id: str) -> Path:
        return self.path(diff_id) / _TAR

    def has(self, diff_id: str) -> bool:
        return self.path(diff_id).is_dir()

    def size(self, diff_id: str) -> int:
        return int((self.path(diff_id) / _SIZE).read_text())

    def all(self) -> set[str]:
        return {f"sha256:{p.name}" for p in self.root.iterdir()}

    def stage(
        self,
        blob: Readable,
        work: Path,
        *,
        name: str,
        diff_id: str | None = None,
        blob_digest: str | None = None,
        blob_size: int | None = None,
        known: Collection[str] = (),
    ) -> StagedLayer:
        """Read one layer blob (plain or compressed), check what the archive claims about it,
        and unpack it into `work` unless the store (or `known`, staged before) has it."""
        work.mkdir()
        tar = work / _TAR
        got = spool(blob, tar)
        if blob_digest is not None and got.raw_digest != blob_digest:
            raise InvalidArgument(
                f"invalid digest for {name}: expected {blob_digest}, got {got.raw_digest}"
            )
        if blob_size is not None and got.raw_size != blob_size:
            raise InvalidArgument(
                f"invalid size for {name}: expected {blob_size}, got {got.raw_size}"
            )
        if diff_id is not None and got.digest != diff_id:
            raise InvalidArgument(
                f'invalid diffID for {name}: expected "{diff_id}", got "{got.digest}"'
            )
        if got.digest in known or self.has(got.digest):
            shutil.rmtree(work)
            return StagedLayer(got.digest, None)
        size = extract_layer(tar, work / _DIFF)
        (work / _SIZE).write_text(str(size))
        return StagedLayer(got.digest, work)

    def commit(self, layer: StagedLayer) -> None:
        if layer.staged is None or self.has(layer.diff_id):
            return
        os.rename(layer.staged, self.path(layer.diff_id))

    def remove(self, diff_id: str, trash: Path) -> None:
        """Make the layer vanish with one rename, then delete it."""
        try:
            os.rename(self.path(diff_id), trash)
        except FileNotFoundError:
            return
        shutil.rmtree(trash)


def _hex(diff_id: str) -> str:
    return diff_id.removeprefix("sha256:")
