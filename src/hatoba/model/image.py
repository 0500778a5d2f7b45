"""An image as the engine needs it to create and run a container."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hatoba.model.health import HealthConfig


@dataclass(frozen=True)
class ImageInfo:
    id: str
    reference: str
    cmd: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    workdir: str = ""
    exposed_ports: tuple[str, ...] = ()
    # USER: the container's user unless `-u` says otherwise
    user: str = ""
    healthcheck: HealthConfig | None = None
    # VOLUME: where containers get anonymous volumes
    volumes: tuple[str, ...] = ()
    # layer directories, lowest first; empty for `hostfs`
    layers: tuple[str, ...] = ()


@dataclass(frozen=True)
class CommitOptions:
    """What `POST /commit` asks besides the container."""

    repo: str = ""
    tag: str = ""
    author: str = ""
    comment: str = ""
    changes: Sequence[str] = ()
    # the request body: a container config (Go-shaped) in place of the container's own
    config: Mapping[str, Any] | None = None
