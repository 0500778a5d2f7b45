"""/containers: create, list, inspect, start, stop, kill, restart, wait, remove, rename, logs,
attach, pause, unpause, update; and hatoba's /hatoba/containers/run (`run -d` in one request)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import platform
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from hatoba.api import api_versions, create_fields, docker_json
from hatoba.api.http import RAW_STREAM, Hijack, RawReader, Request, Response, Router, Streaming
from hatoba.api.logs import LogQuery, point_ns, stream_log
from hatoba.api.streams import close_writer
from hatoba.engine.containers import check_startable
from hatoba.engine.state import State
from hatoba.errors import Conflict, HatobaError, InvalidArgument, NotModified
from hatoba.model import detach_keys
from hatoba.model.container import RESTARTING, RUNNING, Container, is_hostfs, joined_container
from hatoba.model.health import NO_HEALTHCHECK, STATUSES
from hatoba.model.humanize import parse_rfc3339
from hatoba.model.platforms import check_platform, goarch
from hatoba.model.prune import CONTAINER_FILTERS, PruneFilter
from hatoba.model.runmark import RUN_PENDING
from hatoba.model.signals import signal_number

if TYPE_CHECKING:
    from hatoba.api.app import App


class ContainerMatcher:
    """Docker's `ps` filters: name, id, status, label, network, health."""

    def __init__(self, filters: dict[str, list[str]], state: State) -> None:
        for value in filters.get("health", []):
            if value not in STATUSES:
                raise InvalidArgument(f"Unrecognised filter value for health: {value}")
        self.filters = filters
        self.state = state

    def __call__(self, c: Container) -> bool:
        f = self.filters
        if "name" in f and not any(v.lstrip("/") in c.name for v in f["name"]):
            return False
        if "id" in f and not any(c.id.startswith(v) for v in f["id"]):
            return False
        if "status" in f and c.state.shown_status not in f["status"]:
            return False
        if "label" in f:
            for want in f["label"]:
                key, has_value, value = want.partition("=")
                labels = c.config.labels
                if key not in labels or (has_value and labels[key] != value):
                    return False
        if "network" in f:
            nets = self.state.networks
            names = {nets[n.network_id].name for n in c.networks if n.network_id in nets}
            ids = {n.network_id for n in c.networks}
            if not any(v in names or any(i.startswith(v) for i in ids) for v in f["network"]):
                return False
        if "health" in f:
            health = c.state.health
            if (health.status if health is not None else NO_HEALTHCHECK) not in f["health"]:
                return False
        return True


def register(router: Router, app: App) -> None:
    engine, runner, supervisor = app.engine, app.runner, app.supervisor

    async def create(req: Request) -> Response:
        # hatoba's own CLI marks the create of a `run` (RUN_PENDING): see Container.run_pending
        container, warnings = await create_container(req, run_pending=req.flag(RUN_PENDING))
        return Response.json({"Id": container.id, "Warnings": warnings}, 201)

    async def run(req: Request) -> Response:
        """hatoba's `run -d` in one request (one round trip less): the create of a run, then
        its start; a container that does not start is removed, as the CLI removed it after a
        start of its own failed, and the answer has the start's error beside the id."""
        container, warnings = await create_container(req, run_pending=True)
        answer: dict[str, object] = {"Id": container.id, "Warnings": warnings}
        try:
            await start_container(container)
        except HatobaError as exc:
            with contextlib.suppress(HatobaError):  # gone already (--rm)
                await supervisor.remove(container.id, force=True, with_volumes=True)
            answer["Error"] = {"Message": exc.message, "Status": exc.status}
        return Response.json(answer, 201)

    async def create_container(req: Request, *, run_pending: bool) -> tuple[Container, list[str]]:
        body = req.json()
        api_versions.adapt_create(req, body)
        request = docker_json.create_request(body, req.arg("name"), run_pending=run_pending)
        create_fields.check_create(body.value)  # read above: an object of Docker's types
        if req.arg("platform") and not req.older_than("1.41"):
            await check_image_platform(req.arg("platform"), request.config.image)
        return await runner.call(engine.create_container, request), request.warnings

    async def check_image_platform(requested: str, reference: str) -> None:
        """hatoba runs what the host runs; a create that names a platform gets the image's
        checked against it, as Docker 20.10 does."""
        machine = platform.machine()
        if is_hostfs(reference):
            image = ("linux", goarch(machine), "")
        else:
            doc = await asyncio.to_thread(app.images.inspect, reference)
            image = (doc.get("Os", ""), doc.get("Architecture", ""), doc.get("Variant", ""))
        check_platform(requested, reference, image, machine)

    async def listing(req: Request) -> Response:
        state = engine.state
        matches = ContainerMatcher(req.filters(), state)
        show_all = req.flag("all")
        found = [
            c
            for c in state.containers.values()
            # Docker lists a container waiting for its restart among the running ones
            if (show_all or c.state.status in (RUNNING, RESTARTING)) and matches(c)
        ]
        found.sort(key=lambda c: c.created, reverse=True)
        limit = req.int_arg("limit", -1)
        if limit > 0:
            found = found[:limit]
        summaries = []
        for c in found:
            summary = docker_json.container_summary(c, state, engine.volume_path, c.published)
            if req.flag("size"):
                summary.update(await app.sizes(c))
            summaries.append(summary)
        return Response.json(summaries)

    async def inspect(req: Request) -> Response:
        state = engine.state
        container = state.container(req.params["id"])
        # `--net container:` uses the other container's files, as Docker shows
        files_of = joined_container(container.config.network_mode) or container.id
        doc = docker_json.container_json(
            container,
            state,
            log_path=str(app.io.log_path(container.id)),
            files_dir=str(app.io.file_path(files_of, "/etc/hosts").parent),
            sandbox_dir=str(engine.core.paths.netns_dir),
            volume_path=engine.volume_path,
            published=container.published,
        )
        if api_versions.takes_size(req):
            doc.update(await app.sizes(container))
        return Response.json(api_versions.inspect_document(req, doc))

    async def start_request(req: Request) -> Response:
        _refuse_start_body(req)
        return await start(req)

    async def start(req: Request) -> Response:
        await start_container(engine.state.container(req.params["id"]))
        return Response.empty()

    async def start_container(container: Container) -> None:
        check_startable(container)
        try:
            started = await runner.call(
                engine.start, container.id, app.attacher.expected(container.id)
            )
        except HatobaError as exc:
            app.attacher.abandon(container.id, exc)
            if container.config.auto_remove:
                # Docker removes a `--rm` container whose start failed (the docker CLI waits
                # for that before it exits); the start's error is the answer
                with contextlib.suppress(HatobaError):
                    await supervisor.remove(container.id, force=True, with_volumes=True)
            raise
        supervisor.started_by_user(started)
        await app.attacher.deliver(started.id)

    async def stop(req: Request) -> Response:
        await supervisor.stop(req.params["id"], _stop_timeout(req))
        return Response.empty()

    async def restart(req: Request) -> Response:
        try:
            await supervisor.stop(req.params["id"], _stop_timeout(req))
        except NotModified:
            pass
        answer = await start(req)
        app.events.container("restart", engine.state.container(req.params["id"]))
        return answer

    async def kill(req: Request) -> Response:
        try:
            await supervisor.kill(req.params["id"], signal_number(req.arg("signal", "SIGKILL")))
        except Conflict:
            # a container that is not running: no error for clients before 1.20, in Docker
            if not req.older_than("1.20"):
                raise
        return Response.empty()

    async def wait(req: Request) -> Streaming:
        # before API 1.30, Docker reads no condition
        condition = "not-running" if req.older_than("1.30") else req.arg("condition", "not-running")
        if condition not in ("not-running", "next-exit", "removed"):
            raise InvalidArgument(f"invalid condition: {condition}")
        container = engine.state.container(req.params["id"])

        # a streamed answer: its headers go out at once (the docker CLI blocks until it sees
        # them, before it starts the container), the body when the container exits
        async def result() -> AsyncIterator[bytes]:
            try:
                code = await supervisor.wait(container.id, condition)
            except HatobaError as exc:
                yield json.dumps({"StatusCode": -1, "Error": {"Message": exc.message}}).encode()
                return
            yield json.dumps({"StatusCode": code, "Error": None}).encode() + b"\n"

        # before 1.30 the head went out with the body, once the container had exited
        return Streaming(result(), head_with_body=req.older_than("1.30"))

    async def remove(req: Request) -> Response:
        if req.flag("link"):
            # the id is a link's name, `/parent/alias`
            await runner.call(engine.remove_link, req.params["id"])
            return Response.empty()
        removed = await supervisor.remove(
            req.params["id"], force=req.flag("force"), with_volumes=req.flag("v")
        )
        app.execs.forget_container(removed.id)
        return Response.empty()

    async def rename(req: Request) -> Response:
        await runner.call(engine.rename, req.params["id"], req.arg("name"))
        return Response.empty()

    async def logs(req: Request) -> Streaming:
        container = engine.state.container(req.params["id"])
        cid = container.id

        def still_running() -> bool:
            current = engine.state.containers.get(cid)
            return current is not None and current.state.status == RUNNING

        until = req.arg("until")
        query = LogQuery(
            stdout=req.flag("stdout"),
            stderr=req.flag("stderr"),
            follow=req.flag("follow"),
            tail=_tail(req),
            timestamps=req.flag("timestamps"),
            details=req.flag("details"),
            since_ns=point_ns(req.arg("since")) if req.arg("since") else None,
            until_ns=point_ns(until) if until and until != "0" else None,
        )
        query.check()
        return Streaming(
            stream_log(
                app.io.log_path(cid),
                query,
                tty=container.config.tty,
                still_running=still_running,
            ),
            content_type=RAW_STREAM,
        )

    async def attach(req: Request) -> Hijack:
        container = engine.state.container(req.params["id"])
        if container.state.paused:
            raise Conflict(
                f"container {req.params['id']} is paused, unpause the container before attach"
            )
        # `logs`: what the container wrote so far first; without `stream` (Docker's default)
        # that is all, and the answer ends, whether the container runs or not
        replay = LogQuery(stdout=req.flag("stdout"), stderr=req.flag("stderr"))
        keys = detach_keys.from_request(req.arg("detachKeys"), "detach")

        async def run(client: RawReader, writer: asyncio.StreamWriter) -> None:
            if req.flag("logs"):
                path = app.io.log_path(container.id)
                async for chunk in stream_log(
                    path, replay, tty=container.config.tty, still_running=lambda: False
                ):
                    writer.write(chunk)
                    await writer.drain()
            if not req.flag("stream"):
                await close_writer(writer)
                return
            detached = await app.attacher.attach(
                container.id,
                container.state.status == RUNNING,
                client,
                writer,
                tty=container.config.tty,
                stdin=req.flag("stdin"),
                stdout=req.flag("stdout"),
                stderr=req.flag("stderr"),
                stdin_once=container.config.stdin_once,
                detach_keys=keys,
            )
            if detached:
                app.events.container("detach", container)

        return Hijack(run)

    async def resize(req: Request) -> Response:
        container = engine.state.container(req.params["id"])
        await app.attacher.resize(container.id, req.int_arg("h", 24), req.int_arg("w", 80))
        return Response(200, b"", "text/plain")

    async def prune(req: Request) -> Response:
        rule = PruneFilter.parse(req.filters(), CONTAINER_FILTERS, time.time())

        def matches(c: Container) -> bool:
            return rule.matches(c.config.labels, parse_rfc3339(c.created))

        state = engine.state
        stopped = [
            c.id
            for c in state.containers.values()
            if not (c.state.running or c.state.restarting) and matches(c)
        ]
        sizes = {cid: await asyncio.to_thread(app.files.layer_size, cid) for cid in stopped}
        removed = await runner.call(engine.prune_containers, lambda c: c.id in sizes and matches(c))
        for container in removed:
            supervisor.forget_removed(container)
            app.execs.forget_container(container.id)
        return Response.json(
            {
                "ContainersDeleted": [c.id for c in removed] or None,
                "SpaceReclaimed": sum(sizes[c.id] for c in removed),
            }
        )

    async def pause(req: Request) -> Response:
        await supervisor.pause(req.params["id"])
        return Response.empty()

    async def unpause(req: Request) -> Response:
        await supervisor.unpause(req.params["id"])
        return Response.empty()

    async def update(req: Request) -> Response:
        body = req.json()
        api_versions.adapt_update(req, body)
        request = docker_json.update_request(body)
        create_fields.check_update(body.value)  # read above: an object of Docker's types
        updated = await runner.call(engine.update, req.params["id"], request)
        app.events.container("update", updated)
        return Response.json({"Warnings": request.warnings or None})

    router.add("POST", "/containers/create", create)
    router.add("POST", "/hatoba/containers/run", run)
    router.add("POST", "/containers/prune", prune)
    router.add("GET", "/containers/json", listing)
    router.add("GET", "/containers/{id}/json", inspect)
    router.add("POST", "/containers/{id}/start", start_request)
    router.add("POST", "/containers/{id}/stop", stop)
    router.add("POST", "/containers/{id}/restart", restart)
    router.add("POST", "/containers/{id}/kill", kill)
    router.add("POST", "/containers/{id}/wait", wait)
    # a link's name (`rm --link /parent/alias`) spans a slash
    router.add("DELETE", "/containers/{id*}", remove)
    router.add("POST", "/containers/{id}/rename", rename)
    router.add("GET", "/containers/{id}/logs", logs)
    router.add("POST", "/containers/{id}/attach", attach)
    router.add("POST", "/containers/{id}/resize", resize)
    router.add("POST", "/containers/{id}/pause", pause)
    router.add("POST", "/containers/{id}/unpause", unpause)
    router.add("POST", "/containers/{id}/update", update)


def _refuse_start_body(req: Request) -> None:
    """A start request says nothing more (a restart's body is not read at all)."""
    # Docker's test: a JSON object with anything in it is longer than 7 bytes
    if len(req.body) <= 7:
        return
    if not req.older_than("1.24"):
        raise InvalidArgument(
            "starting container with non-empty request body was deprecated since API v1.22 "
            "and removed in v1.24"
        )
    # what such clients send is a HostConfig, which Docker then applies
    raise InvalidArgument(
        "hatoba does not take a HostConfig in a start request (API before 1.24): send it with "
        "the create"
    )


def _stop_timeout(req: Request) -> int | None:
    """`t`: seconds to wait before SIGKILL; absent: the container's own or the default."""
    return req.int_arg("t", 0) if req.arg("t") else None


def _tail(req: Request) -> int | None:
    """`tail`: the last n lines; "all", a negative number or one Go cannot read mean all of
    them, as in Docker."""
    try:
        tail = int(req.arg("tail", "all"))
    except ValueError:
        return None
    return tail if tail >= 0 else None
