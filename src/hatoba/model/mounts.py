"""Mounts and volumes: what a create request asks for (`-v`, `--mount`, `--tmpfs`,
`--volumes-from`, Config.Volumes and an image's VOLUME) and the mount points a container keeps,
read as Docker 20.10 reads them (volume/mounts/linux_parser.go, daemon/volumes.go), with its
error texts. Pure: whether a bind source exists, and where a volume's files live, are the
storage adapter's to say.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol, TypeVar

from hatoba.errors import InvalidArgument
from hatoba.model.network import EMPTY

BIND, VOLUME, TMPFS = "bind", "volume", "tmpfs"
LOCAL_DRIVER = "local"
# a bind's propagation when none is asked for
DEFAULT_PROPAGATION = "rprivate"
PROPAGATIONS = ("private", "rprivate", "slave", "rslave", "shared", "rshared")
# what every tmpfs gets before its own options (daemon/oci_linux.go)
_TMPFS_DEFAULTS = ("noexec", "nosuid", "nodev", DEFAULT_PROPAGATION)

_RW_MODES = ("rw", "ro")
_LABEL_MODES = ("z", "Z")
_COPY_MODES = ("nocopy",)
_CONSISTENCY_MODES = ("consistent", "cached", "delegated", "default")
_VOLUME_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+\Z")  # \Z: Go's $

# mount(8) flags MergeTmpfsOptions knows: option -> the flag it sets or clears (propagation
# modes share one key: a mount has one)
_TMPFS_FLAGS = {
    **dict.fromkeys(("ro", "rw"), "rdonly"),
    **dict.fromkeys(("suid", "nosuid"), "nosuid"),
    **dict.fromkeys(("dev", "nodev"), "nodev"),
    **dict.fromkeys(("exec", "noexec"), "noexec"),
    **dict.fromkeys(("sync", "async"), "sync"),
    "dirsync": "dirsync",
    "remount": "remount",
    **dict.fromkeys(("mand", "nomand"), "mand"),
    **dict.fromkeys(("atime", "noatime"), "noatime"),
    **dict.fromkeys(("diratime", "nodiratime"), "nodiratime"),
    **dict.fromkeys(("relatime", "norelatime"), "relatime"),
    **dict.fromkeys(("strictatime", "nostrictatime"), "strictatime"),
    **dict.fromkeys(("bind", "rbind", "unbindable", "runbindable", *PROPAGATIONS), "propagation"),
}
_TMPFS_DATA = ("size", "mode", "uid", "gid", "nr_inodes", "nr_blocks", "mpol")


@dataclass(frozen=True)
class MountSpec:
    """One entry of HostConfig.Mounts (`--mount`), as asked; kept for inspect."""

    type: str
    source: str = ""
    target: str = ""
    read_only: bool = False
    # Docker for Mac's hint: no effect on Linux, Docker's neither
    consistency: str = ""
    # BindOptions, VolumeOptions and TmpfsOptions: None when the request has none
    bind_propagation: str | None = None
    bind_non_recursive: bool = False
    volume_no_copy: bool | None = None
    volume_labels: Mapping[str, str] = field(default_factory=lambda: EMPTY)
    volume_driver: str = ""
    volume_driver_options: Mapping[str, str] = field(default_factory=lambda: EMPTY)
    tmpfs_size: int | None = None
    tmpfs_mode: int = 0

    @property
    def has_bind_options(self) -> bool:
        return self.bind_propagation is not None

    @property
    def has_volume_options(self) -> bool:
        return self.volume_no_copy is not None

    @property
    def has_tmpfs_options(self) -> bool:
        return self.tmpfs_size is not None


@dataclass(frozen=True)
class MountPoint:
    """A mount a container has (Docker's MountPoint), fixed at create."""

    type: str
    destination: str
    # bind: the host path as asked (cleaned)
    source: str = ""
    # volume: its name ("" until the engine names an anonymous one) and driver
    name: str = ""
    driver: str = ""
    rw: bool = True
    # as inspect shows it: the mode of `-v` ("ro", "z", …), "z" for a named volume
    mode: str = ""
    # bind: rprivate unless asked (rslave where the source holds hatoba's roots)
    propagation: str = ""
    non_recursive: bool = False
    # volume: filled from the image's content at the container's first start when empty
    copy_data: bool = False
    # tmpfs (`--mount type=tmpfs`): Docker's option string (size=…,mode=…)
    tmpfs_options: str = ""
    # volume: no name was asked for; `rm -v` removes it with the container
    anonymous: bool = False
    # bind from `-v`: a missing source folder is made at start (`--mount` refuses it)
    create_source: bool = False


@dataclass(frozen=True)
class Volume:
    """A named volume of the local driver: a folder under the state root."""

    name: str
    created: str
    driver: str = LOCAL_DRIVER
    # None for volumes made by a container (Docker shows null), {} for `volume create`
    labels: Mapping[str, str] | None = None
    options: Mapping[str, str] | None = None


# --- one mount -----------------------------------------------------------------------------


def invalid_spec(raw: str) -> str:
    return f"invalid volume specification: '{raw}'"


def _config_error(kind: str, reason: str) -> InvalidArgument:
    return InvalidArgument(f'invalid mount config for type "{kind}": {reason}')


def _absolute(path: str) -> str | None:
    """Docker's reason a path is not a valid mount target, or None."""
    if posixpath.normpath(path.replace("\\", "/")) in ("/", "//"):
        return "invalid specification: destination can't be '/'"
    if not path.replace("\\", "/").startswith("/"):
        return _not_absolute(path)
    return None


def _not_absolute(path: str) -> str:
    shown = path.replace("\\", "/")
    return f"invalid mount path: '{shown}' mount path must be absolute"


def clean(path: str) -> str:
    """Go's path.Clean of an absolute path (`//a/./b/` is `/a/b`)."""
    cleaned = posixpath.normpath(path)
    return "/" + cleaned.lstrip("/") if cleaned.startswith("//") else cleaned


def _valid_mode(mode: str) -> bool:
    if not mode:
        return True
    counts = dict.fromkeys(("rw", "label", "propagation", "copy", "consistency"), 0)
    for option in mode.split(","):
        if option in _RW_MODES:
            counts["rw"] += 1
        elif option in _LABEL_MODES:
            counts["label"] += 1
        elif option in PROPAGATIONS:
            counts["propagation"] += 1
        elif option in _COPY_MODES:
            counts["copy"] += 1
        elif option in _CONSISTENCY_MODES:
            counts["consistency"] += 1
        else:
            return False
    return all(n <= 1 for n in counts.values())


def _read_write(mode: str) -> bool:
    return _valid_mode(mode) and "ro" not in mode.split(",")


def _propagation(mode: str) -> str:
    return next((o for o in mode.split(",") if o in PROPAGATIONS), "")


def parse_bind(raw: str, volume_driver: str = "") -> MountPoint:
    """One `-v`/HostConfig.Binds entry: `[SOURCE:]TARGET[:MODE]`; an absolute SOURCE is a
    bind, another a volume name, none an anonymous volume (Docker's ParseMountRaw)."""
    if raw.count(":") > 2:
        raise InvalidArgument(invalid_spec(raw))
    parts = raw.split(":")
    if not parts[0]:
        raise InvalidArgument(invalid_spec(raw))
    source, mode = "", ""
    if len(parts) == 1:
        target = parts[0]
    elif len(parts) == 2:
        if _valid_mode(parts[1]):
            # TARGET:MODE is no volume: volumes take no mode without a name
            raise InvalidArgument(invalid_spec(raw))
        source, target = parts
    else:
        source, target, mode = parts
    if not _valid_mode(mode):
        raise InvalidArgument(f"invalid mode: {mode}")
    kind = BIND if source.startswith("/") else VOLUME
    options = mode.split(",")
    spec = MountSpec(
        type=kind,
        source=source,
        target=target,
        read_only=not _read_write(mode),
        bind_propagation=_propagation(mode) or None,
        volume_no_copy=True if "nocopy" in options else None,
        volume_driver=volume_driver if kind == VOLUME else "",
    )
    try:
        point = _from_spec(spec)
    except InvalidArgument as exc:
        raise InvalidArgument(f"{invalid_spec(raw)}: {exc.message}") from None
    if kind == VOLUME and not mode:
        mode = "z"  # Docker's setBindModeIfNull for a named volume of the local driver
    return replace(point, mode=mode, create_source=kind == BIND)


def parse_mount(spec: MountSpec) -> MountPoint:
    """One HostConfig.Mounts entry (`--mount`) (Docker's ParseMountSpec). Whether a bind's
    source exists is checked where the host's files are (the storage adapter)."""
    point = _from_spec(spec)
    if point.type == VOLUME:
        point = replace(point, mode="z")
    return point


def _from_spec(spec: MountSpec) -> MountPoint:
    kind = spec.type
    if not spec.target:
        raise _config_error(kind, "field Target must not be empty")
    reason = _absolute(spec.target)
    if reason:
        raise _config_error(kind, reason)
    destination = clean(spec.target)
    if kind == BIND:
        if not spec.source:
            raise _config_error(kind, "field Source must not be empty")
        if spec.bind_propagation and spec.bind_propagation not in PROPAGATIONS:
            raise _config_error(kind, f"invalid propagation mode: {spec.bind_propagation}")
        if spec.has_volume_options:
            raise _config_error(kind, "field VolumeOptions must not be specified")
        if not spec.source.replace("\\", "/").startswith("/"):
            raise _config_error(kind, _not_absolute(spec.source))
        return MountPoint(
            BIND,
            destination,
            source=clean(spec.source),
            rw=not spec.read_only,
            propagation=spec.bind_propagation or DEFAULT_PROPAGATION,
            non_recursive=spec.bind_non_recursive,
        )
    if kind == VOLUME:
        if spec.has_bind_options:
            raise _config_error(kind, "field BindOptions must not be specified")
        if not spec.source and spec.read_only:
            raise _config_error(kind, "must not set ReadOnly mode when using anonymous volumes")
        return MountPoint(
            VOLUME,
            destination,
            name=spec.source,
            driver=spec.volume_driver,
            rw=not spec.read_only,
            copy_data=not spec.volume_no_copy,
            anonymous=not spec.source,
        )
    if kind == TMPFS:
        if spec.has_bind_options:
            raise _config_error(kind, "field BindOptions must not be specified")
        if spec.source:
            raise _config_error(kind, "field Source must not be specified")
        return MountPoint(
            TMPFS,
            destination,
            rw=not spec.read_only,
            tmpfs_options=tmpfs_data(spec.tmpfs_size or 0, spec.tmpfs_mode, spec.read_only),
        )
    raise _config_error(kind, "mount type unknown")


def tmpfs_data(size: int, mode: int, read_only: bool) -> str:
    """A `--mount type=tmpfs` as the option string Docker keeps (ConvertTmpfsOptions)."""
    options = ["ro"] if read_only else []
    if mode:
        options.append(f"mode={mode:o}")
    if size:
        suffix = ""
        for letter, divisor in (("g", 1 << 30), ("m", 1 << 20), ("k", 1 << 10)):
            if size % divisor == 0:
                size, suffix = size // divisor, letter
                break
        options.append(f"size={size}{suffix}")
    return ",".join(options)


def check_destination(destination: str) -> None:
    reason = _absolute(destination)
    if reason:
        raise InvalidArgument(reason)


def tmpfs_mount_options(data: str) -> tuple[str, ...]:
    """The options of a tmpfs mount: Docker's defaults, then `data` (`--tmpfs /x:OPTIONS`),
    later ones winning (MergeTmpfsOptions), with its error for what mount(8) does not take."""
    options = [*_TMPFS_DEFAULTS, *(data.split(",") if data else ())]
    taken_flags: set[str] = set()
    taken_data: set[str] = set()
    merged: list[str] = []
    for option in reversed(options):
        if option == "defaults":
            continue
        flag = _TMPFS_FLAGS.get(option)
        if flag is not None:
            if flag not in taken_flags:
                merged.insert(0, option)
                taken_flags.add(flag)
            continue
        key, eq, _ = option.partition("=")
        if not eq or key not in _TMPFS_DATA:
            shown = f'["{key}" "{option[len(key) + 1 :]}"]' if eq else f'["{option}"]'
            raise InvalidArgument(f"Invalid tmpfs option {shown}")
        if key not in taken_data:
            merged.insert(0, option)
            taken_data.add(key)
    return tuple(merged)


def parse_volumes_from(spec: str) -> tuple[str, bool]:
    """`CONTAINER[:ro|rw]`: the container and whether its mounts stay writable."""
    if not spec:
        raise InvalidArgument("volumes-from specification cannot be an empty string")
    ref, colon, mode = spec.partition(":")
    if not colon:
        return ref, True
    # neither a propagation nor a copy mode: the mounts keep the other container's
    if not _valid_mode(mode) or _propagation(mode) or "nocopy" in mode.split(","):
        raise InvalidArgument(f"invalid mode: {mode}")
    return ref, _read_write(mode)


# the longest folder name the kernel takes
NAME_MAX = 255


def check_volume_name(name: str) -> None:
    """The local driver's names, which are folder names (Docker's text, prefixed as its
    volume store does)."""
    if len(name) == 1:
        raise InvalidArgument(
            f"create {name}: volume name is too short, names should be at least two "
            "alphanumeric characters"
        )
    if len(name) > NAME_MAX:  # Docker fails at mkdir, with a 500
        raise InvalidArgument(
            f"create {name}: volume name is too long, names should be at most {NAME_MAX} "
            "characters (it is a folder's name)"
        )
    if not _VOLUME_NAME.match(name):
        raise InvalidArgument(
            f'create {name}: "{name}" includes invalid characters for a local volume name, '
            'only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host '
            "directory, use absolute path"
        )


# --- all the mounts of a container ----------------------------------------------------------


@dataclass(frozen=True)
class MountRequest:
    """Everything of a create request that asks for mounts."""

    binds: Sequence[str] = ()
    mounts: Sequence[MountSpec] = ()
    tmpfs: Mapping[str, str] = field(default_factory=lambda: EMPTY)
    # Config.Volumes with the image's VOLUME: anonymous volumes where nothing else is mounted
    volumes: Sequence[str] = ()
    volume_driver: str = ""


def plan_mounts(
    request: MountRequest, volumes_from: Iterable[tuple[bool, Sequence[MountPoint]]] = ()
) -> list[MountPoint]:
    """The mount points of a new container, in Docker's order of precedence
    (registerMountPoints, then the anonymous volumes of createContainerOSSpecificSettings):
    other containers' (`volumes_from`: whether writable, their mount points), then binds,
    then `--mount`, then Config.Volumes where nothing else is. Anonymous volumes have no
    name yet."""
    for destination in request.tmpfs:
        check_destination(destination)
    points: dict[str, MountPoint] = {}
    for writable, theirs in volumes_from:
        for point in theirs:
            points[point.destination] = replace(
                point, rw=point.rw and writable, copy_data=False, create_source=False
            )
    asked: set[str] = set()
    for raw in request.binds:
        point = parse_bind(raw, request.volume_driver)
        if point.destination in asked or point.destination in request.tmpfs:
            raise InvalidArgument(f"Duplicate mount point: {point.destination}")
        asked.add(point.destination)
        points[point.destination] = point
    for spec in request.mounts:
        point = parse_mount(spec)
        if point.destination in asked:
            raise InvalidArgument(f"Duplicate mount point: {spec.target}")
        asked.add(point.destination)
        points[point.destination] = point
    for path in request.volumes:
        destination = clean(path)
        if destination in points or destination in request.tmpfs:
            continue  # an image's VOLUME under a mount of the request: no error, as Docker
        reason = _absolute(path)
        if reason:
            raise InvalidArgument(reason)
        points[destination] = MountPoint(
            VOLUME, destination, driver=request.volume_driver, copy_data=True, anonymous=True
        )
    return list(points.values())


class _Placed(Protocol):
    @property
    def destination(self) -> str: ...


_P = TypeVar("_P", bound=_Placed)


def mount_order(points: Iterable[_P]) -> list[_P]:
    """Parents before children (`/a` before `/a/b`), as Docker sorts a container's mounts."""
    return sorted(points, key=lambda p: p.destination.rstrip("/").count("/"))
