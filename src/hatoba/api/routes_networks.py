"""/networks: list, inspect, create, remove, connect, disconnect, prune."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from hatoba.api import create_fields, docker_json
from hatoba.api.http import Request, Response, Router
from hatoba.drivers import registry as drivers
from hatoba.engine.engine import Engine
from hatoba.engine.state import State
from hatoba.errors import InvalidArgument
from hatoba.model.humanize import parse_rfc3339, parse_timestamp
from hatoba.model.network import Network, NetworkSpec

if TYPE_CHECKING:
    from hatoba.api.app import App


# Docker's accepted filters (daemon/network/filter.go, api/server/router/network)
LIST_FILTERS = frozenset({"driver", "type", "name", "id", "label", "scope", "dangling"})
PRUNE_FILTERS = frozenset({"until", "label", "label!"})


class NetworkMatcher:
    """Docker's network filters: name (substring), id (prefix), driver, label, label!, type,
    scope, dangling (no container attached) and until (created before)."""

    def __init__(
        self,
        filters: dict[str, list[str]],
        accepted: frozenset[str],
        state: State | None = None,
    ) -> None:
        unknown = sorted(set(filters) - accepted)
        if unknown:
            raise InvalidArgument(f"invalid filter '{unknown[0]}'")
        self.filters = filters
        self.state = state
        self.dangling = _dangling(filters.get("dangling"))
        until = filters.get("until")
        self.until = parse_timestamp(until[-1], time.time()) if until else None

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
        if "label" in f and not all(_labelled(network, want) for want in f["label"]):
            return False
        if "label!" in f and any(_labelled(network, want) for want in f["label!"]):
            return False
        if self.until is not None and parse_rfc3339(network.created) >= self.until:
            return False
        if self.dangling is not None and self.state is not None:
            # Docker's filterNetworkByUse: predefined networks are never dangling
            used = network.predefined or bool(self.state.attached(network.id))
            return used != self.dangling
        return True


def _labelled(network: Network, want: str) -> bool:
    key, has_value, value = want.partition("=")
    return key in network.labels and (not has_value or network.labels[key] == value)


def _dangling(values: list[str] | None) -> bool | None:
    if not values:
        return None
    if len(values) > 1:
        raise InvalidArgument('got more than one value for filter key "dangling"')
    if values[0] in ("1", "true"):
        return True
    if values[0] in ("0", "false"):
        return False
    raise InvalidArgument(
        'invalid value for filter \'dangling\', must be "true" (or "1"), or "false" (or "0")'
    )


def _created(engine: Engine, spec: NetworkSpec) -> tuple[Network, list[str]]:
    """On the engine thread: the network made, and the Warning of its create."""
    network = engine.create_network(spec)
    return network, engine.network_warnings(network)


def register(router: Router, app: App) -> None:
    engine, runner = app.engine, app.runner

    async def listing(req: Request) -> Response:
        state = engine.state
        matches = NetworkMatcher(req.filters(), LIST_FILTERS, state)
        nets = sorted((n for n in state.networks.values() if matches(n)), key=lambda n: n.name)
        # Docker lists each network's containers to clients before API 1.28
        detailed = req.older_than("1.28")
        return Response.json(
            [docker_json.network_json(n, state, with_containers=detailed) for n in nets]
        )

    async def inspect(req: Request) -> Response:
        state = engine.state
        network = state.network(req.params["id"])
        peers = engine.network_peers(network)
        return Response.json(
            docker_json.network_json(network, state, with_containers=True, peers=peers)
        )

    async def create(req: Request) -> Response:
        spec = docker_json.network_spec(req.json())
        # one hand-off to the engine thread for both (each costs a pass through the loop)
        network, warnings = await runner.call(_created, engine, spec)
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
            endpoint.mac,
            endpoint.ipv6,
            endpoint.driver_opts,
            endpoint.link_local_ips,
        )
        return Response(200, b"OK", "text/plain")

    async def disconnect(req: Request) -> Response:
        container, force = docker_json.disconnect_request(req.json())
        await runner.call(engine.disconnect, req.params["id"], container, force)
        return Response(200, b"OK", "text/plain")

    async def prune(req: Request) -> Response:
        matches = NetworkMatcher(req.filters(), PRUNE_FILTERS)
        removed = await runner.call(engine.prune_networks, matches)
        return Response.json({"NetworksDeleted": removed})

    router.add("GET", "/networks", listing)
    router.add("POST", "/networks/create", create)
    router.add("POST", "/networks/prune", prune)
    # a network's name may hold slashes, as Docker's routes allow (`{id:.+}`)
    router.add("GET", "/networks/{id*}", inspect)
    router.add("DELETE", "/networks/{id*}", remove)
    router.add("POST", "/networks/{id*}/connect", connect)
    router.add("POST", "/networks/{id*}/disconnect", disconnect)
