"""Volumes over the API for `up`, `down -v`, `rm -v` and `run`: the project's volumes made
and removed, and the VOLUME paths of images (what a replacement inherits)."""

from __future__ import annotations

import threading

from hatoba.compose import requests
from hatoba.errors import Conflict, NotFound
from hatoba.model.container import is_hostfs

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from hatoba.cli.client import Client
    from hatoba.cli.compose.progress import Progress
    from hatoba.compose.model import Project, Volume


def create_volume(client: Client, project: Project, volume: Volume, progress: Progress) -> None:
    """POST /volumes/create, shown as docker compose shows it (its errors raised)."""
    label = f'Volume "{volume.name}"'
    progress.event(label, "Creating")
    try:
        client.json("POST", "/volumes/create", body=requests.volume_body(project, volume))
    except Exception:
        progress.failed(label, "Error")
        raise
    progress.done(label, "Created")


def remove_volumes(client: Client, names: list[str], progress: Progress) -> None:
    """DELETE /volumes/{name} of each (a folder each: no need to go parallel); one already
    gone is no error, one still in use is kept, with docker compose's warnings."""
    for name in names:
        label = f"Volume {name}"
        progress.event(label, "Removing")
        try:
            client.call("DELETE", f"/volumes/{name}")
        except NotFound:
            progress.done(label, "Warning: No resource found to remove")
        except Conflict:
            progress.failed(label, "Resource is still in use")
        else:
            progress.done(label, "Removed")


class ImageVolumes:
    """image → the paths of its VOLUMEs (GET /images/{image}/json once per image; from
    several threads)."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.lock = threading.Lock()
        self.found: dict[str, frozenset[str]] = {}

    def __call__(self, image: str) -> frozenset[str]:
        with self.lock:
            paths = self.found.get(image)
        if paths is None:
            config: dict[str, Any] = {}
            if not is_hostfs(image):
                config = self.client.json("GET", f"/images/{image}/json").get("Config") or {}
            paths = frozenset(config.get("Volumes") or ())
            with self.lock:
                self.found[image] = paths
        return paths
