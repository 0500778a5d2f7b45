"""/networks: list, inspect, create, remove, connect, disconnect, prune."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hatoba.api import create_fields, docker_json
from hatoba.api.http import Request, Response, Router
from hatoba.drivers import registry as drivers
from hatoba.model.network import Network

if TYPE_CHECKING:
    from hatoba.api.app import App


class NetworkMatcher:
    """Docker's network filters: name (substring), id (prefix), driver, label, type, scope."""

    def __init__(self, filters: dict[str, list[str]]) -> None:
        self.filters = filters

    def __call__(self, network: Network) -> bool:
        f = self.filters
        if "name" in f and not any(v in network.name for v in f["name"]):
            return False
        if "id" in f and not any(network.id.startswith(v) for v in f["id"]):
            return False
        if "driver" in f and network.driver not in f["driver"]:
            return False
        if "scope" in f and drivers.of(network).scope not in f["scope"]:
            return False
        if "type" in f:
            kind = "builtin" if network.predefined else "custom"
            if kind not in f["type"]:
                return False
        if "label" in f:
            for want in f["label"]:
                key, has_value, value = want.partition("=")
                if key not in network.labels or (has_value and network.labels[key] != value):
                    return False
        return True


def register(router: Router, app: App) -> None:
    engine, runner = app.engine, app.runner

    async def listing(req: Request) -> Response:
        matches = NetworkMatcher(req.filters())
        state = engine.state
        nets = sorted((n for n in state.networks.values() if matches(n)), key=lambda n: n.name)
        return Response.json(
            [docker_json.network_json(n, state, with_containers=False) for n in nets]
        )

    async def inspect(req: Request) -> Response:
        state = engine.state
        network = state.network(req.params["id"])
        return Response.json(docker_json.network_json(network, state, with_containers=True))

    async def create(req: Request) -> Response:
        spec = docker_json.network_spec(req.json())
        network = await runner.call(engine.create_network, spec)
        warnings = await runner.call(engine.network_warnings, network)
        return Response.json({"Id": network.id, "Warning": "\n".join(warnings)}, 201)

    async def remove(req: Request) -> Response:
        await runner.call(engine.remove_network, req.params["id"])
        return Response.empty()

    async def connect(req: Request) -> Response:
        body = req.json()
        container, endpoint = docker_json.connect_request(req.params["id"], body)
        create_fields.check_endpoint(body["EndpointConfig"].value)
        await runner.call(
            engine.connect,
            endpoint.network,
            container,
            endpoint.aliases,
            endpoint.ipv4,
            endpoint.links,
        )
        return Response(200, b"OK", "text/plain")

    async def disconnect(req: Request) -> Response:
        container, force = docker_json.disconnect_request(req.json())
        await runner.call(engine.disconnect, req.params["id"], container, force)
        return Response(200, b"OK", "text/plain")

    async def prune(req: Request) -> Response:
        removed = await runner.call(engine.prune_networks, NetworkMatcher(req.filters()))
        return Response.json({"NetworksDeleted": removed})

    router.add("GET", "/networks", listing)
    router.add("POST", "/networks/create", create)
    router.add("POST", "/networks/prune", prune)
    router.add("GET", "/networks/{id}", inspect)
    router.add("DELETE", "/networks/{id}", remove)
    router.add("POST", "/networks/{id}/connect", connect)
    router.add("POST", "/networks/{id}/disconnect", disconnect)
