"""The image store: import, load, save, list, tag, remove and inspect images kept on disk.

    <root>/images/index.json      the one mutable record (images, tags, tag times, retained
                                  images); replaced atomically, so every change is one rename
    <root>/images/configs/<hex>   config bytes exactly as received or written: id = sha256
    <root>/images/layers/<hex>/   one per diff id, shared by images (see layers.py)
    <root>/images/tmp/            staging; whatever is left there is a crashed operation

An operation stages everything under tmp/ and checks it before anything becomes visible: new
layers and configs are renamed into place, then index.json is replaced. A crash before that
last step leaves only files no index entry names, which `recover()` deletes.

An image removed with force while stopped containers still use it leaves the list but stays
"retained" (config and layers kept) until no container uses it, so those containers can start
again, as with Docker.

Threads: every step that reads or changes the index holds one lock, briefly; the long parts
(staging an import or a load, writing a save archive, deleting removed layers) run outside it,
so an import on one thread does not hold up a container creation resolving an image on
another. Images being saved are pinned: removing one meanwhile keeps its files until the
archive is written.
"""

from __future__ import annotations

import builtins
import contextlib
import itertools
import json
import os
import shutil
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from hatoba.errors import Conflict, InvalidArgument, NotFound, StoreError
from hatoba.images import docker_json
from hatoba.images.archive import Archive, read_images
from hatoba.images.changes import apply_changes
from hatoba.images.config import (
    ImageConfig,
    canonical_json,
    commit_config,
    digest_of,
    go_container_config,
    import_config,
    merge_config,
    parse_config,
    unix_seconds,
)
from hatoba.images.layers import LayerStore, StagedLayer
from hatoba.images.reference import Reference, is_hex64, parse_reference, split_tag
from hatoba.images.save import SavedImage, chain_ids, write_save_archive
from hatoba.images.spool import Readable, spool
from hatoba.images.tarutil import open_tar
from hatoba.model.ids import SHORT_LEN, ZERO_TIME, looks_like_id_prefix, now_rfc3339

__all__ = ["Image", "ImageConfig", "ImageStore"]

_DEFAULT_COMMENT = "Imported from -"
_Target = tuple[str, Reference | None]  # an image to save, with the tag to save it under


@dataclass(frozen=True)
class Image:
    id: str  # "sha256:<64 hex>"
    repo_tags: tuple[str, ...]
    created: str  # RFC 3339
    config: ImageConfig
    diff_ids: tuple[str, ...]
    size: int
    architecture: str = ""
    os: str = "linux"


@dataclass
class _Index:
    images: dict[str, str] = field(default_factory=dict)  # id → last tag time
    tags: dict[str, str] = field(default_factory=dict)  # "name:tag" → id
    retained: list[str] = field(default_factory=list)

    def tags_of(self, image_id: str) -> list[str]:
        return sorted(t for t, i in self.tags.items() if i == image_id)

    def set_tag(self, ref: Reference, image_id: str) -> None:
        self.tags[str(ref)] = image_id
        self.images[image_id] = now_rfc3339()


@dataclass(frozen=True)
class _Staged:
    image_id: str
    config: bytes
    tags: tuple[Reference, ...]


class ImageStore:
    def __init__(self, root: Path) -> None:
        self._root = root / "images"
        self._configs = self._root / "configs"
        self._tmp = self._root / "tmp"
        self._index_path = self._root / "index.json"
        self._layers = LayerStore(self._root / "layers")
        for path in (self._configs, self._layers.root, self._tmp):
            path.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._pinned: Counter[str] = Counter()

    @property
    def staging(self) -> Path:
        """Where temporary files belong: on the store's file system, emptied by `recover()`."""
        return self._tmp

    # --- lifecycle -----------------------------------------------------------------------

    def recover(self) -> None:
        """Delete what a crashed operation left: staging files and unreferenced configs/layers."""
        with self._lock:
            for leftover in self._tmp.iterdir():
                _delete(leftover)
            self._collect(self._read_index(), at_once=True)

    # --- adding images -------------------------------------------------------------------

    def import_rootfs(
        self,
        stream: Readable,
        reference: str | None,
        changes: Sequence[str] = (),
        message: str = "",
    ) -> Image:
        """`docker import`: one root file system tarball (plain or compressed) as a new image."""
        tags = (parse_reference(reference),) if reference else ()
        container = apply_changes(go_container_config({}), changes)
        with self._work() as work:
            layer = self._layers.stage(stream, work / "layer", name="the imported archive")
            comment = message or _DEFAULT_COMMENT
            config = import_config(container, layer.diff_id, now_rfc3339(), comment)
            staged = _Staged(digest_of(config), config, tags)
            with self._lock:
                self._commit([layer], [staged])
                return self._image(staged.image_id, self._read_index())

    def commit(
        self,
        layer: Readable | None,
        parent_id: str,
        container: Mapping[str, Any],
        container_id: str,
        request_config: Mapping[str, Any] | None = None,
        changes: Sequence[str] = (),
        reference: str | None = None,
        author: str = "",
        comment: str = "",
    ) -> Image:
        """`docker commit`: the parent image with one more layer (`layer`, a layer tar; None
        when the container changed nothing). `container` is the container's own settings
        (Go-shaped); with the parent's config under them they are the container's config,
        the new image's unless the request brings one; the `changes` go on top."""
        tags = (parse_reference(reference),) if reference else ()
        with self._lock:
            parent = parse_config(self._config_bytes(parent_id)).raw
        full = merge_config(container, parent.get("config") or {})
        asked = go_container_config(request_config) if request_config else full
        config = merge_config(apply_changes(asked, changes), full)
        with self._work() as work:
            layers = []
            if layer is not None:
                layers.append(
                    self._layers.stage(layer, work / "layer", name="the container's layer")
                )
            doc = commit_config(
                parent,
                layers[0].diff_id if layers else None,
                config,
                full,
                container_id,
                now_rfc3339(),
                author,
                comment,
            )
            staged = _Staged(digest_of(doc), doc, tags)
            with self._lock:
                self._commit(layers, [staged])
                return self._image(staged.image_id, self._read_index())

    def load(self, stream: Readable) -> list[str]:
        """`docker load`: a docker save archive or an OCI image layout, plain or compressed.
        Returns the lines Docker prints."""
        with self._work() as work:
            plain = work / "archive.tar"
            spool(stream, plain)
            layers: dict[str, StagedLayer] = {}
            staged: list[_Staged] = []
            names = (work / f"layer-{n}" for n in itertools.count())
            with open_tar(plain, "image archive") as tf:
                archive = Archive(tf, plain)
                for image in read_images(archive):
                    diff_ids = parse_config(image.config).diff_ids
                    if len(diff_ids) != len(image.layers):
                        raise InvalidArgument(
                            "invalid manifest, layers length mismatch:"
                            f" expected {len(image.layers)}, got {len(diff_ids)}"
                        )
                    for n, (blob, diff_id) in enumerate(zip(image.layers, diff_ids, strict=True)):
                        with archive.open(blob.path) as data:
                            layer = self._layers.stage(
                                data,
                                next(names),
                                name=f"layer {n}",
                                diff_id=diff_id,
                                blob_digest=blob.digest,
                                blob_size=blob.size,
                                known=layers,
                            )
                        layers.setdefault(layer.diff_id, layer)
                    staged.append(_Staged(digest_of(image.config), image.config, image.tags))
            with self._lock:
                before = self._read_index().tags
                self._commit(layers.values(), staged)
        return _load_lines(staged, before)

    # --- reading -------------------------------------------------------------------------

    def list(self) -> list[Image]:
        with self._lock:
            index = self._read_index()
            images = [self._image(image_id, index) for image_id in index.images]
        return sorted(images, key=lambda i: (unix_seconds(i.created), i.id), reverse=True)

    def count(self) -> int:
        """Safe beside a writer: one read of the index, which is replaced atomically."""
        return len(self._read_index().images)

    def resolve(self, reference: str) -> Image:
        """By `name[:tag]` (tag `latest` by default), full id or unique id prefix."""
        with self._lock:
            index = self._read_index()
            return self._image(self._find(reference, index), index)

    def get(self, image_id: str) -> Image:
        """By full id, including an image removed with force but still used by containers."""
        with self._lock:
            index = self._read_index()
            if image_id not in index.images and image_id not in index.retained:
                raise NotFound(f"No such image: {image_id}")
            return self._image(image_id, index)

    def inspect(self, reference: str) -> dict[str, Any]:
        with self._lock:
            index = self._read_index()
            image = self._image(self._find(reference, index), index)
            raw = parse_config(self._config_bytes(image.id)).raw
        return docker_json.inspect(image, raw, index.images[image.id], self.layer_dirs(image))

    def layer_dirs(self, image: Image) -> builtins.list[Path]:
        """The extracted layers, lowest first (reverse them for overlayfs `lowerdir=`).

        A layer repeated in an image (the empty layer often is) is listed once, at its
        highest position: overlayfs refuses a lower directory given twice, and the lower copy
        adds nothing that the identical copy above it does not already show or hide."""
        highest_first = dict.fromkeys(reversed(image.diff_ids))
        return [self._layers.diff_dir(d) for d in reversed(highest_first)]

    # --- naming and removing -------------------------------------------------------------

    def tag(self, source: str, target: str) -> None:
        ref = parse_reference(target)
        with self._lock:
            index = self._read_index()
            index.set_tag(ref, self._find(source, index))
            self._write_index(index)

    def remove(
        self,
        reference: str,
        force: bool,
        in_use: Callable[[str], builtins.list[str]],
        is_running: Callable[[str], bool] | None = None,
    ) -> builtins.list[dict[str, str]]:
        """`docker rmi`, with Docker's untag-or-delete rules and conflict messages.

        `in_use(image_id)` lists the containers created from the image; `is_running(container_id)`
        tells the running ones apart (those block removal even with force)."""
        with self._lock:
            return self._remove(reference, force, in_use, is_running)

    def _remove(
        self,
        reference: str,
        force: bool,
        in_use: Callable[[str], builtins.list[str]],
        is_running: Callable[[str], bool] | None,
    ) -> builtins.list[dict[str, str]]:
        index = self._read_index()
        image_id = self._find(reference, index)
        users = _Users(image_id, in_use, is_running or (lambda _c: False))
        records: list[dict[str, str]] = []
        refs = index.tags_of(image_id)
        untagged_last = False
        if not _is_id_prefix(image_id, reference):
            ref = str(parse_reference(reference))
            if not force and len(refs) == 1 and users.all:
                raise Conflict(
                    f'conflict: unable to remove repository reference "{reference}" (must force)'
                    f" - container {_short(users.all[0])} is using its referenced image"
                    f" {_short(image_id)}"
                )
            del index.tags[ref]
            records.append({"Untagged": ref})
            if len(refs) > 1:
                self._write_index(index)
                return records
            untagged_last = True
        elif len(refs) == 1:
            users.check(force, referenced=False)
            del index.tags[refs[0]]
            records.append({"Untagged": refs[0]})
        try:
            users.check(force, referenced=bool(index.tags_of(image_id)))
        except Conflict:
            if not untagged_last:
                raise
            # Docker keeps the now untagged image quietly when containers still use it
            self._write_index(index)
            return records
        for ref in index.tags_of(image_id):
            del index.tags[ref]
            records.append({"Untagged": ref})
        del index.images[image_id]
        if users.all:
            index.retained.append(image_id)
        index.retained = [i for i in index.retained if i == image_id or in_use(i)]
        self._write_index(index)
        records.append({"Deleted": image_id})
        diff_ids = parse_config(self._config_bytes(image_id)).diff_ids
        removed = self._collect(index)
        records.extend(
            {"Deleted": chain}
            for diff_id, chain in reversed(list(zip(diff_ids, chain_ids(diff_ids), strict=True)))
            if diff_id in removed
        )
        return records

    def prune(
        self, matches: Callable[[Image], bool], in_use: Callable[[str], builtins.list[str]]
    ) -> tuple[builtins.list[dict[str, str]], int]:
        """Remove the images no container uses that `matches` picks: Docker's records of
        what was untagged and deleted, and the bytes of layers deleted."""
        with self._lock:
            index = self._read_index()
            before = {d: self._layers.size(d) for d in self._layers.all()}
            records: list[dict[str, str]] = []
            for image_id in list(index.images):
                image = self._image(image_id, index)
                if in_use(image_id) or not matches(image):
                    continue
                records += self._remove(image_id, True, in_use, None)
                index = self._read_index()
            left = self._layers.all()
        return records, sum(size for d, size in before.items() if d not in left)

    def usage(self) -> tuple[int, builtins.list[tuple[Image, int]]]:
        """`system df`: bytes of every layer the store holds, and each image with the bytes
        of its layers that other images share."""
        images = self.list()
        users = Counter(d for image in images for d in set(image.diff_ids))
        with self._lock:
            total = sum(self._layers.size(d) for d in self._layers.all())
            shared = [
                (i, sum(self._layers.size(d) for d in set(i.diff_ids) if users[d] > 1))
                for i in images
            ]
        return total, shared

    def release(self, image_id: str) -> None:
        """The last container of `image_id` is gone: delete the image if only containers kept
        it (removed with force while they existed), as Docker frees its layers then."""
        with self._lock:
            index = self._read_index()
            if image_id not in index.retained:
                return
            index.retained.remove(image_id)
            self._write_index(index)
            self._collect(index)

    # --- export --------------------------------------------------------------------------

    def save(self, references: Sequence[str], out: BinaryIO) -> None:
        """`docker save`: every reference is resolved before anything is written to `out`."""
        with self._lock:
            images = self._saved_images(references)
            self._pinned.update(i.id for i in images)
        try:
            write_save_archive(images, out)
        finally:
            with self._lock:
                self._pinned.subtract(i.id for i in images)
                self._pinned = +self._pinned  # drop ids no save holds any more
                self._collect(self._read_index())

    def _saved_images(self, references: Sequence[str]) -> builtins.list[SavedImage]:
        index = self._read_index()
        chosen: dict[str, list[Reference]] = {}
        for text in references:
            for image_id, ref in self._save_targets(text, index):
                tags = chosen.setdefault(image_id, [])
                if ref is not None and ref not in tags:
                    tags.append(ref)
        images = []
        for image_id, tags in chosen.items():
            image = self._image(image_id, index)
            images.append(
                SavedImage(
                    id=image_id,
                    config=self._config_bytes(image_id),
                    tags=tuple(tags),
                    diff_ids=image.diff_ids,
                    layer_tars=tuple(self._layers.tar_path(d) for d in image.diff_ids),
                    mtime=max(unix_seconds(image.created), 0),
                )
            )
        return images

    def _save_targets(self, text: str, index: _Index) -> builtins.list[_Target]:
        """Docker's rules: a bare name saves every tag of that repository."""
        tag = split_tag(text)[1]
        if tag is None and not text.startswith("sha256:") and not is_hex64(text):
            repo = parse_reference(text).name
            tagged = [(i, parse_reference(t)) for t, i in sorted(index.tags.items())]
            matching: list[_Target] = [(i, r) for i, r in tagged if r.name == repo]
            if matching:
                return matching
        image_id = self._find(text, index)
        if _is_id_prefix(image_id, text):
            return [(image_id, None)]
        return [(image_id, parse_reference(text))]

    # --- internals -----------------------------------------------------------------------

    def _find(self, text: str, index: _Index) -> str:
        if text.startswith("sha256:") or is_hex64(text):
            found = self._search(text.removeprefix("sha256:"), index)
            if found is None:
                raise NotFound(f"No such image: {text}")
            return found
        try:
            ref: Reference | None = parse_reference(text)
        except InvalidArgument:
            ref = None
        if ref is not None and index.tags.get(str(ref)) in index.images:
            return index.tags[str(ref)]
        found = self._search(text, index) if looks_like_id_prefix(text) else None
        if found is None:
            raise NotFound(f"No such image: {ref or text}")
        return found

    @staticmethod
    def _search(prefix: str, index: _Index) -> str | None:
        matches = [i for i in index.images if i.removeprefix("sha256:").startswith(prefix)]
        return matches[0] if prefix and len(matches) == 1 else None

    def _image(self, image_id: str, index: _Index) -> Image:
        parsed = parse_config(self._config_bytes(image_id))
        return Image(
            id=image_id,
            repo_tags=tuple(index.tags_of(image_id)),
            created=parsed.created,
            config=parsed.config,
            diff_ids=parsed.diff_ids,
            size=sum(self._layers.size(d) for d in parsed.diff_ids),
            architecture=parsed.architecture,
            os=parsed.os,
        )

    def _config_path(self, image_id: str) -> Path:
        return self._configs / image_id.removeprefix("sha256:")

    def _config_bytes(self, image_id: str) -> bytes:
        try:
            return self._config_path(image_id).read_bytes()
        except FileNotFoundError:
            raise StoreError(f"image store damaged: config of {image_id} is missing") from None

    def _commit(self, layers: Iterable[StagedLayer], images: Sequence[_Staged]) -> None:
        """Make staged layers and images visible; index.json last, as the commit point."""
        for layer in layers:
            self._layers.commit(layer)
        for image in images:
            if not self._config_path(image.image_id).exists():
                self._write_file(self._config_path(image.image_id), image.config)
        index = self._read_index()
        for image in images:
            index.images.setdefault(image.image_id, ZERO_TIME)
            if image.image_id in index.retained:
                index.retained.remove(image.image_id)
            for ref in image.tags:
                index.set_tag(ref, image.image_id)
        self._write_index(index)

    def _collect(self, index: _Index, at_once: bool = False) -> set[str]:
        """Delete configs and layers no live, retained or pinned image uses; returns removed diff
        ids. Layers leave the store at once (a rename); unless `at_once`, their files are deleted
        on a thread of their own: a big image's take seconds, which the caller must not wait
        for."""
        keep = set(index.images) | set(index.retained) | set(self._pinned)
        for path in self._configs.iterdir():
            if f"sha256:{path.name}" not in keep:
                path.unlink()
        used = {d for i in keep for d in parse_config(self._config_bytes(i)).diff_ids}
        removed = self._layers.all() - used
        if removed:
            trash = Path(tempfile.mkdtemp(dir=self._tmp))
            for diff_id in removed:
                self._layers.remove(diff_id, trash / diff_id.removeprefix("sha256:"))
            if at_once:
                _delete(trash)
            else:
                # what a crash leaves in the staging folder, recover() deletes at the next start
                threading.Thread(target=_delete, args=(trash,), name="hatoba-image-trash").start()
        return removed

    def _read_index(self) -> _Index:
        try:
            doc = json.loads(self._index_path.read_bytes())
        except FileNotFoundError:
            return _Index()
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise StoreError(f"image store damaged: {self._index_path}: {e}") from None
        return _Index(
            images=dict(doc.get("images", {})),
            tags=dict(doc.get("tags", {})),
            retained=list(doc.get("retained", [])),
        )

    def _write_index(self, index: _Index) -> None:
        doc = {"images": index.images, "tags": index.tags, "retained": index.retained}
        self._write_file(self._index_path, canonical_json(doc))

    def _write_file(self, path: Path, data: bytes) -> None:
        """Write-then-rename, flushed to disk, so a reader sees the old or the new file."""
        fd, tmp = tempfile.mkstemp(dir=self._tmp)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    @contextlib.contextmanager
    def _work(self) -> Iterator[Path]:
        work = Path(tempfile.mkdtemp(dir=self._tmp))
        try:
            yield work
        finally:
            _delete(work)


class _Users:
    """The containers of one image, asked for once, and Docker's delete-conflict rules."""

    def __init__(
        self, image_id: str, in_use: Callable[[str], list[str]], running: Callable[[str], bool]
    ) -> None:
        self.image_id = image_id
        self.all = list(in_use(image_id))
        self._running = running

    def check(self, force: bool, referenced: bool) -> None:
        """Running containers block even with force; other tags and stopped containers without."""
        running = [c for c in self.all if self._running(c)]
        if running:
            raise self._conflict(
                "cannot be forced", f"being used by running container {_short(running[0])}"
            )
        if force:
            return
        if referenced:
            raise self._conflict("must be forced", "referenced in multiple repositories")
        if self.all:
            raise self._conflict(
                "must be forced", f"being used by stopped container {_short(self.all[0])}"
            )

    def _conflict(self, forced: str, why: str) -> Conflict:
        return Conflict(
            f"conflict: unable to delete {_short(self.image_id)} ({forced}) - image is {why}"
        )


def _load_lines(staged: Sequence[_Staged], before: dict[str, str]) -> list[str]:
    lines = []
    for image in staged:
        for ref in image.tags:
            previous = before.get(str(ref))
            if previous is not None and previous != image.image_id:
                lines.append(
                    f"The image {ref} already exists, renaming the old one with ID {previous}"
                    " to empty string"
                )
            lines.append(f"Loaded image: {ref}")
        if not image.tags:
            lines.append(f"Loaded image ID: {image.image_id}")
    return lines


def _is_id_prefix(image_id: str, text: str) -> bool:
    hex_part = text.removeprefix("sha256:")
    return bool(hex_part) and image_id.removeprefix("sha256:").startswith(hex_part)


def _short(full_id: str) -> str:
    return full_id.removeprefix("sha256:")[:SHORT_LEN]


def _delete(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
