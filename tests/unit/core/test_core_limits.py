"""Security settings and limits in the engine's use cases (fake adapters): what a container
is launched with, refusals that leave nothing, pause and unpause, update, and how a paused
container meets start, stop, exec, exit and remove — Docker's rules and texts."""

from __future__ import annotations

import dataclasses
import signal

import pytest

from fakes import fake_engine
from hatoba.engine.containers import CreateRequest, UpdateRequest
from hatoba.engine.engine import Engine
from hatoba.engine.processes import ExecRequest
from hatoba.errors import Conflict, InvalidArgument, KernelError
from hatoba.model.container import ContainerConfig
from hatoba.model.launch import ExitStatus
from hatoba.model.resources import DEVICES, FREEZER, MEMORY, CgroupSupport, Resources, Ulimit
from hatoba.model.restart import RestartPolicy
from hatoba.model.security import CAPABILITIES, DEFAULT_CAPS, DeviceMapping, Security

MB = 1 << 20


def create(engine: Engine, net: str = "default", **config: object) -> str:
    cfg = ContainerConfig(image="hostfs", cmd=("sleep", "60"), network_mode=net, **config)  # type: ignore[arg-type]
    return engine.create_container(CreateRequest(cfg)).id


def started(engine: Engine, **config: object) -> str:
    return engine.start(create(engine, **config)).id


def test_a_container_is_launched_with_its_security_and_limits(world) -> None:
    engine, _kernel, _store, runtime = world
    security = Security(
        cap_add=("NET_ADMIN",),
        security_opt=("no-new-privileges",),
        read_only=True,
        sysctls={"net.ipv4.ip_forward": "1"},
        devices=(DeviceMapping("/dev/null", "/dev/mynull"),),
        oom_score_adj=300,
    )
    limits = Resources(memory=32 * MB, pids_limit=9, ulimits=(Ulimit("nofile", 10, 20),))
    engine.start(create(engine, security=security, resources=limits))
    launch = runtime.launched[-1]
    assert launch.security == security
    assert launch.resources == dataclasses.replace(limits, memory_swap=64 * MB, shm_size=64 * MB)
    process = launch.process
    assert process.capabilities == (*DEFAULT_CAPS, "CAP_NET_ADMIN")
    assert process.no_new_privileges
    assert process.rlimits == (Ulimit("nofile", 10, 20),)
    assert process.oom_score_adj == 300


def test_an_exec_has_its_containers_capabilities_or_all(world) -> None:
    engine, *_ = world
    cid = started(engine, security=Security(cap_drop=("ALL",), cap_add=("CHOWN",)))
    assert engine.exec_process(cid, ExecRequest(argv=("id",))).capabilities == ("CAP_CHOWN",)
    privileged = engine.exec_process(cid, ExecRequest(argv=("id",), privileged=True))
    # all the runtime can give (the fake's root lacks CAP_SYS_RESOURCE)
    assert privileged.capabilities == tuple(c for c in CAPABILITIES if c != "CAP_SYS_RESOURCE")


def test_without_a_device_cgroup_containers_get_no_mknod(world) -> None:
    engine, _kernel, _store, runtime = world
    runtime.support = CgroupSupport(cpus=2)
    engine.start(create(engine))
    assert "CAP_MKNOD" not in runtime.launched[-1].process.capabilities


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"security": Security(cap_add=("BOGUS",))}, 'invalid CapAdd: unknown capability: "CAP_BOGUS"'),  # noqa: E501
        ({"security": Security(sysctls={"kernel.pid_max": "9"})}, 'sysctl "kernel.pid_max" is not in a separate kernel namespace'),  # noqa: E501
        ({"security": Security(sysctls={"net.core.somaxconn": "9"}), "net": "host"}, 'sysctl "net.core.somaxconn" not allowed in host network namespace'),  # noqa: E501
        ({"security": Security(devices=(DeviceMapping("/dev/nope", "/dev/nope"),))}, 'error gathering device information while adding custom device "/dev/nope": no such file or directory'),  # noqa: E501
        ({"resources": Resources(memory=MB)}, "Minimum memory limit allowed is 6MB"),
    ],
)  # fmt: skip
def test_refusals_at_create_leave_nothing(world, config: dict[str, object], message: str) -> None:
    engine, _kernel, store, _runtime = world
    before = dict(engine.state.containers)
    with pytest.raises(InvalidArgument) as refused:
        create(engine, **config)
    assert refused.value.message == message
    assert engine.state.containers == before and store.containers == {}


def test_a_limit_the_host_cannot_enforce_is_refused(world) -> None:
    engine, _kernel, _store, runtime = world
    runtime.support = CgroupSupport(2, frozenset({FREEZER, DEVICES}), cpus=2)
    with pytest.raises(InvalidArgument, match='HostConfig.Memory needs the cgroup "memory"'):
        create(engine, resources=Resources(memory=10 * MB))
    assert engine.state.containers == {}


def test_pause_and_unpause(world) -> None:
    engine, _kernel, store, runtime = world
    cid = started(engine)
    paused = engine.pause(cid)
    assert paused.state.paused and paused.state.running and paused.state.shown_status == "paused"
    assert cid in runtime.paused and store.containers[cid].state.paused
    for action, message in (
        (lambda: engine.pause(cid), f"Container {cid} is already paused"),
        (lambda: engine.start(cid), "cannot start a paused container, try unpause instead"),
        (
            lambda: engine.exec_process(cid, ExecRequest(argv=("true",))),
            f"Container {cid} is paused, unpause the container before exec",
        ),
        (
            lambda: engine.remove(cid),
            f"You cannot remove a paused container {cid}. Unpause and then stop the container "
            "before attempting removal or force remove",
        ),
    ):
        with pytest.raises(Conflict) as refused:
            action()
        assert refused.value.message == message
    resumed = engine.unpause(cid)
    assert not resumed.state.paused and cid not in runtime.paused
    with pytest.raises(Conflict, match=f"Container {cid} is not paused"):
        engine.unpause(cid)


def test_pause_needs_a_running_container_and_a_freezer(world) -> None:
    engine, _kernel, _store, runtime = world
    cid = create(engine)
    with pytest.raises(Conflict, match=f"Container {cid} is not running"):
        engine.pause(cid)
    engine.start(cid)
    runtime.support = CgroupSupport(1, frozenset({MEMORY}), cpus=2)
    with pytest.raises(InvalidArgument) as refused:
        engine.pause(cid)
    assert refused.value.message == (
        f'Cannot pause container {cid}: pausing needs the cgroup "freezer", which this host '
        "does not give hatoba (cgroup v1 (/sys/fs/cgroup/<controller>))"
    )
    assert not engine.container(cid).state.paused and runtime.paused == set()


def test_a_paused_container_is_resumed_by_the_signal_that_ends_it(world) -> None:
    engine, _kernel, _store, runtime = world
    cid = started(engine)
    engine.pause(cid)
    # another signal waits for the unpause, as in Docker
    engine.kill(cid, signal.SIGUSR1)
    assert engine.container(cid).state.paused and cid in runtime.paused
    engine.kill(cid, signal.SIGTERM)  # the stop signal
    assert not engine.container(cid).state.paused and cid not in runtime.paused
    engine.pause(cid)
    engine.kill(cid, signal.SIGKILL)
    assert not engine.container(cid).state.paused


def test_an_exit_ends_the_pause(world) -> None:
    engine, _kernel, _store, runtime = world
    cid = started(engine)
    engine.pause(cid)
    runtime.exits[cid] = ExitStatus(137, "2026-01-01T00:00:00Z")
    assert not engine.exited(cid).state.paused


def test_update_writes_a_running_containers_limits_and_keeps_them(world) -> None:
    engine, _kernel, store, runtime = world
    cid = started(engine, resources=Resources(memory=10 * MB))
    request = UpdateRequest(
        Resources(memory=15 * MB, cpu_shares=100),
        pids_limit=7,
        restart_policy=RestartPolicy("on-failure", 2),
    )
    engine.update(cid, request)
    limits = engine.container(cid).config.resources
    assert (limits.memory, limits.memory_swap, limits.cpu_shares, limits.pids_limit) == (
        15 * MB,
        20 * MB,
        100,
        7,
    )
    assert runtime.limits[cid] == limits
    assert store.containers[cid].config.restart_policy == RestartPolicy("on-failure", 2)
    # a stopped container keeps its new limits for its next start
    stopped = create(engine)
    engine.update(stopped, UpdateRequest(pids_limit=5))
    assert stopped not in runtime.limits
    assert engine.start(stopped) and runtime.launched[-1].resources.pids_limit == 5


def test_update_refusals_change_nothing(world) -> None:
    engine, _kernel, store, runtime = world
    cid = started(engine, resources=Resources(memory=10 * MB, nano_cpus=10**9))
    before = store.containers[cid]
    for request, error, message in (
        (
            UpdateRequest(Resources(cpu_quota=50_000)),
            Conflict,
            f"Cannot update container {cid}: Conflicting options: CPU Quota cannot be updated "
            "as NanoCPUs has already been set",
        ),
        (UpdateRequest(Resources(memory=MB)), InvalidArgument, "Minimum memory limit allowed is 6MB"),  # noqa: E501
        (UpdateRequest(restart_policy=RestartPolicy("sometimes")), InvalidArgument, "invalid restart policy 'sometimes'"),  # noqa: E501
    ):  # fmt: skip
        with pytest.raises(error) as refused:
            engine.update(cid, request)
        assert refused.value.message == message
    runtime.fail_update = True
    with pytest.raises(KernelError) as failed:
        engine.update(cid, UpdateRequest(pids_limit=3))
    assert failed.value.message == (
        f"Cannot update container {cid}: write memory.limit_in_bytes: Device or resource busy"
    )
    assert store.containers[cid] == before and cid not in runtime.limits


def test_update_of_the_restart_policy_of_an_auto_removed_container(tmp_path) -> None:
    engine = fake_engine(tmp_path)
    cid = create(engine, auto_remove=True)
    with pytest.raises(Conflict) as refused:
        engine.update(cid, UpdateRequest(restart_policy=RestartPolicy("always")))
    assert refused.value.message == (
        f"Cannot update container {cid}: Restart policy cannot be updated because AutoRemove "
        "is enabled for the container"
    )
    # "no" is no policy: Docker lets it through
    engine.update(cid, UpdateRequest(restart_policy=RestartPolicy("no")))


def test_an_undone_update_writes_the_old_limits_back(world, monkeypatch) -> None:
    engine, _kernel, _store, runtime = world
    cid = started(engine, resources=Resources(memory=10 * MB))
    old = engine.container(cid).config.resources

    def broken_commit(*args: object, **kw: object) -> None:
        raise KernelError("disk full")

    monkeypatch.setattr(engine.core, "commit", broken_commit)
    with pytest.raises(KernelError):
        engine.update(cid, UpdateRequest(pids_limit=3))
    assert runtime.limits[cid] == old
