"""GET /events: the engine's commits read as Docker's container and network events, in
Docker's order, with its JSON, filters, and `since`/`until` over the kept events."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from fakes import FakeRuntime, fake_engine
from hatoba.api.events import Event, EventFilter, EventLog, changes
from hatoba.engine.containers import CreateRequest
from hatoba.engine.engine import Engine
from hatoba.engine.state import State
from hatoba.model.container import ContainerConfig
from hatoba.model.launch import ExitStatus
from hatoba.model.network import NetworkSpec


@pytest.fixture
def world(tmp_path: Path) -> tuple[Engine, FakeRuntime]:
    runtime = FakeRuntime()
    return fake_engine(tmp_path, runtime), runtime


def recorded(engine: Engine) -> list[Event]:
    """The events of each commit from now on, as the service's event log reads them."""
    seen: list[Event] = []
    last = [engine.state]

    def committed() -> None:
        before, last[0] = last[0], engine.state
        seen.extend(changes(before, last[0], 1))

    engine.on_change(committed)
    return seen


def create(engine: Engine, name: str, net: str) -> str:
    cfg = ContainerConfig(
        image="hostfs",
        cmd=("sleep", "infinity"),
        network_mode=net,
        labels={"com.docker.compose.project": "proj"},
    )
    return engine.create_container(CreateRequest(cfg, name=name)).id


def lifecycle(
    engine: Engine, runtime: FakeRuntime
) -> tuple[str, list[tuple[str, str, dict[str, str]]]]:
    """Create, start, connect, exit, rename, remove, as the events of each commit."""
    seen = recorded(engine)
    engine.create_network(NetworkSpec(name="front"))
    engine.create_network(NetworkSpec(name="back"))
    cid = create(engine, "web", "front")
    engine.start(cid)
    engine.connect("back", "web")
    runtime.exits[cid] = ExitStatus(code=3, finished_at="2026-12-06T00:00:00Z")
    engine.exited(cid)
    engine.rename("web", "web2")
    engine.remove("web2")
    engine.remove_network("back")
    return cid, [(e.type, e.action, dict(e.attributes)) for e in seen]


def test_commits_read_as_dockers_events_in_its_order(world: tuple[Engine, FakeRuntime]) -> None:
    engine, runtime = world
    cid, events = lifecycle(engine, runtime)
    assert [(t, a) for t, a, _ in events] == [
        ("network", "create"),
        ("network", "create"),
        ("container", "create"),
        ("network", "connect"),
        ("container", "start"),
        ("network", "connect"),
        ("container", "die"),
        ("network", "disconnect"),
        ("network", "disconnect"),
        ("container", "rename"),
        ("container", "destroy"),
        ("network", "destroy"),
    ]
    assert events[3][2] == {"container": cid, "name": "front", "type": "bridge"}
    die = events[6][2]
    assert die == {
        "com.docker.compose.project": "proj",
        "image": "hostfs",
        "name": "web",
        "exitCode": "3",
    }
    assert events[9][2]["oldName"] == "/web" and events[9][2]["name"] == "web2"


def test_the_touched_containers_give_the_events_a_comparison_of_all_gives(
    world: tuple[Engine, FakeRuntime],
) -> None:
    engine, runtime = world
    engine.create_network(NetworkSpec(name="side"))
    others = [create(engine, f"other{i}", "side") for i in range(3)]
    engine.start(others[1])
    touched: list[Event] = []
    compared: list[Event] = []
    last = [engine.state]

    def committed() -> None:
        before, last[0] = last[0], engine.state
        touched.extend(changes(before, last[0], 1))
        # the same snapshot under another identity: no history leads from it
        unrelated = State(before.networks, before.containers, before.volumes)
        assert last[0].containers_touched_since(unrelated) is None
        compared.extend(changes(unrelated, last[0], 1))

    engine.on_change(committed)
    _, events = lifecycle(engine, runtime)
    engine.remove(others[0])
    assert len(touched) == len(events) + 1
    assert touched == compared


def test_volumes_made_and_removed_are_events(world: tuple[Engine, FakeRuntime]) -> None:
    engine, _ = world
    seen = recorded(engine)
    engine.create_volume("data")
    cid = engine.create_container(
        CreateRequest(ContainerConfig("hostfs", cmd=("true",), binds=("logs:/logs",)), "c1")
    ).id
    engine.remove(cid)
    engine.remove_volume("data")
    assert [(e.type, e.action, e.actor) for e in seen if e.type != "container"] == [
        ("volume", "create", "data"),
        ("volume", "create", "logs"),
        ("volume", "destroy", "data"),
    ]
    assert seen[0].json()["Actor"] == {"ID": "data", "Attributes": {"driver": "local"}}
    # a container's new volumes come before its own create
    assert [e.action for e in seen[1:3]] == ["create", "create"] and seen[2].type == "container"


def test_event_json_is_dockers(world: tuple[Engine, FakeRuntime]) -> None:
    engine, _ = world
    before = engine.state
    cid = create(engine, "web", "bridge")
    (event,) = changes(before, engine.state, 1_700_000_000_123_456_789)
    assert event.json() == {
        "status": "create",
        "id": cid,
        "from": "hostfs",
        "Type": "container",
        "Action": "create",
        "Actor": {
            "ID": cid,
            "Attributes": {
                "com.docker.compose.project": "proj",
                "image": "hostfs",
                "name": "web",
            },
        },
        "scope": "local",
        "time": 1_700_000_000,
        "timeNano": 1_700_000_000_123_456_789,
    }


def test_filters_as_docker_reads_them(world: tuple[Engine, FakeRuntime]) -> None:
    engine, _ = world
    seen = recorded(engine)
    engine.create_network(NetworkSpec(name="front"))
    cid = create(engine, "web", "front")
    engine.start(cid)

    def kept(**filters: list[str]) -> list[str]:
        return [f"{e.type} {e.action}" for e in seen if EventFilter(filters)(e)]

    project = ["com.docker.compose.project=proj"]
    assert kept(label=project) == ["container create", "container start"]
    assert kept(label=["com.docker.compose.project=other"]) == []
    assert kept(label=["com.docker.compose.project"], event=["start"]) == ["container start"]
    assert kept(type=["network"]) == ["network create", "network connect"]
    assert kept(container=[cid[:5]]) == kept(container=["web"]) == kept(type=["container"])
    assert kept(network=["front"]) == ["network create", "network connect"]
    assert kept(image=["hostfs"]) == ["container create", "container start"]


def test_stream_replays_since_and_ends_at_until() -> None:
    async def main() -> tuple[list[Any], list[Any], list[Any]]:
        log = EventLog()
        t0 = time.time()

        def event(action: str, at: float) -> Event:
            return Event("container", action, "c1", {"name": "x"}, int(at * 1e9), "alpine")

        log.publish([event("create", t0 - 100), event("start", t0 - 50)])

        async def read(**args: str) -> list[Any]:
            return [
                json.loads(line)["Action"]
                async for line in log.stream(
                    EventFilter(), args.get("since", ""), args.get("until", "")
                )
            ]

        past = await read(since=str(t0 - 60), until=str(t0))
        window = await read(until=str(t0 - 70))
        live_task = asyncio.ensure_future(read(since=str(t0 - 60), until=str(time.time() + 0.3)))
        await asyncio.sleep(0.05)
        log.publish([event("die", time.time())])
        live = await live_task
        return past, window, live

    past, window, live = asyncio.run(main())
    assert past == ["start"]
    assert window == ["create"]
    assert live == ["start", "die"]
