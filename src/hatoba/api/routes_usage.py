"""/containers/{id}/stats and /containers/{id}/top: what a container uses, and its processes.

Stats, as Docker's: `stream=false` answers one document whose precpu_stats is a sample one
period before (`one-shot=true`: at once, without it); a stream sends a document every period,
nothing while the container is not running, and ends when it is removed. Samples are taken
off the loop; a stream keeps one meter (its netlink socket in the container's namespace) for
as long as the same process runs.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

from hatoba.api import api_versions, docker_json
from hatoba.api.http import Request, Response, Router, Streaming
from hatoba.api.ports import Meter, Meters
from hatoba.errors import Conflict, HatobaError, InvalidArgument
from hatoba.model.container import Container
from hatoba.observe.usage import Sample, ps_argv, ps_table

if TYPE_CHECKING:
    from hatoba.api.app import App


def register(router: Router, app: App) -> None:
    engine = app.engine

    def meters() -> Meters:
        if app.meters is None:
            raise HatobaError("this service cannot read containers' counters")
        return app.meters

    async def stats(req: Request) -> Response | Streaming:
        container = engine.state.container(req.params["id"])
        stream = req.bool_arg("stream", True)
        # read from API 1.41 on, as Docker does
        one_shot = not req.older_than("1.41") and req.bool_arg("one-shot", False)
        if stream and one_shot:
            raise InvalidArgument("cannot have stream=true and one-shot=true")

        def document(container: Container, sample: Sample, previous: Sample | None) -> bytes:
            doc = docker_json.stats_json(container, sample, previous)
            return json.dumps(api_versions.stats_document(req, doc)).encode() + b"\n"

        if stream:
            return Streaming(_stream(app, meters(), container.id, document))
        if not container.state.running:
            # Docker's answer here has the current shape at every version
            return Response.json(docker_json.stats_json(container, None, None))
        meter = await asyncio.to_thread(meters().meter, container.state.pid, container.netns)
        try:
            first = await asyncio.to_thread(meter.sample, _ifnames(container))
            if one_shot:
                return Response(200, document(container, first, None))
            await asyncio.sleep(app.stats_period)
            second = await asyncio.to_thread(meter.sample, _ifnames(container))
            return Response(200, document(container, second, first))
        finally:
            await asyncio.to_thread(meter.close)

    async def top(req: Request) -> Response:
        container = engine.state.container(req.params["id"])
        argv = ps_argv(req.arg("ps_args"))
        if container.state.restarting:
            raise Conflict(
                f"Container {container.id} is restarting, wait until the container is running"
            )
        if not container.state.running:
            raise Conflict(f"Container {container.id} is not running")
        tools = meters()
        pids = await asyncio.to_thread(tools.processes, container.state.pid)
        output = await asyncio.to_thread(tools.ps, argv, pids)
        titles, rows = ps_table(output, pids)
        return Response.json({"Titles": titles, "Processes": rows})

    router.add("GET", "/containers/{id}/stats", stats)
    router.add("GET", "/containers/{id}/top", top)


async def _stream(
    app: App,
    meters: Meters,
    container_id: str,
    document: Callable[[Container, Sample, Sample | None], bytes],
) -> AsyncIterator[bytes]:
    meter: Meter | None = None
    previous: Sample | None = None
    try:
        while (container := app.engine.state.containers.get(container_id)) is not None:
            running = container.state.running
            if meter is not None and (not running or meter.pid != container.state.pid):
                await asyncio.to_thread(meter.close)  # stopped, or started again
                meter, previous = None, None
            if running:
                if meter is None:
                    meter = await asyncio.to_thread(
                        meters.meter, container.state.pid, container.netns
                    )
                try:
                    sample = await asyncio.to_thread(meter.sample, _ifnames(container))
                except (HatobaError, OSError):
                    sample = None  # it stopped while we read: the next round says so
                if sample is not None:
                    yield document(container, sample, previous)
                    previous = sample
            await asyncio.sleep(app.stats_period)
    finally:
        if meter is not None:
            await asyncio.to_thread(meter.close)


def _ifnames(container: Container) -> list[str]:
    return [ep.ifname for ep in container.endpoints if ep.ifname]
