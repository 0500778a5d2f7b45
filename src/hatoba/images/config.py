"""Image config JSON (Docker's image.Image / OCI image config): parsed once into typed values.

The config bytes are kept verbatim in the store because the image id is their sha256; this
module only reads them, and writes the config of an imported root file system.
"""

from __future__ import annotations

import hashlib
import json
import platform
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hatoba.errors import InvalidArgument
from hatoba.model.health import HealthConfig, config_from_json
from hatoba.model.ids import ZERO_TIME
from hatoba.model.platforms import goarch

_DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}\Z")


@dataclass(frozen=True)
class ImageConfig:
    cmd: tuple[str, ...] | None = None
    entrypoint: tuple[str, ...] | None = None
    env: tuple[str, ...] = ()
    workdir: str = ""
    exposed_ports: tuple[str, ...] = ()
    labels: tuple[tuple[str, str], ...] = ()
    user: str = ""
    healthcheck: HealthConfig | None = None
    # VOLUME: anonymous volumes of every container made from the image
    volumes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ParsedConfig:
    """What the store needs from a config document."""

    config: ImageConfig
    created: str
    diff_ids: tuple[str, ...]
    architecture: str
    os: str
    raw: Mapping[str, Any]


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def is_digest(text: object) -> bool:
    return isinstance(text, str) and bool(_DIGEST_RE.match(text))


def host_architecture() -> str:
    return goarch(platform.machine())


def parse_config(data: bytes) -> ParsedConfig:
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InvalidArgument(f"invalid image config: {e}") from None
    if not isinstance(doc, dict):
        raise InvalidArgument("invalid image config: not a JSON object")
    rootfs = doc.get("rootfs")
    if not isinstance(rootfs, dict) or rootfs.get("type") != "layers":
        raise InvalidArgument('invalid image config: rootfs.type must be "layers"')
    diff_ids = rootfs.get("diff_ids") or []
    if not isinstance(diff_ids, list) or not all(is_digest(d) for d in diff_ids):
        raise InvalidArgument("invalid image config: rootfs.diff_ids must be sha256 digests")
    os_name = _opt_str(doc, "os") or "linux"
    if os_name != "linux":
        raise InvalidArgument(f'image operating system "{os_name}" cannot be used on this platform')
    container = doc.get("config") or {}
    if not isinstance(container, dict):
        raise InvalidArgument("invalid image config: config must be an object")
    return ParsedConfig(
        config=_container_config(container),
        created=_opt_str(doc, "created") or ZERO_TIME,
        diff_ids=tuple(diff_ids),
        architecture=_opt_str(doc, "architecture"),
        os=os_name,
        raw=doc,
    )


def _container_config(doc: Mapping[str, Any]) -> ImageConfig:
    ports = doc.get("ExposedPorts") or {}
    labels = doc.get("Labels") or {}
    volumes = doc.get("Volumes") or {}
    if not all(isinstance(v, dict) for v in (ports, labels, volumes)):
        raise InvalidArgument(
            "invalid image config: ExposedPorts, Labels and Volumes must be objects"
        )
    if not all(isinstance(v, str) for v in labels.values()):
        raise InvalidArgument("invalid image config: label values must be strings")
    return ImageConfig(
        cmd=_opt_argv(doc, "Cmd"),
        entrypoint=_opt_argv(doc, "Entrypoint"),
        env=_opt_argv(doc, "Env") or (),
        workdir=_opt_str(doc, "WorkingDir"),
        exposed_ports=tuple(sorted(ports)),
        labels=tuple(sorted(labels.items())),
        user=_opt_str(doc, "User"),
        healthcheck=_healthcheck(doc.get("Healthcheck")),
        volumes=tuple(sorted(volumes)),
    )


def _healthcheck(value: Any) -> HealthConfig | None:
    try:
        return config_from_json(value)
    except InvalidArgument as exc:
        raise InvalidArgument(f"invalid image config: {exc.message}") from None


def _opt_argv(doc: Mapping[str, Any], key: str) -> tuple[str, ...] | None:
    value = doc.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidArgument(f"invalid image config: {key} must be a list of strings")
    return tuple(value)


def _opt_str(doc: Mapping[str, Any], key: str) -> str:
    value = doc.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidArgument(f"invalid image config: {key} must be a string")
    return value


# Go's container.Config fields in declaration order; json.Marshal omits the `omitempty` ones
# when unset and writes the others with their zero value.
_CONTAINER_FIELDS: tuple[tuple[str, Any, bool], ...] = (
    ("Hostname", "", False),
    ("Domainname", "", False),
    ("User", "", False),
    ("AttachStdin", False, False),
    ("AttachStdout", False, False),
    ("AttachStderr", False, False),
    ("ExposedPorts", None, True),
    ("Tty", False, False),
    ("OpenStdin", False, False),
    ("StdinOnce", False, False),
    ("Env", None, False),
    ("Cmd", None, False),
    ("Healthcheck", None, True),
    ("ArgsEscaped", None, True),
    ("Image", "", False),
    ("Volumes", None, False),
    ("WorkingDir", "", False),
    ("Entrypoint", None, False),
    ("NetworkDisabled", None, True),
    ("MacAddress", None, True),
    ("OnBuild", None, False),
    ("Labels", None, False),
    ("StopSignal", None, True),
    ("StopTimeout", None, True),
    ("Shell", None, True),
)


def go_container_config(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A container config in the shape Docker writes and `inspect` shows (Go's field order,
    zero values filled in, unknown keys dropped as Go's decoder would)."""
    out: dict[str, Any] = {}
    for key, zero, omit_empty in _CONTAINER_FIELDS:
        value = doc.get(key)
        if value not in (None, "", False, [], {}):
            out[key] = value
        elif not omit_empty:
            out[key] = zero if value is None else value
    return out


def import_config(container: Mapping[str, Any], diff_id: str, created: str, comment: str) -> bytes:
    """The config `docker import` writes: one layer, the container config, one history entry."""
    doc = {
        "architecture": host_architecture(),
        "comment": comment,
        "config": go_container_config(container),
        "container_config": go_container_config({}),
        "created": created,
        "history": [{"created": created, "comment": comment}],
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }
    return canonical_json(doc)


def merge_config(user: Mapping[str, Any], base: Mapping[str, Any]) -> dict[str, Any]:
    """Docker's merge (daemon/commit.go): what `user` leaves unset comes from `base`; the
    environment, labels, exposed ports and volumes are merged, `user`'s winning."""
    out = dict(user)
    for key in ("User", "WorkingDir", "StopSignal"):
        if not out.get(key):
            out[key] = base.get(key)
    for key in ("ExposedPorts", "Volumes", "Labels"):
        out[key] = {**(base.get(key) or {}), **(out.get(key) or {})} or None
    env = list(out.get("Env") or [])
    keys = {e.partition("=")[0] for e in env}
    out["Env"] = env + [e for e in base.get("Env") or [] if e.partition("=")[0] not in keys]
    if not out.get("Entrypoint"):
        if not out.get("Cmd"):
            out["Cmd"] = base.get("Cmd")
        if out.get("Entrypoint") is None:
            out["Entrypoint"] = base.get("Entrypoint")
    base_check = base.get("Healthcheck")
    if base_check:
        check = dict(out.get("Healthcheck") or {})
        out["Healthcheck"] = {**base_check, **{k: v for k, v in check.items() if v}}
    return go_container_config(out)


def commit_config(
    parent: Mapping[str, Any],
    diff_id: str | None,
    config: Mapping[str, Any],
    container_config: Mapping[str, Any],
    container_id: str,
    created: str,
    author: str,
    comment: str,
) -> bytes:
    """The config `docker commit` writes: the parent's layers and history, one more of each
    (no layer when the container changed nothing)."""
    rootfs = parent.get("rootfs") or {}
    history = list(parent.get("history") or [])
    entry: dict[str, Any] = {"created": created}
    if author:
        entry["author"] = author
    entry["created_by"] = " ".join(container_config.get("Cmd") or [])
    if comment:
        entry["comment"] = comment
    if diff_id is None:
        entry["empty_layer"] = True
    doc: dict[str, Any] = {
        "architecture": parent.get("architecture") or host_architecture(),
        "author": author,
        "comment": comment,
        "config": go_container_config(config),
        "container": container_id,
        "container_config": go_container_config(container_config),
        "created": created,
        "history": [*history, entry],
        "os": "linux",
        "rootfs": {
            "type": "layers",
            "diff_ids": [*(rootfs.get("diff_ids") or []), *((diff_id,) if diff_id else ())],
        },
    }
    return canonical_json({k: v for k, v in doc.items() if v != ""})


def canonical_json(doc: Mapping[str, Any] | Sequence[Any]) -> bytes:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


def unix_seconds(timestamp: str) -> int:
    """RFC 3339 (with up to nanoseconds) → seconds since the epoch; 0 when unparsable."""
    try:
        return int(datetime.fromisoformat(timestamp).timestamp())
    except ValueError:
        return 0
