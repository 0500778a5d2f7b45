"""Health checks and restart policies through the API and its async machinery, on the engine
with fake adapters. Probes are real processes run on the test's host in place of `crun exec`
(no root needed): a hanging one is killed with its process group at its timeout, while the
engine's worker goes on answering."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fixtures.api_world import ApiWorld
from hatoba.api.restarts import Restarts
from hatoba.errors import InvalidArgument
from hatoba.model.container import Container
from hatoba.model.ids import now_rfc3339
from hatoba.model.launch import ExitStatus, ProcessSpec

MS = 1_000_000
QUICK = 2.0  # far more than an answer needs, far less than a hanging probe's 30 s


class HostProbes:
    """`crun exec` stand-in: runs the probe on the host, in a session of its own whose leader
    writes its pid to the pid file, as crun does for the command it execs."""

    def __init__(self) -> None:
        self.pid_files: list[str] = []

    def attach_socket(self, container_id: str) -> Path:
        return Path("/nonexistent")

    def log_path(self, container_id: str) -> Path:
        return Path("/nonexistent")

    def file_path(self, container_id: str, container_path: str) -> Path:
        return Path("/nonexistent")

    def exec_argv(
        self,
        container_id: str,
        process: ProcessSpec,
        process_file: Path,
        console_socket: str | None,
        pid_file: str | None = None,
    ) -> list[str]:
        assert pid_file is not None
        self.pid_files.append(pid_file)
        script = 'echo $$ > "$0"; exec "$@"'
        return ["setsid", "--wait", "sh", "-c", script, pid_file, *process.args]

    def exec_error(self, process_file: Path) -> str | None:
        return None


@pytest.fixture
def world(tmp_path: Path) -> Iterator[ApiWorld]:
    w = ApiWorld(tmp_path, io=HostProbes())
    yield w
    w.close()


def create(world: ApiWorld, name: str, **body: Any) -> Container:
    """Create and start through the engine (the fake runtime's pids are no processes to
    watch, so the supervisor is left out)."""
    request = {"Image": "hostfs", "Cmd": ["sleep", "1d"], **body}

    async def created() -> str:
        answer = await world.call("POST", f"/containers/create?name={name}", request)
        return str(json.loads(answer.body)["Id"])

    cid = asyncio.run(created())
    return world.engine.start(cid)


def inspect(world: ApiWorld, ref: str) -> dict[str, Any]:
    answer = asyncio.run(world.call("GET", f"/containers/{ref}/json"))
    return dict(json.loads(answer.body))


def listing(world: ApiWorld, query: str = "") -> list[dict[str, Any]]:
    answer = asyncio.run(world.call("GET", f"/containers/json{query}"))
    return list(json.loads(answer.body))


async def until(condition: Callable[[], bool], seconds: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition never came true"
        await asyncio.sleep(0.01)


def health_of(world: ApiWorld, cid: str) -> Any:
    return world.engine.state.containers[cid].state.health


# --- the API's JSON ------------------------------------------------------------------------


def test_create_and_inspect_carry_the_check_and_the_policy(world: ApiWorld) -> None:
    check = {"Test": ["CMD-SHELL", "true"], "Interval": 100 * MS, "Retries": 2}
    policy = {"Name": "on-failure", "MaximumRetryCount": 3}
    create(world, "hc", Healthcheck=check, HostConfig={"RestartPolicy": policy})
    doc = inspect(world, "hc")
    assert doc["Config"]["Healthcheck"] == check
    assert doc["HostConfig"]["RestartPolicy"] == policy
    assert doc["State"]["Health"] == {"Status": "starting", "FailingStreak": 0, "Log": []}
    assert doc["RestartCount"] == 0
    plain = create(world, "plain")
    assert "Health" not in inspect(world, plain.id)["State"]
    assert "Healthcheck" not in inspect(world, plain.id)["Config"]
    assert inspect(world, plain.id)["HostConfig"]["RestartPolicy"] == {
        "Name": "",
        "MaximumRetryCount": 0,
    }


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"Healthcheck": {"Test": ["CMD", "x"], "Interval": 10}}, "Interval in Healthcheck"),
        ({"Healthcheck": {"Retries": -1}}, "Retries in Healthcheck cannot be negative"),
        ({"HostConfig": {"RestartPolicy": {"Name": "often"}}}, "invalid restart policy 'often'"),
        (
            {"HostConfig": {"AutoRemove": True, "RestartPolicy": {"Name": "always"}}},
            "can't create 'AutoRemove' container with restart policy",
        ),
    ],
)
def test_bad_requests_are_refused(world: ApiWorld, body: dict[str, Any], message: str) -> None:
    request = {"Image": "hostfs", "Cmd": ["true"], **body}
    with pytest.raises(InvalidArgument, match=message):
        asyncio.run(world.call("POST", "/containers/create", request))
    assert not world.engine.state.containers


def test_ps_shows_health_and_filters_on_it(world: ApiWorld) -> None:
    checked = create(world, "checked", Healthcheck={"Test": ["CMD", "true"]})
    create(world, "plain")
    [entry] = [c for c in listing(world) if c["Id"] == checked.id]
    assert entry["Status"].endswith(" (health: starting)")
    assert [c["Names"] for c in listing(world, '?filters={"health":["starting"]}')] == [
        ["/checked"]
    ]
    assert [c["Names"] for c in listing(world, '?filters={"health":["none"]}')] == [["/plain"]]
    with pytest.raises(InvalidArgument, match="Unrecognised filter value for health: good"):
        listing(world, '?filters={"health":["good"]}')


def test_a_restarting_container_is_listed_as_docker_lists_it(world: ApiWorld) -> None:
    cid = create(world, "al", HostConfig={"RestartPolicy": {"Name": "always"}}).id
    world.runtime.exits[cid] = ExitStatus(3, now_rfc3339())
    world.engine.exited(cid)
    [entry] = listing(world)  # among the running ones, without `all`
    assert entry["State"] == "restarting"
    assert entry["Status"].startswith("Restarting (3) ")
    state = inspect(world, cid)["State"]
    assert (state["Status"], state["Running"], state["Restarting"]) == ("restarting", True, True)
    assert state["Pid"] == 0 and state["ExitCode"] == 3


# --- health checks ---------------------------------------------------------------------------


def test_probes_make_the_container_healthy_then_unhealthy(world: ApiWorld) -> None:
    marker = world.app.execs._scratch + "/failing"  # the probe fails once this exists
    check = {
        "Test": ["CMD-SHELL", f"echo probed; test ! -e {marker}"],
        "Interval": 10 * MS,
        "Retries": 2,
    }
    container = create(world, "hc", Healthcheck=check)

    async def scenario() -> None:
        world.health.follow(container)
        await until(lambda: health_of(world, container.id).status == "healthy")
        Path(marker).touch()
        await until(lambda: health_of(world, container.id).status == "unhealthy")
        await world.health.close()

    asyncio.run(scenario())
    health = inspect(world, container.id)["State"]["Health"]
    assert health["FailingStreak"] >= 2
    assert health["Log"][-1]["ExitCode"] == 1
    assert health["Log"][-1]["Output"] == "probed\n"
    assert len(health["Log"]) <= 5


async def hanging_probe(world: ApiWorld, container: Container) -> int:
    """Follow a container whose check hangs; the pid of the check's command once it runs."""
    probes: HostProbes = world.io  # type: ignore[assignment]
    world.health.follow(container)
    await until(lambda: bool(probes.pid_files) and _pid_in(probes.pid_files[0]) > 0)
    return _pid_in(probes.pid_files[0])


def test_a_hanging_probe_is_killed_at_its_timeout_and_blocks_nothing(world: ApiWorld) -> None:
    check = {"Test": ["CMD", "sleep", "30"], "Interval": 10 * MS, "Timeout": 1_000 * MS}
    container = create(world, "hang", Healthcheck=check)

    async def scenario() -> int:
        sleeper = await hanging_probe(world, container)
        # the worker answers while the probe hangs
        created = await asyncio.wait_for(
            world.call("POST", "/networks/create", {"Name": "meanwhile"}), QUICK
        )
        assert created.status == 201
        await until(lambda: bool(health_of(world, container.id).log))
        await world.health.close()
        return sleeper

    sleeper = asyncio.run(scenario())
    [first, *_] = health_of(world, container.id).log
    assert (first.exit_code, first.output) == (-1, "Health check exceeded timeout (1s)")
    assert not _alive(sleeper)


def test_an_exit_or_a_shutdown_kills_the_probe_under_way(world: ApiWorld) -> None:
    check = {"Test": ["CMD", "sleep", "30"], "Interval": 10 * MS}
    container = create(world, "hang", Healthcheck=check)

    async def scenario() -> int:
        sleeper = await hanging_probe(world, container)
        world.health.forget(container.id)
        await until(lambda: not _alive(sleeper))
        return sleeper

    asyncio.run(scenario())
    assert health_of(world, container.id).log == ()


def _pid_in(path: str) -> int:
    try:
        return int(Path(path).read_text().strip() or 0)
    except (FileNotFoundError, ValueError):
        return 0


def _alive(pid: int) -> bool:
    """Alive and not a zombie (a killed probe's leader is reaped by nobody here)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


# --- restarts ------------------------------------------------------------------------------


def test_the_policy_starts_the_container_again_after_its_backoff(world: ApiWorld) -> None:
    cid = create(world, "al", HostConfig={"RestartPolicy": {"Name": "always"}}).id
    started: list[Container] = []
    restarts = Restarts(world.engine, world.runner, started.append)

    async def scenario() -> None:
        world.runtime.exits[cid] = ExitStatus(1, now_rfc3339())
        done = await world.runner.call(world.engine.exited, cid)
        assert done is not None and done.state.restarting
        restarts.after_exit(done)
        await until(lambda: bool(started))

    asyncio.run(scenario())
    assert started[0].id == cid and started[0].state.running
    assert started[0].state.restart_count == 1
    assert started[0].endpoints  # wired again


def test_a_stop_during_the_backoff_cancels_the_restart(world: ApiWorld) -> None:
    cid = create(world, "al", HostConfig={"RestartPolicy": {"Name": "always"}}).id
    supervisor = world.app.supervisor

    async def scenario() -> None:
        world.runtime.exits[cid] = ExitStatus(1, now_rfc3339())
        done = await world.runner.call(world.engine.exited, cid)
        assert done is not None
        supervisor.restarts.after_exit(done)
        answer = await world.call("POST", f"/containers/{cid}/stop")
        assert answer.status == 204
        await supervisor.restarts.close()

    asyncio.run(scenario())
    state = world.engine.state.containers[cid].state
    assert state.status == "exited" and state.manually_stopped
    assert state.restart_count == 1


def test_the_service_start_starts_what_its_policy_says(world: ApiWorld) -> None:
    always = create(world, "al", HostConfig={"RestartPolicy": {"Name": "always"}}).id
    plain = create(world, "plain").id
    for cid in (always, plain):
        world.runtime.exits[cid] = ExitStatus(0, now_rfc3339())
        world.engine.exited(cid, may_restart=False)  # as reconcile records it
    started: list[Container] = []
    asyncio.run(Restarts(world.engine, world.runner, started.append).at_service_start())
    assert [c.id for c in started] == [always]
    assert world.engine.state.containers[plain].state.status == "exited"


def test_pid_files_are_left_behind_by_nobody(world: ApiWorld) -> None:
    container = create(world, "hc", Healthcheck={"Test": ["CMD", "true"], "Interval": 10 * MS})
    probes: HostProbes = world.io  # type: ignore[assignment]

    async def scenario() -> None:
        world.health.follow(container)
        await until(lambda: health_of(world, container.id).status == "healthy")
        await world.health.close()

    asyncio.run(scenario())
    assert probes.pid_files and not any(os.path.exists(p) for p in probes.pid_files)
