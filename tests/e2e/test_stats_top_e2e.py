"""stats, top and events through the service, with hatoba's CLI and the docker CLI: network
counters that grow while traffic flows, the container's processes (an exec'd one too), and
the events `docker events` sees during a run and an rm."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest

from hatoba.cli.client import Client
from hatoba.testing import Sandbox

pytestmark = pytest.mark.root

needs_docker = pytest.mark.skipif(shutil.which("docker") is None, reason="needs the docker CLI")


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with Sandbox() as sb:
        sb.hatoba(
            "run", "-d", "--name", "web", "-m", "64m", "hostfs", "sh", "-c", "sleep 1d & sleep 2d"
        )
        yield sb


def docker(sb: Sandbox, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**sb.env, "DOCKER_HOST": f"unix://{sb.run_root}/hatoba.sock"}
    return sb.sh(["docker", *args], env=env, check=check)


def address(sb: Sandbox, name: str) -> str:
    return str(json.loads(sb.hatoba("inspect", name).stdout)[0]["NetworkSettings"]["IPAddress"])


def test_network_counters_grow_while_traffic_flows(sb: Sandbox) -> None:
    stream = Client(str(sb.run_root / "hatoba.sock")).request(
        "GET", "/containers/web/stats", {"stream": 1}
    )
    docs = stream.json_lines()
    try:
        first = next(docs)["networks"]["eth0"]
        # 20 echo requests of 1000 bytes to the container: it receives them and answers each
        sb.sh(["ping", "-c", "20", "-i", "0.01", "-s", "1000", "-q", address(sb, "web")])
        for _ in range(5):  # a document a second: the ping ended before the second one
            now = next(docs)["networks"]["eth0"]
            if now["rx_packets"] - first["rx_packets"] >= 20:
                break
    finally:
        stream.close()
    assert now["rx_packets"] - first["rx_packets"] >= 20
    assert now["tx_packets"] - first["tx_packets"] >= 20
    assert now["rx_bytes"] - first["rx_bytes"] >= 20 * 1000
    assert now["tx_bytes"] - first["tx_bytes"] >= 20 * 1000
    table = sb.hatoba("stats", "--no-stream", "web").stdout.splitlines()
    header = "CONTAINER ID NAME CPU % MEM USAGE / LIMIT MEM % NET I/O BLOCK I/O PIDS"
    assert " ".join(table[0].split()) == header
    cells = re.split(r"\s{2,}", table[1])
    assert cells[1] == "web" and cells[-1] == "3"
    assert re.fullmatch(r"\d+(\.\d+)?kB / \d+(\.\d+)?kB", cells[5]), cells


def test_top_lists_the_container_s_processes(sb: Sandbox) -> None:
    sb.hatoba("exec", "-d", "web", "sleep", "3d")
    expected = ["sh -c sleep 1d & sleep 2d", "sleep 1d", "sleep 2d", "sleep 3d"]
    deadline = time.monotonic() + 10
    while True:
        lines = sb.hatoba("top", "web").stdout.splitlines()
        commands = sorted(line.split(None, 8)[8] for line in lines[1:])
        # the exec's process is on its way: first crun's, then sleep's
        if commands == expected or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert lines[0].split() == ["UID", "PID", "PPID", "C", "STIME", "TTY", "STAT", "TIME", "CMD"]
    assert commands == expected
    pids = sb.hatoba("top", "web", "-o", "pid,comm").stdout.splitlines()
    assert pids[0].split() == ["PID", "COMMAND"] and len(pids) == 5
    stopped = sb.hatoba("create", "--name", "idle", "hostfs", "true").stdout.strip()
    refused = sb.hatoba("top", "idle", check=False)
    assert refused.returncode == 1
    assert refused.stderr == f"Error response from daemon: Container {stopped} is not running\n"
    sb.hatoba("rm", "idle")


@needs_docker
def test_docker_events_during_a_run_and_an_rm(sb: Sandbox) -> None:
    env = {**sb.env, "DOCKER_HOST": f"unix://{sb.run_root}/hatoba.sock"}
    fmt = "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}"
    events = sb.popen(["docker", "events", "--format", fmt], env=env, stdout=subprocess.PIPE,
                      stderr=subprocess.PIPE, text=True)  # fmt: skip
    seen: list[str] = []
    assert events.stdout is not None
    reader = threading.Thread(target=lambda: seen.extend(events.stdout or ()), daemon=True)
    reader.start()
    try:
        # docker events prints nothing before its first event: a run until one is seen
        docker(sb, "run", "--rm", "--name", "hello", "hostfs", "true")
        wait_for(lambda: "container destroy hello\n" in seen)
        docker(sb, "run", "-d", "--name", "ev", "hostfs", "sleep", "1d")
        docker(sb, "rm", "-f", "ev")
        wait_for(lambda: "container destroy ev\n" in seen)
    finally:
        events.terminate()
        events.communicate(timeout=10)
    about_ev = [line.rstrip("\n") for line in seen if line.endswith(" ev\n") or "bridge" in line]
    assert about_ev[-7:] == [
        "container create ev",
        "network connect bridge",
        "container start ev",
        "container kill ev",
        "container die ev",
        "network disconnect bridge",
        "container destroy ev",
    ]


@needs_docker
def test_docker_stats_and_top(sb: Sandbox) -> None:
    table = docker(sb, "stats", "--no-stream").stdout.splitlines()
    assert table[0].split()[:4] == ["CONTAINER", "ID", "NAME", "CPU"]
    row = next(line for line in table if " web " in line)
    cells = re.split(r"\s{2,}", row.strip())
    assert cells[-1] == "4"  # sh, two sleeps, the exec's sleep
    # memory: the container's own cgroup, under its limit
    usage, limit = cells[3].split(" / ")
    assert limit == "64MiB" and usage != "0B", cells
    top = docker(sb, "top", "web").stdout
    assert "sleep 2d" in top and "sleep 3d" in top
    assert docker(sb, "top", "web", "-o", "pid,comm").stdout.split()[:2] == ["PID", "COMMAND"]


def wait_for(done: object) -> None:
    """Until `done()`; the service publishes an event before it answers the request."""
    deadline = time.monotonic() + 10
    while not done() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.05)
    assert done(), "event not seen"  # type: ignore[operator]
