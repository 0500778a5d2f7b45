"""An image as the engine needs it to create and run a container."""

from __future__ import annotations

from dataclasses import dataclass

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
    # layer directories, lowest first; empty for `hostfs`
    layers: tuple[str, ...] = ()
