"""What hatoba has no part in — swarm mode, image builds, registries — answered as Docker
answers a client there, so that scripts and test harnesses fail with a reason or carry on.

A non-swarm Docker answers every swarm request 503 (clients call `POST /swarm/leave` to be
sure); a registry Docker cannot reach fails a pull before any progress; a failed build is a
200 whose JSON stream ends with the error, which the docker CLI and the SDK report.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from hatoba.api.http import Request, Response, Router
from hatoba.errors import NotFound, Unavailable

if TYPE_CHECKING:
    from hatoba.api.app import App

# Docker's texts (daemon/cluster/errors.go, cluster.go errNoManager)
NOT_IN_SWARM = "This node is not part of a swarm"
NOT_A_MANAGER = (
    'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to '
    "connect this node to swarm and try again."
)
NO_SWARM_MODE = (
    "hatoba has no swarm mode: it runs containers on this host (networks that span hosts are "
    "overlay networks with a cluster store)"
)
_IMPORT_INSTEAD = (
    "bring the image in with `docker load` (an archive made by `docker save` where a registry "
    "is reachable) or `docker import` (a root file system tarball)"
)
NO_BUILDER = (
    "hatoba builds no images and reaches no registry: build where Docker runs, then "
    + _IMPORT_INSTEAD
)

# the routes of Docker 20.10's swarm routers that need a manager
MANAGER_ROUTES = [
    ("GET", "/swarm"),
    ("POST", "/swarm/update"),
    ("GET", "/swarm/unlockkey"),
    ("POST", "/swarm/unlock"),
    *[
        route
        for noun in ("services", "nodes", "tasks", "secrets", "configs")
        for route in (("GET", f"/{noun}"), ("GET", f"/{noun}/{{id}}"))
    ],
    ("GET", "/services/{id}/logs"),
    ("GET", "/tasks/{id}/logs"),
    ("POST", "/services/create"),
    ("POST", "/secrets/create"),
    ("POST", "/configs/create"),
    *[("POST", f"/{noun}/{{id}}/update") for noun in ("services", "nodes", "secrets", "configs")],
    *[("DELETE", f"/{noun}/{{id}}") for noun in ("services", "nodes", "secrets", "configs")],
]

LEAVE = ("POST", "/swarm/leave")
INIT_OR_JOIN = [("POST", "/swarm/init"), ("POST", "/swarm/join")]
# every swarm route: each answers 503, whatever the request
SWARM_ROUTES = [*MANAGER_ROUTES, LEAVE, *INIT_OR_JOIN]


def no_registry(reference: str) -> NotFound:
    """A pull or a registry lookup: nothing can be found where nothing is reachable."""
    return NotFound(
        f"cannot pull {reference}: no registry is reachable from hatoba; {_IMPORT_INSTEAD}"
    )


def register(router: Router, app: App) -> None:
    async def not_a_manager(req: Request) -> Response:
        raise Unavailable(NOT_A_MANAGER)

    async def leave(req: Request) -> Response:
        raise Unavailable(NOT_IN_SWARM)

    async def init_or_join(req: Request) -> Response:
        raise Unavailable(NO_SWARM_MODE)

    async def build(req: Request) -> Response:
        # the build context (the body) is read and dropped; the answer is Docker's failed build
        message = {"errorDetail": {"message": NO_BUILDER}, "error": NO_BUILDER}
        return Response(200, json.dumps(message).encode() + b"\r\n")

    async def distribution(req: Request) -> Response:
        raise no_registry(req.params["name"])

    for method, path in MANAGER_ROUTES:
        router.add(method, path, not_a_manager)
    router.add(*LEAVE, leave)
    for method, path in INIT_OR_JOIN:
        router.add(method, path, init_or_join)
    router.add("POST", "/build", build, body_file=app.images.upload_file)
    router.add("GET", "/distribution/{name*}/json", distribution)
