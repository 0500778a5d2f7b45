"""The archives `load` reads, parsed into what to load, with every claimed digest checked.

- `docker save` archives: manifest.json naming each image's config and layer tars, in the
  legacy layout (`<id>.json`, `<v1 id>/layer.tar`) or the newer one (`blobs/sha256/<hex>`).
- OCI image layouts: oci-layout, index.json and blobs/sha256/…, with nested indexes resolved to
  this host's platform and tags from the `io.containerd.image.name` or
  `org.opencontainers.image.ref.name` annotations.

When both manifest.json and index.json are present (Docker 25+ writes both) manifest.json wins,
as in Docker. Layer blobs are only located here; the layer store reads and verifies them.
"""

from __future__ import annotations

import json
import posixpath
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from hatoba.errors import InvalidArgument
from hatoba.images.config import digest_of, host_architecture, is_digest
from hatoba.images.reference import Reference, parse_reference
from hatoba.images.tarutil import clean_name, joined, members

MANIFEST_JSON = "manifest.json"
_OCI_LAYOUT = "oci-layout"
_INDEX_JSON = "index.json"
_MAX_JSON = 32 << 20
_MAX_LINK_HOPS = 16
_MANIFEST_TYPES = {
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
}
_INDEX_TYPES = {
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
}
_NAME_ANNOTATION = "io.containerd.image.name"
_REF_ANNOTATION = "org.opencontainers.image.ref.name"
_DIGEST_NAME_RE = re.compile(r"^(?:blobs/sha256/([0-9a-f]{64})|([0-9a-f]{64})\.json)$")


@dataclass(frozen=True)
class LayerBlob:
    path: str
    digest: str | None  # what the archive claims the stored blob hashes to
    size: int | None


@dataclass(frozen=True)
class ArchivedImage:
    config: bytes
    layers: tuple[LayerBlob, ...]
    tags: tuple[Reference, ...]


class Archive:
    """A plain tar on disk, read by member name; links inside the archive are followed."""

    def __init__(self, tf: tarfile.TarFile, path: Path) -> None:
        self._tf = tf
        self._members = {joined(clean_name(m.name)): m for m in members(tf, path)}

    def has(self, name: str) -> bool:
        return joined(clean_name(name)) in self._members

    def open(self, name: str) -> IO[bytes]:
        member = self._member(name)
        data = self._tf.extractfile(member)
        assert data is not None  # _member returns regular files only
        return data

    def read(self, name: str) -> bytes:
        with self.open(name) as f:
            data = f.read(_MAX_JSON + 1)
        if len(data) > _MAX_JSON:
            raise InvalidArgument(f"invalid image archive: {name} is too large")
        return data

    def _member(self, name: str) -> tarfile.TarInfo:
        path = joined(clean_name(name))
        for _ in range(_MAX_LINK_HOPS):
            member = self._members.get(path)
            if member is None:
                raise InvalidArgument(f"invalid image archive: {name} is missing")
            if member.isreg():
                return member
            if member.issym():
                # only a lookup among member names, so `..` can be resolved lexically
                target = posixpath.normpath(
                    posixpath.join(posixpath.dirname(path), member.linkname)
                )
                path = joined(clean_name(target))
            elif member.islnk():
                path = joined(clean_name(member.linkname))
            else:
                raise InvalidArgument(f"invalid image archive: {name} is not a file")
        raise InvalidArgument(f"invalid image archive: too many links at {name}")


def read_images(archive: Archive) -> list[ArchivedImage]:
    if archive.has(MANIFEST_JSON):
        return _docker_save(archive)
    if archive.has(_OCI_LAYOUT) and archive.has(_INDEX_JSON):
        return _oci_layout(archive)
    raise InvalidArgument(
        "invalid image archive: neither a docker save archive (manifest.json) "
        "nor an OCI image layout (oci-layout, index.json)"
    )


def _docker_save(archive: Archive) -> list[ArchivedImage]:
    doc = _json(archive.read(MANIFEST_JSON), MANIFEST_JSON)
    if not isinstance(doc, list):
        raise InvalidArgument("invalid image archive: manifest.json must be a list")
    images = []
    for entry in doc:
        config_path = _field(entry, "Config", str, MANIFEST_JSON)
        layer_paths = _field(entry, "Layers", list, MANIFEST_JSON)
        repo_tags = entry.get("RepoTags") or []
        if not all(isinstance(p, str) for p in [*layer_paths, *repo_tags]):
            raise InvalidArgument("invalid image archive: Layers and RepoTags must list strings")
        config = archive.read(config_path)
        claimed = _digest_in_name(config_path)
        if claimed is not None and digest_of(config) != claimed:
            raise InvalidArgument(
                f"invalid digest for {config_path}: expected {claimed}, got {digest_of(config)}"
            )
        layers = tuple(LayerBlob(p, _digest_in_name(p), None) for p in layer_paths)
        tags = tuple(parse_reference(t) for t in repo_tags)
        images.append(ArchivedImage(config, layers, tags))
    return images


def _oci_layout(archive: Archive) -> list[ArchivedImage]:
    layout = _json(archive.read(_OCI_LAYOUT), _OCI_LAYOUT)
    version = layout.get("imageLayoutVersion") if isinstance(layout, dict) else None
    if not isinstance(version, str) or not version.startswith("1."):
        raise InvalidArgument(f"invalid image archive: unsupported OCI layout version {version!r}")
    index = _json(archive.read(_INDEX_JSON), _INDEX_JSON)
    images = []
    for desc in _field(index, "manifests", list, _INDEX_JSON):
        manifest = _manifest(archive, desc)
        config = _blob(archive, _field(manifest, "config", dict, "manifest"))
        layers = tuple(
            LayerBlob(_blob_path(d), d["digest"], d["size"])
            for d in (_descriptor(d) for d in _field(manifest, "layers", list, "manifest"))
        )
        images.append(ArchivedImage(config, layers, _oci_tags(desc)))
    return images


def _manifest(archive: Archive, desc: Any) -> dict[str, Any]:
    """The image manifest a descriptor leads to, choosing this platform in nested indexes."""
    for _ in range(_MAX_LINK_HOPS):
        desc = _descriptor(desc)
        doc = _json(_blob(archive, desc), desc["digest"])
        if not isinstance(doc, dict):
            raise InvalidArgument(f"invalid image archive: {desc['digest']} is not an object")
        media_type = desc.get("mediaType") or doc.get("mediaType")
        if media_type in _MANIFEST_TYPES:
            return doc
        if media_type not in _INDEX_TYPES:
            raise InvalidArgument(f"invalid image archive: unsupported media type {media_type!r}")
        desc = _for_platform(_field(doc, "manifests", list, "index"))
    raise InvalidArgument("invalid image archive: indexes nested too deeply")


def _for_platform(descs: list[Any]) -> Any:
    arch = host_architecture()
    for desc in descs:
        platform = desc.get("platform") if isinstance(desc, dict) else None
        if (
            isinstance(platform, dict)
            and platform.get("os") == "linux"
            and platform.get("architecture") == arch
        ):
            return desc
    raise InvalidArgument(f"no matching manifest for linux/{arch} in the manifest list entries")


def _oci_tags(desc: dict[str, Any]) -> tuple[Reference, ...]:
    annotations = desc.get("annotations") or {}
    name = annotations.get(_NAME_ANNOTATION)
    if not isinstance(name, str):
        ref = annotations.get(_REF_ANNOTATION)
        # a bare ref.name is only a tag, with no repository to put it on
        name = ref if isinstance(ref, str) and (":" in ref or "/" in ref) else None
    return (parse_reference(name),) if name else ()


def _descriptor(desc: Any) -> dict[str, Any]:
    if not (
        isinstance(desc, dict)
        and is_digest(desc.get("digest"))
        and isinstance(desc.get("size"), int)
    ):
        raise InvalidArgument(
            "invalid image archive: bad descriptor (sha256 digest and size needed)"
        )
    return desc


def _blob_path(desc: dict[str, Any]) -> str:
    return "blobs/sha256/" + str(desc["digest"]).removeprefix("sha256:")


def _blob(archive: Archive, desc: Any) -> bytes:
    desc = _descriptor(desc)
    data = archive.read(_blob_path(desc))
    if digest_of(data) != desc["digest"] or len(data) != desc["size"]:
        raise InvalidArgument(
            f"invalid digest for {_blob_path(desc)}: expected {desc['digest']} "
            f"({desc['size']} bytes), got {digest_of(data)} ({len(data)} bytes)"
        )
    return data


def _digest_in_name(path: str) -> str | None:
    match = _DIGEST_NAME_RE.match(joined(clean_name(path)))
    return "sha256:" + (match.group(1) or match.group(2)) if match else None


def _json(data: bytes, what: str) -> Any:
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InvalidArgument(f"invalid image archive: {what}: {e}") from None


def _field(doc: Any, key: str, kind: type, what: str) -> Any:
    value = doc.get(key) if isinstance(doc, dict) else None
    if not isinstance(value, kind):
        raise InvalidArgument(f"invalid image archive: {what} needs {key} ({kind.__name__})")
    return value
