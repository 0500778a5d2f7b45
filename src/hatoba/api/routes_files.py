"""A container's files: /containers/{id}/archive (HEAD: a path's stat; GET: its tar; PUT:
unpack a tar into a folder; POST /containers/{id}/copy: a path's tar for clients before API
1.24), /containers/{id}/export, /containers/{id}/changes, /commit
(a running container paused meanwhile, as Docker's `pause=1` default).

The work is file I/O in the files helper (runtime/files.py) and runs off the loop. A write
into a stopped container runs on the engine's worker, so that no start mounts the container's
layer while it is written; reads of a stopped container mount it read-only and need not.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from typing import TYPE_CHECKING, Any

from hatoba.api import docker_json
from hatoba.api.http import Request, Response, Router, Streaming
from hatoba.api.streams import file_chunks
from hatoba.engine.processes import ExecRequest
from hatoba.errors import HatobaError, InvalidArgument, NotFound
from hatoba.model.container import HOSTFS_IMAGE
from hatoba.model.image import CommitOptions

if TYPE_CHECKING:
    from hatoba.api.app import App

_CHUNK = 1 << 16
_STAT_HEADER = "X-Docker-Container-Path-Stat"
_TAR = "application/x-tar"


class NoFiles:
    """The files of a service without a runtime (tests of other parts): none."""

    def _refuse(self, *args: object, **kwargs: object) -> Any:
        raise InvalidArgument("this service has no access to containers' files")

    stat = archive = extract = export = changes = write_layer = _refuse

    def layer_size(self, container_id: str) -> int:
        return 0  # no files, no bytes


def _path(req: Request) -> str:
    path = req.arg("path")
    if not path:
        raise InvalidArgument("bad parameter: path cannot be empty")
    return path


def _stat_header(stat: dict[str, Any]) -> tuple[str, str]:
    return _STAT_HEADER, base64.b64encode(json.dumps(stat).encode()).decode()


def register(router: Router, app: App) -> None:
    engine, runner, files = app.engine, app.runner, app.files

    async def stat(req: Request) -> Response:
        name = req.params["id"]
        view = await asyncio.to_thread(engine.file_view, name)
        found = await asyncio.to_thread(files.stat, view, _path(req), name)
        return Response(200, b"", "", headers=[_stat_header(found)])

    async def archive(req: Request) -> Streaming:
        name = req.params["id"]
        view = await asyncio.to_thread(engine.file_view, name)
        found, reader = await asyncio.to_thread(files.archive, view, _path(req), name)
        return Streaming(file_chunks(reader, _CHUNK), _TAR, headers=[_stat_header(found)])

    async def extract(req: Request) -> Response:
        name = req.params["id"]
        path = _path(req)
        assert req.body_file is not None  # registered with a body file
        container = engine.state.container(name)
        owner = None
        if req.flag("copyUIDGID") and container.config.user:
            # Docker's -a: the files belong to the container's user
            user = await asyncio.to_thread(engine.exec_process, container.id, ExecRequest(argv=()))
            owner = (user.user.uid, user.user.gid)
        view = await asyncio.to_thread(engine.file_view, container.id)
        call = runner.call if not view.shim_pid else asyncio.to_thread
        await call(
            files.extract,
            view,
            path,
            name,
            req.body_file,
            no_overwrite_dir_non_dir=req.flag("noOverwriteDirNonDir"),
            owner=owner,
        )
        return Response(200, b"", "")

    async def copy(req: Request) -> Streaming:
        """The tar of one path, for clients before API 1.24 (`archive` replaced it)."""
        if not req.older_than("1.24"):
            # Docker's 404 has no body; a reason helps more
            raise NotFound("copy was removed in API v1.24: use GET /containers/{id}/archive")
        if not req.body.strip():
            raise InvalidArgument("got EOF while reading request body")
        resource = req.json()["Resource"].string()
        if not resource:
            raise InvalidArgument("Path cannot be empty")
        name = req.params["id"]
        view = await asyncio.to_thread(engine.file_view, name)
        _, reader = await asyncio.to_thread(files.archive, view, "/" + resource.lstrip("/"), name)
        return Streaming(file_chunks(reader, _CHUNK), _TAR)

    async def export(req: Request) -> Streaming:
        view = await asyncio.to_thread(engine.file_view, req.params["id"])
        reader = await asyncio.to_thread(files.export, view)
        return Streaming(file_chunks(reader, _CHUNK), _TAR)

    async def changes(req: Request) -> Response:
        view = await asyncio.to_thread(engine.file_view, req.params["id"])
        found = await asyncio.to_thread(files.changes, view)
        return Response.json([{"Path": p, "Kind": k} for p, k in found] or None)

    async def commit(req: Request) -> Response:
        ref = req.arg("container")
        if not ref:
            raise NotFound("No such container: ")
        container = engine.state.container(ref)
        if container.config.image_id == HOSTFS_IMAGE:
            raise InvalidArgument(
                "hatoba cannot commit a hostfs container: its files are the host's, it has "
                "no layer of its own"
            )
        body = req.json()
        body.entries()  # an object (or null)
        options = CommitOptions(
            repo=req.arg("repo"),
            tag=req.arg("tag"),
            author=req.arg("author"),
            comment=req.arg("comment"),
            changes=[c for c in req.query.get("changes", []) if c],
            config=body.value or None,
        )
        own = docker_json.container_config_json(container)
        if own.get("StopSignal") == "SIGTERM":
            del own["StopSignal"]  # hatoba's default, not a setting of the container
        # Docker pauses a running container unless asked not to (pause=0), so that its
        # files hold still while the layer is written; like Docker it commits unpaused
        # when the pause fails (no freezer). Before API 1.13 only when asked (pause=1).
        paused = False
        pause = req.bool_arg("pause", not req.older_than("1.13"))
        if pause and container.state.running and not container.state.paused:
            with contextlib.suppress(HatobaError):
                await app.supervisor.pause(container.id)
                paused = True
        try:
            view = await asyncio.to_thread(engine.file_view, container.id)
            image_id = await app.image_runner.call(
                app.images.commit,
                lambda out: files.write_layer(view, out),
                container.config.image_id,
                own,
                container.id,
                options,
            )
        finally:
            if paused:
                with contextlib.suppress(HatobaError):
                    await app.supervisor.unpause(container.id)
        return Response.json({"Id": image_id}, 201)

    upload = app.images.upload_file
    router.add("HEAD", "/containers/{id}/archive", stat)
    router.add("GET", "/containers/{id}/archive", archive)
    router.add("PUT", "/containers/{id}/archive", extract, body_file=upload)
    router.add("POST", "/containers/{id}/copy", copy)
    router.add("GET", "/containers/{id}/export", export)
    router.add("GET", "/containers/{id}/changes", changes)
    router.add("POST", "/commit", commit)
