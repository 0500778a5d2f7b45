"""Writing `docker save` archives in Docker 20.10's layout, which Docker's `load` and ours read:

    <chain id hex>/VERSION, json, layer.tar   one directory per layer (shared ones written once)
    <image id hex>.json                       the config, verbatim: same bytes, same image id
    manifest.json                             [{"Config", "RepoTags", "Layers"}]
    repositories                              {"name": {"tag": "<top layer directory>"}}

The layer tars are the ones received, so their diff ids match the config. Entries carry the
image's creation time, so saving the same images twice gives the same bytes.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from hatoba.images.archive import MANIFEST_JSON
from hatoba.images.config import canonical_json
from hatoba.images.reference import Reference


@dataclass(frozen=True)
class SavedImage:
    id: str
    config: bytes
    tags: tuple[Reference, ...]
    diff_ids: tuple[str, ...]
    layer_tars: tuple[Path, ...]
    mtime: int


def chain_ids(diff_ids: Sequence[str]) -> list[str]:
    """Docker's ChainID: the first diff id, then sha256("<parent chain> <diff id>")."""
    chain: list[str] = []
    for diff_id in diff_ids:
        if chain:
            diff_id = "sha256:" + hashlib.sha256(f"{chain[-1]} {diff_id}".encode()).hexdigest()
        chain.append(diff_id)
    return chain


def write_save_archive(images: Sequence[SavedImage], out: BinaryIO) -> None:
    manifest: list[dict[str, Any]] = []
    repositories: dict[str, dict[str, str]] = {}
    written: set[str] = set()
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tf:
        for image in images:
            layers = []
            parent = ""
            for chain_id, tar in zip(chain_ids(image.diff_ids), image.layer_tars, strict=True):
                directory = chain_id.removeprefix("sha256:")
                if directory not in written:
                    written.add(directory)
                    _layer_dir(tf, directory, parent, tar, image.mtime)
                layers.append(f"{directory}/layer.tar")
                parent = directory
            config_name = image.id.removeprefix("sha256:") + ".json"
            _add_bytes(tf, config_name, image.config, image.mtime)
            manifest.append(
                {
                    "Config": config_name,
                    "RepoTags": [str(t) for t in image.tags] or None,
                    "Layers": layers,
                }
            )
            for tag in image.tags:
                if parent:
                    repositories.setdefault(tag.name, {})[tag.tag] = parent
        mtime = max((image.mtime for image in images), default=0)
        _add_bytes(tf, MANIFEST_JSON, canonical_json(manifest) + b"\n", mtime)
        if repositories:
            _add_bytes(tf, "repositories", canonical_json(repositories) + b"\n", mtime)


def _layer_dir(tf: tarfile.TarFile, directory: str, parent: str, tar: Path, mtime: int) -> None:
    entry = tarfile.TarInfo(directory)
    entry.type = tarfile.DIRTYPE
    entry.mode = 0o755
    entry.mtime = mtime
    tf.addfile(entry)
    _add_bytes(tf, f"{directory}/VERSION", b"1.0", mtime)
    legacy = {"id": directory, **({"parent": parent} if parent else {}), "os": "linux"}
    _add_bytes(tf, f"{directory}/json", json.dumps(legacy).encode(), mtime)
    entry = tarfile.TarInfo(f"{directory}/layer.tar")
    entry.size = tar.stat().st_size
    entry.mode = 0o644
    entry.mtime = mtime
    with tar.open("rb") as f:
        tf.addfile(entry, f)


def _add_bytes(tf: tarfile.TarFile, name: str, data: bytes, mtime: int) -> None:
    entry = tarfile.TarInfo(name)
    entry.size = len(data)
    entry.mode = 0o644
    entry.mtime = mtime
    tf.addfile(entry, io.BytesIO(data))
