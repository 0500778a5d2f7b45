"""Health and restart policies in the engine, on fake adapters: the image's HEALTHCHECK under
the request's, results recorded (in memory until the status changes), the policy's verdict at
each exit, restarts by policy, stops by the user, and what the service starts at start-up."""

from __future__ import annotations

from pathlib import Path

import pytest

from fakes import FakeImages, FakeKernel, FakeRuntime, MemoryStore
from hatoba.engine.containers import CreateRequest
from hatoba.engine.core import Paths
from hatoba.engine.engine import Engine
from hatoba.engine.state import State
from hatoba.errors import Conflict, InvalidArgument, NotModified
from hatoba.model.container import ContainerConfig
from hatoba.model.health import HEALTHY, STARTING, UNHEALTHY, HealthConfig, ProbeResult
from hatoba.model.ids import now_rfc3339
from hatoba.model.image import ImageInfo
from hatoba.model.launch import ExitStatus
from hatoba.model.restart import RestartPolicy

MS = 1_000_000
CHECKED = ImageInfo(
    id="sha256:" + "c" * 64,
    reference="checked:latest",
    cmd=("serve",),
    layers=("/layers/base",),
    healthcheck=HealthConfig(("CMD", "probe"), interval=5_000 * MS, retries=4),
)


class World:
    def __init__(self, tmp_path: Path) -> None:
        resolv = tmp_path / "resolv.conf"
        resolv.write_text("nameserver 198.51.100.53\n")
        self.paths = Paths(tmp_path / "root", tmp_path / "run", resolv)
        self.kernel, self.store, self.runtime = FakeKernel(), MemoryStore(), FakeRuntime()
        self.engine = self._open(State())

    def _open(self, state: State) -> Engine:
        engine = Engine.open(
            self.paths,
            self.store,
            self.kernel,
            self.runtime,
            FakeImages({"checked:latest": CHECKED}),
            state,
        )
        engine.bootstrap()
        return engine

    def reopen(self) -> Engine:
        """A new service over the same store, kernel and containers."""
        self.engine = self._open(
            State(
                networks=dict(self.store.networks),
                containers=dict(self.store.containers),
            )
        )
        return self.engine

    def run(self, name: str, image: str = "hostfs", **config: object) -> str:
        cfg = ContainerConfig(image=image, cmd=("sleep", "1d"), network_mode="bridge", **config)  # type: ignore[arg-type]
        cid = self.engine.create_container(CreateRequest(cfg, name=name)).id
        return self.engine.start(cid).id

    def exit(self, cid: str, code: int, may_restart: bool = True) -> str:
        self.runtime.exits[cid] = ExitStatus(code, now_rfc3339())
        done = self.engine.exited(cid, may_restart)
        assert done is not None
        return done.state.status


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def probe(code: int, started_at: str | None = None) -> ProbeResult:
    stamp = now_rfc3339()
    return ProbeResult(started_at or stamp, stamp, code, "")


# --- health --------------------------------------------------------------------------------


def test_the_image_check_under_the_request_and_none_disabling_it(world: World) -> None:
    cid = world.run("img", "checked")
    assert world.engine.container(cid).config.healthcheck == CHECKED.healthcheck
    mine = world.run("mine", "checked", healthcheck=HealthConfig(interval=100 * MS))
    assert world.engine.container(mine).config.healthcheck == HealthConfig(
        ("CMD", "probe"), interval=100 * MS, retries=4
    )
    off = world.run("off", "checked", healthcheck=HealthConfig(("NONE",)))
    assert world.engine.container(off).state.health is None
    assert world.engine.container(cid).state.health.status == STARTING  # type: ignore[union-attr]
    assert world.engine.container(world.run("plain")).state.health is None


def test_a_bad_check_or_policy_is_refused_and_creates_nothing(world: World) -> None:
    before = set(world.engine.state.containers)
    for config in (
        ContainerConfig(image="hostfs", cmd=("x",), healthcheck=HealthConfig(interval=5)),
        ContainerConfig(image="hostfs", cmd=("x",), restart_policy=RestartPolicy("sometimes")),
        ContainerConfig(
            image="hostfs", cmd=("x",), auto_remove=True, restart_policy=RestartPolicy("always")
        ),
    ):
        with pytest.raises(InvalidArgument):
            world.engine.create_container(CreateRequest(config))
    assert set(world.engine.state.containers) == before


def test_results_are_recorded_in_memory_until_the_status_changes(world: World) -> None:
    cid = world.run("hc", healthcheck=HealthConfig(("CMD", "x"), retries=2))
    started = world.engine.container(cid).state.started_at
    world.engine.record_health(cid, started, probe(0))
    assert world.engine.container(cid).state.health.status == HEALTHY  # type: ignore[union-attr]
    assert world.store.containers[cid].state.health.status == HEALTHY  # type: ignore[union-attr]
    world.engine.record_health(cid, started, probe(1))
    live = world.engine.container(cid).state.health
    assert live is not None and (live.status, live.failing_streak) == (HEALTHY, 1)
    stored = world.store.containers[cid].state.health
    assert stored is not None and stored.failing_streak == 0  # no disk write for this one
    world.engine.record_health(cid, started, probe(1))
    stored = world.store.containers[cid].state.health
    assert stored is not None and (stored.status, stored.failing_streak) == (UNHEALTHY, 2)
    # the status a client saw survives a restart of the service
    assert world.reopen().container(cid).state.health.status == UNHEALTHY  # type: ignore[union-attr]


def test_a_result_from_an_earlier_start_is_ignored(world: World) -> None:
    cid = world.run("hc", healthcheck=HealthConfig(("CMD", "x")))
    started = world.engine.container(cid).state.started_at
    world.exit(cid, 0)
    assert world.engine.record_health(cid, started, probe(0)) is None
    world.engine.start(cid)
    assert world.engine.record_health(cid, started, probe(0)) is None
    assert world.engine.container(cid).state.health.status == STARTING  # type: ignore[union-attr]


# --- restart policies ----------------------------------------------------------------------


def test_the_policy_decides_at_each_exit_and_counts_restarts(world: World) -> None:
    cid = world.run("of", restart_policy=RestartPolicy("on-failure", 2))
    statuses = []
    while (status := world.exit(cid, 3)) == "restarting":
        statuses.append(status)
        running = world.engine.restart_by_policy(cid)
        assert running is not None and running.state.running
        assert running.endpoints  # its network again, as any start
    assert statuses == ["restarting", "restarting"] and status == "exited"
    assert world.engine.container(cid).state.restart_count == 2
    # a start by the user begins afresh
    world.engine.start(cid)
    assert world.engine.container(cid).state.restart_count == 0


def test_a_stop_by_the_user_rules_out_the_restart(world: World) -> None:
    cid = world.run("al", restart_policy=RestartPolicy("always"))
    world.engine.kill(cid, 15)
    assert world.engine.container(cid).state.manually_stopped
    assert world.exit(cid, 143, may_restart=False) == "exited"
    world.engine.start(cid)
    assert not world.engine.container(cid).state.manually_stopped
    # a stop while the restart waits: it stays exited
    assert world.exit(cid, 0) == "restarting"
    stopped = world.engine.stop_restarting(cid)
    assert stopped.state.status == "exited" and stopped.state.manually_stopped
    assert world.engine.restart_by_policy(cid) is None


def test_without_a_policy_a_kill_writes_nothing(world: World) -> None:
    cid = world.run("plain")
    before = world.store.containers[cid]
    world.engine.kill(cid, 9)
    assert world.store.containers[cid] is before


def test_a_restart_that_fails_ends_the_restarts_with_the_error(world: World) -> None:
    cid = world.run("al", restart_policy=RestartPolicy("always"))
    world.exit(cid, 1)
    world.runtime.fail_launch = True
    assert world.engine.restart_by_policy(cid) is None
    state = world.engine.container(cid).state
    assert state.status == "exited" and "injected" in state.error
    assert not world.kernel.netns  # nothing of the failed start is left


def test_a_restarting_container_is_neither_started_nor_removed(world: World) -> None:
    cid = world.run("al", restart_policy=RestartPolicy("unless-stopped"))
    world.exit(cid, 0)
    with pytest.raises(NotModified):
        world.engine.start(cid)
    with pytest.raises(Conflict, match="You cannot remove a restarting container"):
        world.engine.remove(cid)


def test_service_start_restarts_what_docker_restarts_at_daemon_start(world: World) -> None:
    always = world.run("always", restart_policy=RestartPolicy("always"))
    stopped_always = world.run("stopped-always", restart_policy=RestartPolicy("always"))
    unless = world.run("unless", restart_policy=RestartPolicy("unless-stopped"))
    stopped_unless = world.run("stopped-unless", restart_policy=RestartPolicy("unless-stopped"))
    failed = world.run("failed", restart_policy=RestartPolicy("on-failure"))
    waiting = world.run("waiting", restart_policy=RestartPolicy("on-failure"))
    plain = world.run("plain")
    for cid in (stopped_always, stopped_unless):
        world.engine.kill(cid, 15)
        world.exit(cid, 143, may_restart=False)
    world.exit(waiting, 1)  # its restart was waiting when the service went down
    world.exit(plain, 1)
    # the service goes down; meanwhile these exit
    dead = {always: 0, unless: 0, failed: 2}
    for cid in dead:
        world.runtime.exits[cid] = ExitStatus(dead[cid], now_rfc3339())
        world.runtime.alive.discard(world.engine.container(cid).state.shim_pid)
    engine = world.reopen()
    assert all(engine.container(cid).state.status == "exited" for cid in dead)
    assert engine.container(waiting).state.status == "exited"
    assert set(engine.due_at_start()) == {always, stopped_always, unless, failed, waiting}
