"""The engine core through the CLI: concurrency, crashes, restarts and reset, in sandboxes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from fixtures.leakcheck import under_hidden_cgroup2
from fixtures.processes import eventually, kill_unsupervised, wait_gone
from hatoba import keeper
from hatoba.kernel import cgroups
from hatoba.testing import Sandbox

pytestmark = pytest.mark.root


@pytest.fixture
def sb():
    with Sandbox() as sandbox:
        yield sandbox


def _ids(sb: Sandbox, *args: str) -> list[str]:
    return sb.hatoba("ps", "-aq", "--no-trunc", *args).stdout.split()


def _inspect(sb: Sandbox, ref: str) -> dict:
    return json.loads(sb.hatoba("inspect", ref).stdout)[0]


def _owned_links(sb: Sandbox) -> list[tuple[str, str]]:
    out = sb.sh(["ip", "-j", "-d", "link", "show"]).stdout
    return [
        (link["ifname"], link.get("ifalias", ""))
        for link in json.loads(out)
        if link.get("ifalias", "").startswith("hatoba:")
    ]


def _mounts_below(path: Path) -> list[str]:
    prefix = str(path) + "/"
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(prefix)]


def _assert_consistent(sb: Sandbox) -> None:
    """Every kernel object hatoba made belongs to a record, and every record is whole."""
    running = set(_ids(sb, "--filter", "status=running"))
    everyone = set(_ids(sb))
    handles = {p.name for p in (sb.run_root / "netns").iterdir()}
    assert handles == running, f"namespace handles {handles} vs running {running}"
    mounted = {Path(m).name for m in _mounts_below(sb.run_root / "netns")}
    assert mounted == running
    networks = set(sb.hatoba("network", "ls", "-q", "--no-trunc").stdout.split())
    for name, alias in _owned_links(sb):
        owner = alias.removeprefix("hatoba:")
        assert owner in networks or owner in running, f"{name} belongs to {owner}"
    crun_state = {p.name for p in (sb.run_root / "crun").iterdir() if p.is_dir()}
    assert crun_state <= running
    for cid in everyone - running:
        state = _inspect(sb, cid)["State"]
        assert state["Status"] in ("created", "exited")
        assert not (sb.run_root / "containers" / cid[:12]).exists()


def test_ten_parallel_runs_get_distinct_addresses(sb: Sandbox) -> None:
    sb.hatoba("network", "create", "par")

    def run(i: int) -> object:
        return sb.hatoba(
            "run", "-d", "--name", f"p{i}", "--net", "par", "hostfs", "sleep", "inf"
        ).stdout

    with ThreadPoolExecutor(10) as pool:
        list(pool.map(run, range(10)))
    addresses = [
        _inspect(sb, f"p{i}")["NetworkSettings"]["Networks"]["par"]["IPAddress"] for i in range(10)
    ]
    assert len(set(addresses)) == 10
    assert all(a.startswith("172.18.0.") for a in addresses)
    # and they really are distinct on the wire: everyone answers
    for address in addresses:
        sb.hatoba("exec", "p0", "ping", "-c", "1", "-W", "2", address)
    _assert_consistent(sb)


def test_service_restart_keeps_containers(sb: Sandbox) -> None:
    sb.hatoba("network", "create", "keep")
    sb.hatoba("run", "-d", "--name", "k1", "--net", "keep", "hostfs", "sleep", "inf")
    sb.hatoba("run", "-d", "--name", "k2", "--net", "keep", "hostfs", "sleep", "inf")
    sb.hatoba("run", "-d", "--name", "gone", "hostfs", "sleep", "inf")
    before = {c: _inspect(sb, c)["State"]["Pid"] for c in ("k1", "k2", "gone")}
    kill_unsupervised(sb)
    # while the service is down, one container dies
    os.kill(before["gone"], signal.SIGKILL)
    time.sleep(0.2)
    ps = sb.hatoba("ps", "--format", "json").stdout  # auto-starts a new service
    names = {json.loads(line)["Names"] for line in ps.splitlines()}
    assert names == {"k1", "k2"}
    assert _inspect(sb, "k1")["State"]["Pid"] == before["k1"]
    assert _inspect(sb, "gone")["State"]["Status"] == "exited"
    sb.hatoba("exec", "k1", "ping", "-c", "1", "-W", "2", "k2")
    # the restarted service still sees exits and cleans up after them
    sb.hatoba("stop", "-t", "0", "k2")
    assert _inspect(sb, "k2")["State"]["Status"] == "exited"
    _assert_consistent(sb)


@pytest.mark.parametrize("delay_ms", [0, 2, 5, 8, 12, 20])
def test_kill_9_during_run_leaves_nothing_half_made(sb: Sandbox, delay_ms: int) -> None:
    sb.hatoba("network", "create", "crash")
    sb.hatoba("run", "-d", "--name", "warm", "--net", "crash", "hostfs", "sleep", "inf")
    run = sb.popen(
        [
            *sb.hatoba_argv,
            "run",
            "-d",
            "--name",
            "victim",
            "--net",
            "crash",
            "hostfs",
            "sleep",
            "inf",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(delay_ms / 1000)
    kill_unsupervised(sb)
    run.wait(timeout=30)
    time.sleep(0.1)
    _assert_consistent(sb)  # the first CLI call here restarts the service
    victim = sb.hatoba("ps", "-aq", "--filter", "name=victim").stdout.split()
    if victim and _inspect(sb, "victim")["State"]["Status"] == "running":
        sb.hatoba("exec", "victim", "ping", "-c", "1", "-W", "2", "warm")


def test_reset_leaves_the_host_as_before(sb: Sandbox) -> None:
    def host_state() -> tuple[str, str, str]:
        links = sb.sh(["ip", "-br", "link"]).stdout
        return links, sb.sh(["nft", "list", "ruleset"]).stdout, sb.sh(["ip", "route"]).stdout

    before = host_state()
    sb.hatoba("network", "create", "r1")
    sb.hatoba("network", "create", "--internal", "r2")
    sb.hatoba("run", "-d", "--name", "a1", "--net", "r1", "hostfs", "sleep", "inf")
    sb.hatoba("run", "-d", "--name", "a2", "hostfs", "sleep", "inf")
    sb.hatoba("network", "connect", "r2", "a1")
    sb.hatoba("run", "-d", "--name", "a3", "--net", "none", "hostfs", "sleep", "inf")
    sb.hatoba("run", "-d", "--name", "a4", "--net", "host", "hostfs", "sleep", "inf")
    sb.hatoba("create", "--name", "a5", "hostfs", "true")
    kept_by = sb.keeper_pid()
    assert kept_by is not None
    sb.hatoba("system", "reset", "-f")
    # a stop on purpose: the keeper does not start the service again but ends too
    wait_gone(kept_by, seconds=5)
    assert sb.keeper_pid() is None
    time.sleep(0.3)  # the kernel reaps dropped namespaces in the background
    assert host_state() == before
    assert not _mounts_below(sb.run_root)
    assert sb.service_pid() is None
    # and hatoba starts afresh afterwards
    assert "bridge" in sb.hatoba("network", "ls").stdout


@pytest.mark.skipif(not cgroups.hybrid(), reason="not a hybrid cgroup host")
def test_a_container_leaves_nothing_under_the_hidden_cgroup2_tree(sb: Sandbox) -> None:
    """A shim hides a hybrid host's cgroup2 tree from crun, which still makes the container's
    folder where the tree was: in a tmpfs of the shim's namespace, gone with it (in the host's
    /sys/fs/cgroup tmpfs below the tree's mount it stayed for ever)."""
    sb.hatoba("run", "--rm", "hostfs", "true")
    sb.hatoba("run", "-d", "--name", "leaver", "hostfs", "sleep", "inf")
    sb.hatoba("rm", "-f", "leaver")
    assert eventually(lambda: not under_hidden_cgroup2(sb.cgroup_parent))


def test_a_second_service_on_a_run_root_in_use_says_so_and_is_not_restarted(sb: Sandbox) -> None:
    sb.hatoba("network", "ls")
    second = sb.hatoba("service", check=False)
    assert second.returncode == keeper.ALREADY_RUNNING  # which neither keeper nor systemd retry
    assert f"already running in {sb.run_root} (pid {sb.service_pid()})" in second.stderr
