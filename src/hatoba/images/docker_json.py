"""Docker Engine API (v1.41) shapes for images: `GET /images/{name}/json` and `GET /images/json`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hatoba.images.config import go_container_config, unix_seconds

if TYPE_CHECKING:
    from hatoba.images.store import Image

_NONE_TAG = "<none>:<none>"
_NONE_DIGEST = "<none>@<none>"


def inspect(
    image: Image, raw: Mapping[str, Any], last_tag_time: str, layer_dirs: Sequence[Path]
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "Id": image.id,
        "RepoTags": list(image.repo_tags),
        "RepoDigests": [],
        "Parent": "",
        "Comment": _str(raw, "comment"),
        "Created": image.created,
        "Container": _str(raw, "container"),
        "ContainerConfig": go_container_config(_obj(raw, "container_config")),
        "DockerVersion": _str(raw, "docker_version"),
        "Author": _str(raw, "author"),
        "Config": go_container_config(_obj(raw, "config")),
        "Architecture": image.architecture,
    }
    if raw.get("variant"):
        doc["Variant"] = raw["variant"]
    doc.update(
        {
            "Os": image.os,
            "Size": image.size,
            "VirtualSize": image.size,
            "GraphDriver": {
                # overlayfs order: the top layer first
                "Data": {"LowerDir": ":".join(str(d) for d in reversed(layer_dirs))},
                "Name": "overlay",
            },
            "RootFS": {"Type": "layers", "Layers": list(image.diff_ids)},
            "Metadata": {"LastTagTime": last_tag_time},
        }
    )
    return doc


def summary(image: Image) -> dict[str, Any]:
    dangling = not image.repo_tags
    return {
        "Containers": -1,
        "Created": unix_seconds(image.created),
        "Id": image.id,
        "Labels": dict(image.config.labels) or None,
        "ParentId": "",
        "RepoDigests": [_NONE_DIGEST] if dangling else [],
        "RepoTags": [_NONE_TAG] if dangling else list(image.repo_tags),
        "SharedSize": -1,
        "Size": image.size,
        "VirtualSize": image.size,
    }


def _str(doc: Mapping[str, Any], key: str) -> str:
    value = doc.get(key)
    return value if isinstance(value, str) else ""


def _obj(doc: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = doc.get(key)
    return value if isinstance(value, dict) else {}
