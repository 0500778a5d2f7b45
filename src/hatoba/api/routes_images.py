"""/images: list, inspect, import, load, save, tag, remove.

Removing and tagging run on the engine's worker thread, so they serialise with container
creation (an image cannot vanish between `create` resolving it and the container existing).
Import, load and save are long file work: they run on the image runner and only take the
store's lock for their short commit, so network and container operations go on meanwhile.
Listing and inspecting read the store beside them. Archives arrive in a temporary file first:
no worker waits on a slow client.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import IO, TYPE_CHECKING, Any

from hatoba.api.http import Request, Response, Router, Streaming
from hatoba.api.routes_absent import no_registry
from hatoba.api.streams import file_chunks
from hatoba.errors import HatobaError, InvalidArgument
from hatoba.model.prune import IMAGE_FILTERS, PruneFilter

if TYPE_CHECKING:
    from hatoba.api.app import App

_CHUNK = 1 << 20


def register(router: Router, app: App) -> None:
    images, runner, long_work = app.images, app.runner, app.image_runner

    def in_use(image_id: str) -> list[str]:
        containers = app.engine.state.containers.values()
        return [c.id for c in containers if c.config.image_id == image_id]

    def is_running(container_id: str) -> bool:
        container = app.engine.state.containers.get(container_id)
        # one waiting for its restart counts as running, as in Docker
        return container is not None and (container.state.running or container.state.restarting)

    async def listing(req: Request) -> Response:
        filters = req.filters()
        if req.older_than("1.41") and req.arg("filter"):
            # the argument these clients had before `filters`
            filters.setdefault("reference", []).append(req.arg("filter"))
        return Response.json(await asyncio.to_thread(images.summaries, filters))

    async def inspect(req: Request) -> Response:
        return Response.json(await asyncio.to_thread(images.inspect, req.params["name"]))

    async def create(req: Request) -> Response:
        """Only `docker import` (fromSrc=-): hatoba has no registry to pull from."""
        pulled = req.arg("fromImage")
        if pulled:
            tag = req.arg("tag")
            raise no_registry(f"{pulled}:{tag}" if tag else pulled)
        if req.arg("fromSrc") != "-":
            raise InvalidArgument(
                "importing from a URL is not supported: send the archive as the request body"
                " (fromSrc=-)"
            )
        image_id = await long_work.call(
            images.import_rootfs,
            _body(req),
            req.arg("repo"),
            req.arg("tag"),
            [c for c in req.query.get("changes", []) if c],
            req.arg("message"),
        )
        return _json_lines([{"status": image_id}])

    async def load(req: Request) -> Response:
        # Docker answers 200 and reports a failed load inside the JSON stream
        try:
            lines = await long_work.call(images.load, _body(req))
        except HatobaError as exc:
            return _json_lines([{"errorDetail": {"message": exc.message}, "error": exc.message}])
        return _json_lines([{"stream": line + "\n"} for line in lines])

    async def save(req: Request) -> Streaming:
        names = req.params.get("name")
        archive = await long_work.call(
            images.save, [names] if names else [n for n in req.query.get("names", []) if n]
        )
        return Streaming(file_chunks(archive), "application/x-tar")

    async def tag(req: Request) -> Response:
        await runner.call(images.tag, req.params["name"], req.arg("repo"), req.arg("tag"))
        return Response.empty(201)

    async def remove(req: Request) -> Response:
        records = await runner.call(
            images.remove, req.params["name"], req.flag("force"), in_use, is_running
        )
        return Response.json(records)

    async def prune(req: Request) -> Response:
        rule = PruneFilter.parse(req.filters(), IMAGE_FILTERS, time.time())
        records, reclaimed = await runner.call(images.prune, rule, in_use)
        return Response.json({"ImagesDeleted": records or None, "SpaceReclaimed": reclaimed})

    upload = images.upload_file
    router.add("GET", "/images/json", listing)
    router.add("POST", "/images/prune", prune)
    router.add("POST", "/images/create", create, body_file=upload)
    router.add("POST", "/images/load", load, body_file=upload)
    router.add("GET", "/images/get", save)
    router.add("GET", "/images/{name*}/get", save)
    router.add("GET", "/images/{name*}/json", inspect)
    router.add("POST", "/images/{name*}/tag", tag)
    router.add("DELETE", "/images/{name*}", remove)


def _body(req: Request) -> IO[bytes]:
    assert req.body_file is not None  # the routes above are registered with a body file
    return req.body_file


def _json_lines(messages: list[dict[str, Any]]) -> Response:
    """Docker's progress stream: one JSON message per line, CRLF-terminated."""
    lines = (json.dumps(m, separators=(",", ":")).encode() + b"\r\n" for m in messages)
    return Response(200, b"".join(lines))
