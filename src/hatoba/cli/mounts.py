"""`--mount` as docker 20.10's CLI reads it (opts/mount.go): comma-separated `key=value`
fields (CSV, so a value may be quoted), into one HostConfig.Mounts entry, with its errors.
Imported only when the flag is given."""

from __future__ import annotations

import csv

from hatoba.cli.parsing import BadValue
from hatoba.model.knobs import ram_in_bytes

TYPE_CHECKING = False  # `typing` costs ~4 ms of start-up; mypy treats this name as True
if TYPE_CHECKING:
    from typing import Any

_BOOLS = {"1": True, "t": True, "true": True, "0": False, "f": False, "false": False}


def _bool(key: str, value: str, name: str = "") -> bool:
    found = _BOOLS.get(value.lower())
    if found is None:
        raise BadValue(f"invalid value for {name or key}: {value}")
    return found


def _key_value(target: dict[str, str], value: str) -> None:
    key, eq, rest = value.partition("=")
    target[key] = rest if eq else ""


def parse_mount(text: str) -> dict[str, Any]:
    try:
        fields = next(csv.reader([text]), [])
    except csv.Error as exc:
        raise BadValue(str(exc)) from None
    mount: dict[str, Any] = {"Type": "volume"}
    volume: dict[str, Any] | None = None
    bind: dict[str, Any] | None = None
    tmpfs: dict[str, Any] | None = None

    def volume_options() -> dict[str, Any]:
        nonlocal volume
        if volume is None:
            volume = {"Labels": {}, "DriverConfig": {}}
        return volume

    def bind_options() -> dict[str, Any]:
        nonlocal bind
        if bind is None:
            bind = {}
        return bind

    def tmpfs_options() -> dict[str, Any]:
        nonlocal tmpfs
        if tmpfs is None:
            tmpfs = {}
        return tmpfs

    for field in fields:
        key, eq, value = field.partition("=")
        key = key.lower()
        if not eq:
            if key in ("readonly", "ro"):
                mount["ReadOnly"] = True
                continue
            if key == "volume-nocopy":
                volume_options()["NoCopy"] = True
                continue
            if key == "bind-nonrecursive":
                bind_options()["NonRecursive"] = True
                continue
            raise BadValue(f"invalid field '{field}' must be a key=value pair")
        if key == "type":
            mount["Type"] = value.lower()
        elif key in ("source", "src"):
            mount["Source"] = value
        elif key in ("target", "dst", "destination"):
            mount["Target"] = value
        elif key in ("readonly", "ro"):
            mount["ReadOnly"] = _bool(key, value)
        elif key == "consistency":
            mount["Consistency"] = value.lower()
        elif key == "bind-propagation":
            bind_options()["Propagation"] = value.lower()
        elif key == "bind-nonrecursive":
            bind_options()["NonRecursive"] = _bool(key, value)
        elif key == "volume-nocopy":
            volume_options()["NoCopy"] = _bool(key, value, "volume-nocopy")
        elif key == "volume-label":
            _key_value(volume_options()["Labels"], value)
        elif key == "volume-driver":
            volume_options()["DriverConfig"]["Name"] = value
        elif key == "volume-opt":
            _key_value(volume_options()["DriverConfig"].setdefault("Options", {}), value)
        elif key == "tmpfs-size":
            try:
                tmpfs_options()["SizeBytes"] = ram_in_bytes(value)
            except ValueError:
                raise BadValue(f"invalid value for {key}: {value}") from None
        elif key == "tmpfs-mode":
            try:
                tmpfs_options()["Mode"] = int(value, 8)
            except ValueError:
                raise BadValue(f"invalid value for {key}: {value}") from None
        else:
            raise BadValue(f"unexpected key '{key}' in '{field}'")
    kind = mount["Type"]
    if not kind:
        raise BadValue("type is required")
    if not mount.get("Target"):
        raise BadValue("target is required")
    for options, prefix, name in (
        (volume, "volume", "VolumeOptions"),
        (bind, "bind", "BindOptions"),
        (tmpfs, "tmpfs", "TmpfsOptions"),
    ):
        if options is not None:
            if kind != prefix:
                raise BadValue(f"cannot mix '{prefix}-*' options with mount type '{kind}'")
            mount[name] = options
    return mount
