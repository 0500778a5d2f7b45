"""Security and kernel knobs through the CLI, the docker CLI and the Docker SDK for Python,
read back from the kernel: capability sets from /proc/<pid>/status, sysctls read inside, cgroup
limits from the cgroup files, the freezer's state, the device cgroup; `pause`, `unpause` and
`update`; every refusal with Docker's text and nothing made. Containers are `hostfs` ones (no
image to import): the host's `ip`, `mknod` and shell.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
from docker.types import Ulimit

from fixtures.image_sandbox import error_line
from fixtures.process_state import (
    CAP_MKNOD,
    CAP_NET_ADMIN,
    DEFAULT_CAPS,
    cgroup_file,
    status_field,
)
from fixtures.processes import eventually
from hatoba.testing import Sandbox

pytestmark = pytest.mark.root

DOCKER = shutil.which("docker")
IP_LINK_ADD = "ip link add probe0 type veth peer name probe1"


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with Sandbox() as sb:
        yield sb


@pytest.fixture
def nothing_made(sb: Sandbox) -> Iterator[None]:
    """The test's refusals leave no container and no cgroup behind."""
    before = sb.hatoba("ps", "-aq").stdout
    yield
    assert sb.hatoba("ps", "-aq").stdout == before
    assert list(container_cgroups(sb)) == []


def container_cgroups(sb: Sandbox) -> Iterator[Path]:
    for hierarchy in Path("/sys/fs/cgroup").iterdir():
        folder = hierarchy / sb.cgroup_parent
        if folder.is_dir():
            yield from (entry for entry in folder.iterdir() if entry.is_dir())


def run(sb: Sandbox, *args: str) -> str:
    """The output of `hatoba run --rm ARGS` (a hostfs container unless ARGS say otherwise)."""
    return sb.hatoba("run", "--rm", *args).stdout


def refused(sb: Sandbox, *args: str) -> str:
    done = sb.hatoba("run", "--rm", *args, check=False)
    assert done.returncode != 0
    return error_line(done)


def inspect(sb: Sandbox, ref: str) -> Any:
    return json.loads(sb.hatoba("inspect", ref).stdout)[0]


class Running:
    """A detached hostfs container, removed at the end."""

    def __init__(self, sb: Sandbox, *args: str, command: tuple[str, ...] = ("sleep", "60")):
        self.sb = sb
        self.id = sb.hatoba("run", "-d", *args, "hostfs", *command).stdout.strip()
        self.pid = str(inspect(sb, self.id)["State"]["Pid"])

    def __enter__(self) -> Running:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sb.hatoba("rm", "-f", self.id)


# --- capabilities -------------------------------------------------------------------------


def test_the_default_capabilities_are_dockers(sb: Sandbox) -> None:
    with Running(sb) as c:
        assert status_field(c.pid, "CapEff") == DEFAULT_CAPS
        assert status_field(c.pid, "CapBnd") == DEFAULT_CAPS
    out = run(sb, "hostfs", "sh", "-c", f"{IP_LINK_ADD} 2>&1; echo status $?")
    assert out.splitlines() == ["RTNETLINK answers: Operation not permitted", "status 2"]


def test_cap_add_and_cap_drop(sb: Sandbox) -> None:
    with Running(sb, "--cap-add", "NET_ADMIN", "--cap-drop", "mknod") as c:
        assert status_field(c.pid, "CapEff") == DEFAULT_CAPS & ~CAP_MKNOD | CAP_NET_ADMIN
        # the veth pair is made in the container's own namespace
        sb.hatoba("exec", c.id, "sh", "-c", IP_LINK_ADD)
        assert "probe0@probe1" in sb.hatoba("exec", c.id, "ip", "-o", "link").stdout
    with Running(sb, "--cap-drop", "ALL", "--cap-add", "CAP_CHOWN") as c:
        assert status_field(c.pid, "CapEff") == status_field(c.pid, "CapBnd") == 1
    # an exec has its container's set, or every capability with --privileged
    with Running(sb) as c:
        mask = sb.hatoba("exec", c.id, "grep", "CapEff", "/proc/self/status").stdout.split()[1]
        assert int(mask, 16) == DEFAULT_CAPS
        privileged = sb.hatoba("exec", "--privileged", c.id, "grep", "CapEff", "/proc/self/status")
        assert int(privileged.stdout.split()[1], 16) == status_field(str(os.getpid()), "CapBnd")


def test_crun_runs_from_a_read_only_bind_the_container_cannot_write(sb: Sandbox) -> None:
    """CVE-2019-5736: the shim binds crun read-only onto itself in its own mount namespace,
    so crun runs without copying itself (~3 ms of every create) and a container that reaches
    its binary through /proc/<pid>/exe cannot write it; the host's crun is not touched."""
    crun = os.path.realpath(shutil.which("crun") or "crun")
    with Running(sb) as c:
        shim = status_field(c.pid, "PPid")
        mounts = Path(f"/proc/{shim}/mountinfo").read_text().splitlines()
        binds = [line.split() for line in mounts if line.split()[4] == crun]
        assert binds and "ro" in binds[-1][5].split(",")
    assert not [
        line
        for line in Path("/proc/self/mountinfo").read_text().splitlines()
        if line.split()[4] == crun
    ]


def test_privileged(sb: Sandbox) -> None:
    script = "grep CapEff /proc/self/status; ls /dev | wc -l; grep ' /sys ' /proc/mounts"
    caps, devices, sysfs = run(sb, "--privileged", "hostfs", "sh", "-c", script).splitlines()
    # everything the service itself has (root here lacks CAP_SYS_RESOURCE)
    assert int(caps.split()[1], 16) == status_field(str(os.getpid()), "CapBnd")
    assert int(devices) > 20  # the host's devices, not the handful of a container
    assert " rw," in sysfs
    done = sb.hatoba("run", "--rm", "--privileged", "hostfs", "sh", "-c", IP_LINK_ADD)
    assert done.returncode == 0


def test_bad_capabilities_are_refused(sb: Sandbox, nothing_made: None) -> None:
    assert refused(sb, "--cap-add", "FOO", "hostfs", "true") == (
        'hatoba: Error response from daemon: invalid CapAdd: unknown capability: "CAP_FOO". '
        "See 'hatoba run --help'."
    )
    assert "invalid CapDrop" in refused(sb, "--cap-drop", "nope", "hostfs", "true")
    assert '"CAP_SYS_RESOURCE" is not among the capabilities of the hatoba service' in refused(
        sb, "--cap-add", "SYS_RESOURCE", "hostfs", "true"
    )


# --- devices ------------------------------------------------------------------------------


def test_the_device_cgroup_allows_only_dockers_devices(sb: Sandbox) -> None:
    """CAP_MKNOD makes a node of the host's disk; the device cgroup keeps it closed."""
    script = "mknod /dev/probe b 7 0 && head -c1 /dev/probe; echo status $?; head -c1 /dev/zero"
    out = run(sb, "hostfs", "sh", "-c", script + " | wc -c")
    assert out.splitlines() == ["status 1", "1"]
    assert (
        "Operation not permitted" in sb.hatoba("run", "--rm", "hostfs", "sh", "-c", script).stderr
    )


def test_device(sb: Sandbox, nothing_made: None) -> None:
    host = os.stat("/dev/fuse")
    out = run(
        sb, "--device", "/dev/fuse:/dev/myfuse:r", "hostfs", "stat", "-c", "%t:%T", "/dev/myfuse"
    )
    assert out.strip() == f"{os.major(host.st_rdev):x}:{os.minor(host.st_rdev):x}"
    assert refused(sb, "--device", "/dev/nope", "hostfs", "true") == (
        "hatoba: Error response from daemon: error gathering device information while adding "
        "custom device \"/dev/nope\": no such file or directory. See 'hatoba run --help'."
    )
    assert refused(sb, "--device", "/etc/hostname", "hostfs", "true").endswith(
        "\"/etc/hostname\": not a device node. See 'hatoba run --help'."
    )
    assert refused(sb, "--device", "/dev/fuse:/dev/f:rx", "hostfs", "true") == (
        "hatoba: bad mode specified: rx. See 'hatoba run --help'."
    )
    assert refused(sb, "--device", "/dev/fuse:rx", "hostfs", "true") == (
        "hatoba: rx is not an absolute path. See 'hatoba run --help'."
    )


# --- sysctls, security options, read-only root, ulimits, /dev/shm -------------------------


def test_sysctls_are_set_in_the_containers_namespaces(sb: Sandbox) -> None:
    out = run(
        sb,
        "--sysctl", "net.ipv4.ip_forward=1",
        "--sysctl", "kernel.shmmax=123456",
        "--sysctl", "fs.mqueue.msg_max=20",
        "hostfs", "cat", "/proc/sys/net/ipv4/ip_forward", "/proc/sys/kernel/shmmax",
        "/proc/sys/fs/mqueue/msg_max",
    )  # fmt: skip
    assert out.split() == ["1", "123456", "20"]


def test_sysctls_outside_the_containers_namespaces_are_refused(
    sb: Sandbox, nothing_made: None
) -> None:
    assert refused(sb, "--sysctl", "kernel.pid_max=100", "hostfs", "true") == (
        'invalid argument "kernel.pid_max=100" for "--sysctl" flag: sysctl '
        "'kernel.pid_max=100' is not whitelisted See 'hatoba run --help'."
    )
    assert refused(sb, "--net", "host", "--sysctl", "net.ipv4.ip_forward=1", "hostfs", "true") == (
        'hatoba: Error response from daemon: sysctl "net.ipv4.ip_forward" not allowed in host '
        "network namespace. See 'hatoba run --help'."
    )
    # the service refuses what the CLI would let through (the API has no whitelist)
    with Running(sb) as c:
        shared = refused(
            sb, "--net", f"container:{c.id}", "--sysctl", "net.core.somaxconn=10", "hostfs", "true"
        )
        assert (
            'sysctl "net.core.somaxconn" not allowed in the network namespace of another' in shared
        )


def test_no_new_privileges_read_only_ulimits_and_shm_size(sb: Sandbox) -> None:
    script = (
        "grep NoNewPrivs /proc/self/status; ulimit -n; ulimit -Hn; "
        "touch /etc/probe 2>/dev/null || echo read-only; df -k /dev/shm | tail -1"
    )
    out = run(
        sb,
        "--security-opt", "no-new-privileges",
        "--read-only",
        "--ulimit", "nofile=512:1024",
        "--shm-size", "2m",
        "hostfs", "sh", "-c", script,
    ).splitlines()  # fmt: skip
    assert out[:4] == ["NoNewPrivs:\t1", "512", "1024", "read-only"]
    assert out[4].split()[1] == "2048"
    default = run(sb, "hostfs", "sh", "-c", "grep NoNewPrivs /proc/self/status; df -k /dev/shm")
    assert default.splitlines()[0] == "NoNewPrivs:\t0"
    assert default.splitlines()[-1].split()[1] == "65536"


def test_bad_knobs_are_refused_with_dockers_texts(sb: Sandbox, nothing_made: None) -> None:
    cases = {
        ("--security-opt", "seccomp=/my/profile.json"): (
            'hatoba: Error response from daemon: --security-opt "seccomp=/my/profile.json": '
            "hatoba applies no seccomp profiles (only seccomp=unconfined is accepted). "
            "See 'hatoba run --help'."
        ),
        (
            "--security-opt",
            "foo",
        ): "hatoba: Invalid --security-opt: \"foo\". See 'hatoba run --help'.",
        ("--ulimit", "nofile=2048:1024"): (
            'invalid argument "nofile=2048:1024" for "--ulimit" flag: ulimit soft limit must be '
            "less than or equal to hard limit: 2048 > 1024 See 'hatoba run --help'."
        ),
        ("--ulimit", "bogus=1"): (
            'invalid argument "bogus=1" for "--ulimit" flag: invalid ulimit type: bogus '
            "See 'hatoba run --help'."
        ),
        ("-m", "10x"): (
            'invalid argument "10x" for "-m, --memory" flag: invalid size: \'10x\' '
            "See 'hatoba run --help'."
        ),
        ("-m", "1m"): (
            "hatoba: Error response from daemon: Minimum memory limit allowed is 6MB. "
            "See 'hatoba run --help'."
        ),
        ("--cpus", "0.0000000001"): (
            'invalid argument "0.0000000001" for "--cpus" flag: value is too precise '
            "See 'hatoba run --help'."
        ),
        ("--cpus", "99"): (
            "hatoba: Error response from daemon: Range of CPUs is from 0.01 to "
            f"{len(os.sched_getaffinity(0))}.00, as there are only "
            f"{len(os.sched_getaffinity(0))} CPUs available. See 'hatoba run --help'."
        ),
    }
    for args, text in cases.items():
        assert refused(sb, *args, "hostfs", "true") == text, args
    assert run(sb, "--security-opt", "seccomp=unconfined", "hostfs", "echo", "ok") == "ok\n"


# --- cgroup limits, pause, update ---------------------------------------------------------


def test_limits_are_written_to_the_containers_cgroups(sb: Sandbox) -> None:
    with Running(sb, "-m", "32m", "--cpus", "0.5", "--pids-limit", "40", "-c", "512") as c:
        assert cgroup_file(c.pid, "memory", "memory.limit_in_bytes") == f"{32 << 20}\n"
        # Docker's default swap: as much again
        assert cgroup_file(c.pid, "memory", "memory.memsw.limit_in_bytes") == f"{64 << 20}\n"
        assert cgroup_file(c.pid, "cpu", "cpu.cfs_quota_us") == "50000\n"
        assert cgroup_file(c.pid, "cpu", "cpu.cfs_period_us") == "100000\n"
        assert cgroup_file(c.pid, "cpu", "cpu.shares") == "512\n"
        assert cgroup_file(c.pid, "pids", "pids.max") == "40\n"
        host = inspect(sb, c.id)["HostConfig"]
        assert (host["Memory"], host["MemorySwap"], host["NanoCpus"], host["PidsLimit"]) == (
            32 << 20,
            64 << 20,
            500_000_000,
            40,
        )
        # the cgroup is the sandbox's: /<parent>/<id>
        assert f"/{sb.cgroup_parent}/{c.id}" in Path(f"/proc/{c.pid}/cgroup").read_text()
    assert list(container_cgroups(sb)) == []


def test_limits_hold(sb: Sandbox) -> None:
    # more memory than allowed: the kernel kills it
    done = sb.hatoba("run", "--rm", "-m", "8m", "--memory-swap", "8m", "hostfs", "sh", "-c",
                     "head -c 64m /dev/zero | tail", check=False)  # fmt: skip
    assert done.returncode == 137
    # more processes than allowed: fork fails
    script = "for i in 1 2 3 4 5 6 7 8; do sleep 1 & done; wait"
    done = sb.hatoba("run", "--rm", "--pids-limit", "4", "hostfs", "sh", "-c", script, check=False)
    assert "fork" in done.stderr.lower()


def test_pause_freezes_every_process(sb: Sandbox) -> None:
    with Running(sb, "--init", command=("sh", "-c", "sleep 60 & wait")) as c:
        sb.hatoba("pause", c.id)
        assert cgroup_file(c.pid, "freezer", "freezer.state") == "FROZEN\n"
        procs = cgroup_file(c.pid, "freezer", "cgroup.procs").split()
        assert len(procs) == 3 and all(status_state(p) == "D" for p in procs)
        state = inspect(sb, c.id)["State"]
        assert (state["Status"], state["Running"], state["Paused"]) == ("paused", True, True)
        assert "(Paused)" in sb.hatoba("ps", "--filter", "status=paused").stdout
        assert c.id[:12] not in sb.hatoba("ps", "--filter", "status=running").stdout
        for args, text in (
            (
                ("exec", c.id, "true"),
                f"Container {c.id} is paused, unpause the container before exec",
            ),
            (("pause", c.id), f"Container {c.id} is already paused"),
            (("start", c.id), "cannot start a paused container, try unpause instead"),
            (("rm", c.id), f"You cannot remove a paused container {c.id}. Unpause and then stop"),
        ):
            done = sb.hatoba(*args, check=False)
            assert done.returncode == 1 and text in done.stderr, (args, done.stderr)
        sb.hatoba("unpause", c.id)
        assert cgroup_file(c.pid, "freezer", "freezer.state") == "THAWED\n"
        # a thawed process may run a moment before it sleeps again
        assert eventually(lambda: all(status_state(p) == "S" for p in procs), 10)
        assert not inspect(sb, c.id)["State"]["Paused"]
        done = sb.hatoba("unpause", c.id, check=False)
        assert f"Container {c.id} is not paused" in done.stderr
        # a stop ends a paused container with its stop signal (tini passes it on)
        sb.hatoba("pause", c.id)
        sb.hatoba("stop", "-t", "30", c.id)
        state = inspect(sb, c.id)["State"]
        assert (state["Status"], state["ExitCode"], state["Paused"]) == ("exited", 143, False)


def status_state(pid: str) -> str:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("State:"):
            return line.split()[1]
    raise AssertionError(pid)


def test_a_paused_container_is_removed_with_force(sb: Sandbox) -> None:
    c = Running(sb)
    sb.hatoba("pause", c.id)
    sb.hatoba("rm", "-f", c.id)
    assert sb.hatoba("ps", "-aq").stdout == ""
    assert list(container_cgroups(sb)) == []


def test_update_writes_the_running_containers_cgroup(sb: Sandbox) -> None:
    with Running(sb, "-m", "32m", "--pids-limit", "40") as c:
        out = sb.hatoba("update", "-m", "48m", "--memory-swap", "96m", "--pids-limit", "50",
                        "--cpus", "1.5", "--restart", "on-failure:3", c.id)  # fmt: skip
        assert out.stdout == c.id + "\n"
        assert cgroup_file(c.pid, "memory", "memory.limit_in_bytes") == f"{48 << 20}\n"
        assert cgroup_file(c.pid, "pids", "pids.max") == "50\n"
        assert cgroup_file(c.pid, "cpu", "cpu.cfs_quota_us") == "150000\n"
        host = inspect(sb, c.id)["HostConfig"]
        assert host["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
        assert (host["Memory"], host["PidsLimit"], host["NanoCpus"]) == (48 << 20, 50, 1500000000)
        # Docker's refusals; nothing changes
        for args, text in (
            (
                ("--cpu-quota", "50000"),
                "Conflicting options: CPU Quota cannot be updated as NanoCPUs",
            ),
            (("-m", "200m"), "Memory limit should be smaller than already set memoryswap limit"),
            (("-m", "1m"), "Minimum memory limit allowed is 6MB"),
        ):
            done = sb.hatoba("update", *args, c.id, check=False)
            assert done.returncode == 1 and text in done.stderr, (args, done.stderr)
        assert cgroup_file(c.pid, "memory", "memory.limit_in_bytes") == f"{48 << 20}\n"
        assert inspect(sb, c.id)["HostConfig"]["CpuQuota"] == 0
    done = sb.hatoba("update", "x", check=False)
    assert done.stderr == "you must provide one or more flags when using this command\n"


# --- through the docker CLI ---------------------------------------------------------------


@pytest.mark.skipif(DOCKER is None, reason="no docker CLI")
def test_through_the_docker_cli(sb: Sandbox) -> None:
    assert DOCKER is not None
    env = {**os.environ, "DOCKER_HOST": f"unix://{sb.run_root}/hatoba.sock"}

    def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [DOCKER, *args], env=env, capture_output=True, text=True, check=False, timeout=60
        )
        assert not check or done.returncode == 0, done.stderr
        return done

    caps = docker("run", "--rm", "--cap-add", "NET_ADMIN", "hostfs", "grep", "CapEff",
                  "/proc/self/status").stdout  # fmt: skip
    assert int(caps.split()[1], 16) == DEFAULT_CAPS | CAP_NET_ADMIN
    sysctl = docker("run", "--rm", "--sysctl", "net.ipv4.ip_forward=1", "hostfs", "cat",
                    "/proc/sys/net/ipv4/ip_forward").stdout  # fmt: skip
    assert sysctl == "1\n"
    cid = docker("run", "-d", "-m", "32m", "--pids-limit", "40", "hostfs", "sleep", "60").stdout
    cid = cid.strip()
    try:
        pid = docker("inspect", "-f", "{{.State.Pid}}", cid).stdout.strip()
        assert cgroup_file(pid, "memory", "memory.limit_in_bytes") == f"{32 << 20}\n"
        docker("update", "--pids-limit", "60", "-m", "40m", "--memory-swap", "80m", cid)
        assert cgroup_file(pid, "pids", "pids.max") == "60\n"
        assert cgroup_file(pid, "memory", "memory.limit_in_bytes") == f"{40 << 20}\n"
        docker("pause", cid)
        assert cgroup_file(pid, "freezer", "freezer.state") == "FROZEN\n"
        assert docker("inspect", "-f", "{{.State.Status}} {{.State.Paused}}", cid).stdout == (
            "paused true\n"
        )
        assert "(Paused)" in docker("ps").stdout
        docker("unpause", cid)
        assert cgroup_file(pid, "freezer", "freezer.state") == "THAWED\n"
    finally:
        docker("rm", "-f", cid)
    done = docker("run", "--rm", "--cpuset-cpus", "0", "hostfs", "true", check=False)
    assert "hatoba does not support HostConfig.CpusetCpus yet" in done.stderr


def test_through_the_docker_sdk(sb: Sandbox) -> None:
    sb.hatoba("info")  # the CLI starts the service the SDK talks to
    client = docker.DockerClient(
        base_url=f"unix://{sb.run_root}/hatoba.sock", version="1.41", timeout=60
    )
    script = f"{IP_LINK_ADD} 2>&1; echo status $?"
    out = client.containers.run("hostfs", ["sh", "-c", script], remove=True)
    assert out == b"RTNETLINK answers: Operation not permitted\nstatus 2\n"
    c = client.containers.run(
        "hostfs", "sleep 60", detach=True,
        cap_add=["NET_ADMIN"], cap_drop=["MKNOD"], security_opt=["no-new-privileges"],
        sysctls={"net.ipv4.ip_forward": "1", "kernel.shmmax": "123456"},
        devices=["/dev/fuse:/dev/myfuse:r"], read_only=True, shm_size="2m",
        ulimits=[Ulimit(name="nofile", soft=512, hard=1024)],
        mem_limit="32m", nano_cpus=500_000_000, pids_limit=40,
    )  # fmt: skip
    try:
        c.reload()  # the SDK's attributes are from before the start
        pid = str(c.attrs["State"]["Pid"])
        assert status_field(pid, "CapEff") == DEFAULT_CAPS & ~CAP_MKNOD | CAP_NET_ADMIN
        assert status_field(pid, "NoNewPrivs") == 1
        script = (
            "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmax; ulimit -n; "
            "stat -c %t:%T /dev/myfuse; touch /etc/probe 2>/dev/null || echo read-only; "
            f"{IP_LINK_ADD} && echo added"
        )
        fuse = os.stat("/dev/fuse").st_rdev
        assert c.exec_run(["sh", "-c", script]).output.decode().split() == [
            "1", "123456", "512", f"{os.major(fuse):x}:{os.minor(fuse):x}", "read-only", "added"
        ]  # fmt: skip
        assert cgroup_file(pid, "memory", "memory.limit_in_bytes") == f"{32 << 20}\n"
        assert cgroup_file(pid, "cpu", "cpu.cfs_quota_us") == "50000\n"
        assert cgroup_file(pid, "pids", "pids.max") == "40\n"
        c.update(mem_limit="48m", memswap_limit="96m")
        assert cgroup_file(pid, "memory", "memory.limit_in_bytes") == f"{48 << 20}\n"
        with pytest.raises(docker.errors.APIError) as conflict:
            c.update(cpu_quota=20000)
        assert "CPU Quota cannot be updated as NanoCPUs has already been set" in str(
            conflict.value.explanation
        )
        c.pause()
        c.reload()
        assert c.status == "paused"
        assert cgroup_file(pid, "freezer", "freezer.state") == "FROZEN\n"
        c.unpause()
        assert cgroup_file(pid, "freezer", "freezer.state") == "THAWED\n"
    finally:
        c.remove(force=True)
    with pytest.raises(docker.errors.APIError) as refused:
        client.containers.run("hostfs", "true", sysctls={"kernel.pid_max": "100"})
    assert refused.value.status_code == 400
    assert refused.value.explanation == (
        'sysctl "kernel.pid_max" is not in a separate kernel namespace'
    )
    with pytest.raises(docker.errors.APIError) as refused:
        client.containers.run("hostfs", "true", cpuset_cpus="0")
    assert refused.value.status_code == 400
    assert refused.value.explanation == "hatoba does not support HostConfig.CpusetCpus yet"
    assert client.containers.list(all=True) == [] and list(container_cgroups(sb)) == []
