"""/containers/{id}/exec and /exec/{id}: run more processes in a running container."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from hatoba.api import create_fields, docker_json
from hatoba.api.http import Hijack, RawReader, Request, Response, Router
from hatoba.engine.processes import ExecRequest
from hatoba.errors import Conflict
from hatoba.model.container import RUNNING

if TYPE_CHECKING:
    from hatoba.api.app import App


def register(router: Router, app: App) -> None:
    engine, execs = app.engine, app.execs
    background: set[asyncio.Task[None]] = set()

    async def create(req: Request) -> Response:
        container = engine.state.container(req.params["id"])
        if container.state.restarting:
            raise Conflict(
                f"Container {container.id} is restarting, wait until the container is running"
            )
        if container.state.status != RUNNING:
            raise Conflict(f"Container {container.id} is not running")
        if container.state.paused:
            raise Conflict(
                f"Container {req.params['id']} is paused, unpause the container before exec"
            )
        body = req.json()
        spec = docker_json.exec_spec(body)
        create_fields.check_exec(body.value or {})
        instance = execs.create(container.id, spec, container.config.workdir)
        return Response.json({"Id": instance.id}, 201)

    async def start(req: Request) -> Response | Hijack:
        instance = execs.get(req.params["id"])
        body = req.json()
        detach = body["Detach"].boolean()
        # the output is framed as the start asks, whatever the exec was made with (Docker)
        framed = not body["Tty"].boolean()
        container = engine.state.container(instance.container_id)
        if container.state.status != RUNNING:
            raise Conflict(f"Container {container.id} is not running")
        execs.check_not_run(instance)
        # before the answer: a user the container does not know is the request's error
        process = engine.exec_process(
            container.id,
            ExecRequest(
                argv=instance.argv,
                env=instance.env,
                user=instance.user,
                workdir=instance.workdir,
                tty=instance.tty,
                privileged=instance.privileged,
            ),
        )
        if detach:
            task = asyncio.ensure_future(execs.start(instance, process, None, None))
            background.add(task)
            task.add_done_callback(background.discard)
            return Response(200, b"", "text/plain")

        async def run(client: RawReader, writer: asyncio.StreamWriter) -> None:
            await execs.start(instance, process, client, writer, framed=framed)

        return Hijack(run)

    async def inspect(req: Request) -> Response:
        return Response.json(execs.get(req.params["id"]).json())

    async def resize(req: Request) -> Response:
        execs.resize(req.params["id"], req.int_arg("h", 24), req.int_arg("w", 80))
        return Response(200, b"", "text/plain")

    router.add("POST", "/containers/{id}/exec", create)
    router.add("POST", "/exec/{id}/start", start)
    router.add("GET", "/exec/{id}/json", inspect)
    router.add("POST", "/exec/{id}/resize", resize)
