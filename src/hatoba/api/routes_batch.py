"""/hatoba/containers/{create,start,stop,remove}: many containers in one request (hatoba's
own API, which `hatoba compose` uses; Docker clients keep the per-container routes).

The engine does each batch in one operation (engine/starts.py, engine/containers.py): one
firewall transaction, one DNS update and one commit for all of its containers. Each container
is still all or nothing, and the answer says, in order, what became of each one: its id (and
the create's warnings), or the error it would have had on its own route.

    POST /hatoba/containers/create  {"Containers": [{"Name": "web-1", "Config": {create body}}]}
    POST /hatoba/containers/start   {"Ids": [...]}
    POST /hatoba/containers/stop    {"Ids": [...], "Timeout": 10}     (null: each one's own)
    POST /hatoba/containers/remove  {"Ids": [...], "Force": true}
    → 200 [{"Id": "…", "Warnings": […]} | {"Id": "…", "Error": {"Message": "…", "Status": 409}}]
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from hatoba.api import create_fields, docker_json
from hatoba.api.http import Request, Response, Router
from hatoba.api.json_body import Json
from hatoba.engine.containers import CreateRequest
from hatoba.errors import HatobaError, InvalidArgument
from hatoba.model.container import Container

if TYPE_CHECKING:
    from hatoba.api.app import App

# more than a compose file asks for at once, few enough that one batch holds up nothing long
MAX_BATCH = 1000


def register(router: Router, app: App) -> None:
    engine, runner, supervisor = app.engine, app.runner, app.supervisor

    async def create(req: Request) -> Response:
        requests: list[CreateRequest | HatobaError] = []
        for item in _items(req.json()["Containers"]):
            try:
                body = item["Config"]
                request = docker_json.create_request(body, item["Name"].string())
                create_fields.check_create(body.value)
            except HatobaError as exc:
                requests.append(exc)
                continue
            requests.append(request)
        wanted = [r for r in requests if isinstance(r, CreateRequest)]
        made = iter(await runner.call(engine.create_containers, wanted))
        answer = []
        for asked in requests:
            if isinstance(asked, HatobaError):
                answer.append(_error("", asked))
                continue
            outcome = next(made)
            if isinstance(outcome, HatobaError):
                answer.append(_error("", outcome))
            else:
                answer.append({"Id": outcome.id, "Warnings": asked.warnings})
        return Response.json(answer)

    async def start(req: Request) -> Response:
        ids = _ids(req)
        wanted = [(cid, app.attacher.expected(cid)) for cid in ids]
        outcomes = await runner.call(engine.start_many, wanted)
        answer = []
        for cid, outcome in zip(ids, outcomes, strict=True):
            if isinstance(outcome, HatobaError):
                app.attacher.abandon(cid, outcome)
                answer.append(_error(cid, outcome))
                continue
            supervisor.started_by_user(outcome)
            await app.attacher.deliver(cid)
            answer.append({"Id": cid})
        return Response.json(answer)

    async def stop(req: Request) -> Response:
        ids = _ids(req)
        timeout = req.json()["Timeout"].integer()
        stopped = await asyncio.gather(
            *(supervisor.stop(cid, timeout) for cid in ids), return_exceptions=True
        )
        answer = [_outcome(cid, outcome) for cid, outcome in zip(ids, stopped, strict=True)]
        return Response.json(answer)

    async def remove(req: Request) -> Response:
        ids = _ids(req)
        outcomes = await supervisor.remove_many(ids, req.json()["Force"].boolean())
        for outcome in outcomes:
            if isinstance(outcome, Container):
                app.execs.forget_container(outcome.id)
        return Response.json([_outcome(cid, o) for cid, o in zip(ids, outcomes, strict=True)])

    def _ids(req: Request) -> list[str]:
        """The containers named, by full id (as `docker ps` or a create answered them)."""
        refs = [ref.string() for ref in _items(req.json()["Ids"])]
        state = engine.state
        return [(c.id if (c := state.find_container(ref)) else ref) for ref in refs]

    router.add("POST", "/hatoba/containers/create", create)
    router.add("POST", "/hatoba/containers/start", start)
    router.add("POST", "/hatoba/containers/stop", stop)
    router.add("POST", "/hatoba/containers/remove", remove)


def _items(value: Json) -> list[Json]:
    items = value.array()
    if len(items) > MAX_BATCH:
        raise InvalidArgument(f"at most {MAX_BATCH} containers in one request")
    return items


def _outcome(cid: str, outcome: object) -> dict[str, Any]:
    if isinstance(outcome, HatobaError):
        return _error(cid, outcome)
    if isinstance(outcome, BaseException):
        raise outcome
    return {"Id": cid}


def _error(cid: str, exc: HatobaError) -> dict[str, Any]:
    return {"Id": cid, "Error": {"Message": exc.message, "Status": exc.status}}
