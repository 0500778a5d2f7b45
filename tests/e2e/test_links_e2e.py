"""Legacy links on the default bridge, through hatoba's CLI, the docker CLI and the Docker SDK:
the linked container's variables and /etc/hosts line inside the linking one, reaching it by
its alias, HostConfig.Links and `rm --link`, and Docker's refusals with nothing made."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator

import docker
import pytest

from hatoba.testing import Sandbox

pytestmark = pytest.mark.root
DOCKER = shutil.which("docker")


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with Sandbox() as sb:
        sb.hatoba(
            "run", "-d", "--name", "db", "-e", "SECRET=s3", "--expose", "5432",
            "hostfs", "sleep", "infinity",
        )  # fmt: skip
        yield sb


def db_address(sb: Sandbox) -> str:
    found = sb.hatoba("inspect", "-f", "{{.NetworkSettings.IPAddress}}", "db").stdout.strip()
    assert found
    return found


def containers(sb: Sandbox) -> str:
    return sb.hatoba("ps", "-aq").stdout


def test_the_variables_and_the_hosts_line(sb: Sandbox) -> None:
    address = db_address(sb)
    seen = sb.hatoba(
        "run", "--rm", "--name", "web", "--link", "db:pg", "hostfs",
        "sh", "-c", "env; cat /etc/hosts; ping -c1 -W2 pg >/dev/null && echo reached",
    ).stdout  # fmt: skip
    assert f"PG_PORT=tcp://{address}:5432\n" in seen
    assert f"PG_PORT_5432_TCP_ADDR={address}\n" in seen
    assert "PG_NAME=/web/pg\n" in seen and "PG_ENV_SECRET=s3\n" in seen
    db_id = sb.hatoba("inspect", "-f", "{{.Id}}", "db").stdout.strip()
    assert f"{address}\tpg {db_id[:12]} db\n" in seen
    assert seen.endswith("reached\n")


def test_refusals_leave_nothing(sb: Sandbox) -> None:
    before = containers(sb)
    for args, error in [
        (("--link", "nothere:x"), "could not get container for nothere: No such container"),
        (("--net", "host", "--link", "db"), "host type networking can't be used with links"),
    ]:
        done = sb.hatoba("run", "--rm", *args, "hostfs", "true", check=False)
        assert done.returncode == 125 and error in done.stderr, done.stderr
    sb.hatoba("create", "--name", "idle", "hostfs", "true")
    try:
        done = sb.hatoba("run", "--name", "w2", "--link", "idle:x", "hostfs", "true", check=False)
        assert done.returncode == 125
        assert "Cannot link to a non running container: /idle AS /w2/x" in done.stderr
    finally:
        sb.hatoba("rm", "idle")
    assert containers(sb) == before


@pytest.mark.skipif(DOCKER is None, reason="no docker CLI")
def test_the_docker_cli_and_rm_link(sb: Sandbox) -> None:
    assert DOCKER is not None
    env = {**os.environ, "DOCKER_HOST": f"unix://{sb.run_root}/hatoba.sock"}

    def d(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([DOCKER, *args], env=env, capture_output=True, text=True, check=False)

    assert (
        d("run", "-d", "--name", "app", "--link", "db:pg", "hostfs", "sleep", "infinity").returncode
        == 0
    )
    try:
        links = d("inspect", "-f", "{{json .HostConfig.Links}}", "app").stdout
        assert json.loads(links) == ["/db:/app/pg"]
        assert d("exec", "app", "ping", "-c1", "-W2", "pg").returncode == 0
        names = json.loads(
            d("ps", "--no-trunc", "--format", "{{json .Names}}", "-f", "name=db").stdout
        )
        assert set(names.split(",")) == {"db", "app/pg"}
        refused = d("rm", "--link", "app")
        assert "Conflict, cannot remove the default link name of the container" in refused.stderr
        assert d("rm", "--link", "/app/pg").returncode == 0
        assert d("inspect", "-f", "{{json .HostConfig.Links}}", "app").stdout.strip() == "null"
    finally:
        d("rm", "-f", "app")


def test_the_docker_sdk(sb: Sandbox) -> None:
    client = docker.DockerClient(base_url=f"unix://{sb.run_root}/hatoba.sock", version="1.41")
    out = client.containers.run("hostfs", ["env"], links={"db": "data"}, remove=True)
    assert b"DATA_NAME=/" in out and b"DATA_ENV_SECRET=s3" in out
