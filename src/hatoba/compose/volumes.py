"""A service's `volumes` in the short syntax (`[SOURCE:]TARGET[:MODE]`), read as compose-go's
ParseVolume reads it, and host paths made absolute as its loader makes them: `./x`, `../x`
and `x` (long syntax) against the project directory, `~/x` against $HOME.

A source that starts with `.`, `/` or `~` is a bind (whose missing folder is made, as
docker-compose did), any other a volume of the file's top-level `volumes`, none an anonymous
volume. Where compose-go silently drops an option it does not know, this reader refuses it.
"""

from __future__ import annotations

import posixpath
from dataclasses import replace

from hatoba.compose.model import BIND, VOLUME, Mount
from hatoba.model.mounts import PROPAGATIONS

# Docker for Mac's hints: no effect on Linux, Docker's neither
CONSISTENCIES = ("consistent", "cached", "delegated", "default")
SELINUX = ("z", "Z")


def parse_short(spec: str) -> Mount:
    """The mount a short entry asks for; its source as written. ValueError says why not."""
    if not spec:
        raise ValueError("invalid empty volume spec")
    parts = spec.split(":")
    if len(spec) <= 2 or len(parts) == 1:
        return Mount(VOLUME, clean_target(spec))
    if "" in parts:
        raise ValueError("empty section between colons")
    if len(parts) > 3:
        raise ValueError("too many colons")
    source, target = parts[0], clean_target(parts[1])
    mount = Mount(BIND if is_host_path(source) else VOLUME, target, source)
    if mount.type == BIND:
        mount = replace(mount, create_host_path=True)
    for option in parts[2].split(",") if len(parts) == 3 else ():
        mount = _with_option(mount, option)
    return mount


def _with_option(mount: Mount, option: str) -> Mount:
    if option in ("ro", "rw"):
        return replace(mount, read_only=option == "ro")
    if option in SELINUX:
        return replace(mount, selinux=option)
    if option in CONSISTENCIES:
        return replace(mount, consistency=option)
    if option == "nocopy":
        if mount.type != VOLUME:
            raise ValueError("nocopy is an option of volumes, not of host paths")
        return replace(mount, nocopy=True)
    if option in PROPAGATIONS:
        if mount.type != BIND:
            raise ValueError(f"{option} is a propagation: an option of host paths, not volumes")
        return replace(mount, propagation=option)
    raise ValueError(f"unknown option {option!r}")


def is_host_path(source: str) -> bool:
    return source[:1] in (".", "/", "~")


def clean_target(target: str) -> str:
    return posixpath.normpath(target) if target else ""


def host_path(source: str, working_dir: str, home: str | None) -> str:
    """An absolute host path: `~` is $HOME (kept as written without one), a relative path is
    in the project directory."""
    if source.startswith("~") and home:
        source = posixpath.normpath(posixpath.join(home, source[1:].lstrip("/")))
    if source.startswith("/"):
        return source
    return posixpath.normpath(posixpath.join(working_dir, source))
