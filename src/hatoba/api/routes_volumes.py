"""/volumes: list, inspect, create, remove, prune (the local driver only)."""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

from hatoba.api import docker_json
from hatoba.api.http import Request, Response, Router
from hatoba.engine.state import State
from hatoba.errors import InvalidArgument
from hatoba.model.mounts import Volume
from hatoba.model.prune import VOLUME_FILTERS, PruneFilter

if TYPE_CHECKING:
    from hatoba.api.app import App

_LIST_FILTERS = frozenset({"dangling", "driver", "label", "name"})


def _labelled(volume: Volume, wanted: str) -> bool:
    key, has_value, value = wanted.partition("=")
    labels = volume.labels or {}
    return key in labels and (not has_value or labels[key] == value)


class VolumeMatcher:
    """Docker's filters of a volume list: dangling, driver, label and name (a regular
    expression)."""

    def __init__(self, filters: dict[str, list[str]], state: State):
        for key in filters:
            if key not in _LIST_FILTERS:
                raise InvalidArgument(f"Invalid filter '{key}'")
        self.filters = filters
        self.state = state
        self.dangling: bool | None = None
        for value in filters.get("dangling", []):
            if value.lower() not in ("true", "1", "false", "0"):
                raise InvalidArgument(f"Invalid filter 'dangling=[{value}]'")
            self.dangling = value.lower() in ("true", "1")
        try:
            self.names = [re.compile(v) for v in filters.get("name", [])]
        except re.error as exc:
            raise InvalidArgument(f"Invalid filter 'name': {exc}") from None

    def __call__(self, volume: Volume) -> bool:
        f = self.filters
        if self.names and not any(p.search(volume.name) for p in self.names):
            return False
        if "driver" in f and volume.driver not in f["driver"]:
            return False
        if not all(_labelled(volume, w) for w in f.get("label", [])):
            return False
        return self.dangling is None or self.dangling == (not self.state.volume_users(volume.name))


def register(router: Router, app: App) -> None:
    engine, runner = app.engine, app.runner

    def as_json(volume: Volume) -> dict[str, object]:
        return docker_json.volume_json(volume, engine.volume_path(volume.name))

    async def listing(req: Request) -> Response:
        state = engine.state
        matches = VolumeMatcher(req.filters(), state)
        found = sorted((v for v in state.volumes.values() if matches(v)), key=lambda v: v.name)
        return Response.json({"Volumes": [as_json(v) for v in found], "Warnings": None})

    async def inspect(req: Request) -> Response:
        return Response.json(as_json(engine.state.volume(req.params["name"])))

    async def create(req: Request) -> Response:
        body = req.json()
        volume = await runner.call(
            engine.create_volume,
            body["Name"].string(),
            body["Driver"].string(),
            docker_json.optional_string_map(body["Labels"]),
            docker_json.optional_string_map(body["DriverOpts"]),
        )
        return Response.json(as_json(volume), 201)

    async def remove(req: Request) -> Response:
        await runner.call(engine.remove_volume, req.params["name"], req.flag("force"))
        return Response.empty()

    async def prune(req: Request) -> Response:
        rule = PruneFilter.parse(req.filters(), VOLUME_FILTERS, time.time())
        deleted, reclaimed = await runner.call(
            engine.prune_volumes, lambda v: rule.matches(v.labels)
        )
        return Response.json({"VolumesDeleted": deleted, "SpaceReclaimed": reclaimed})

    router.add("GET", "/volumes", listing)
    router.add("POST", "/volumes/create", create)
    router.add("POST", "/volumes/prune", prune)
    router.add("GET", "/volumes/{name}", inspect)
    router.add("DELETE", "/volumes/{name}", remove)
