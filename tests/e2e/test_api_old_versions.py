"""Clients of older API versions against a sandboxed service: the Docker SDK for Python at
1.24 and the docker 20.10 CLI with DOCKER_API_VERSION=1.24 run a create/start/inspect/wait/rm
cycle; requests of older versions still get Docker 20.10's answers for them where storage is
needed (inspect's Volumes before 1.20, BindOptions.NonRecursive before 1.40, copy before 1.24,
commit's pause before 1.13). The unit tests of every difference: tests/unit/api/
test_api_versions.py."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from fixtures.busybox_images import busybox_images
from fixtures.image_sandbox import import_busybox
from hatoba.images.busybox import RootfsImage
from hatoba.testing import Sandbox

__all__ = ["busybox_images"]

DOCKER_20 = Path(__file__).parents[2] / ".tools" / "docker-20.10" / "docker"
DOCKER = str(DOCKER_20) if DOCKER_20.exists() else shutil.which("docker")

pytestmark = [pytest.mark.root]


@pytest.fixture(scope="module")
def sandbox(busybox_images: tuple[RootfsImage, RootfsImage]) -> Iterator[Sandbox]:
    with Sandbox() as sb:
        import_busybox(sb, busybox_images)
        yield sb


@pytest.fixture
def sdk(sandbox: Sandbox) -> Iterator[docker.DockerClient]:
    host = f"unix://{sandbox.run_root / 'hatoba.sock'}"
    client = docker.DockerClient(base_url=host, version="1.24", timeout=60)
    yield client
    client.close()


def test_the_sdk_at_api_1_24(sdk: docker.DockerClient, sandbox: Sandbox) -> None:
    (sandbox.dir / "data").mkdir(exist_ok=True)
    container = sdk.containers.create(
        "alpine",
        ["sh", "-c", "cat /data/x 2>/dev/null; exit 3"],
        name="sdk124",
        volumes={str(sandbox.dir / "data"): {"bind": "/data", "mode": "ro"}},
    )
    container.start()
    assert container.wait()["StatusCode"] == 3
    container.reload()
    assert container.attrs["State"]["ExitCode"] == 3
    assert container.attrs["Mounts"][0]["Destination"] == "/data"
    container.remove()
    assert not sdk.containers.list(all=True, filters={"name": "sdk124"})


@pytest.mark.skipif(DOCKER is None, reason="needs the docker CLI")
def test_the_docker_cli_at_api_1_24(sandbox: Sandbox) -> None:
    assert DOCKER is not None
    env = {
        "DOCKER_HOST": f"unix://{sandbox.run_root / 'hatoba.sock'}",
        "DOCKER_API_VERSION": "1.24",
        "PATH": "/usr/bin:/bin",
        "HOME": str(sandbox.dir),
    }

    def d(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [DOCKER, *args], env=env, capture_output=True, text=True, timeout=60, check=False
        )

    assert d("version", "--format", "{{.Client.APIVersion}}").stdout.strip() == "1.24"
    run = d("run", "--name", "cli124", "alpine", "sh", "-c", "echo hi; exit 4")
    assert (run.returncode, run.stdout) == (4, "hi\n"), run.stderr
    inspected = d("inspect", "--format", "{{.State.ExitCode}} {{.State.Status}}", "cli124")
    assert inspected.stdout.strip() == "4 exited", inspected.stderr
    created = d("create", "--name", "cli124b", "alpine", "true")
    assert created.returncode == 0, created.stderr
    assert d("start", "cli124b").returncode == 0
    assert d("wait", "cli124b").stdout.strip() == "0"
    removed = d("rm", "cli124", "cli124b")
    assert removed.returncode == 0, removed.stderr
    assert d("ps", "-aq").stdout == ""


def call(sdk: docker.DockerClient, method: str, path: str, body: Any = None, **params: str) -> Any:
    api = sdk.api
    url = f"{api.base_url}{path}"
    if method == "POST":
        reply = api._post_json(url, data=body, params=params)
    elif method == "DELETE":
        reply = api._delete(url, params=params)
    else:
        reply = api._get(url, params=params)
    assert reply.status_code < 300, (reply.status_code, reply.text)
    return reply


def test_older_requests_where_storage_is_needed(sdk: docker.DockerClient, sandbox: Sandbox) -> None:
    data = sandbox.dir / "old"
    (data / "sub").mkdir(parents=True, exist_ok=True)
    bind = {"Type": "bind", "Source": str(data), "Target": "/old"}
    body = {
        "Image": "alpine",
        "Cmd": ["sleep", "1d"],
        "HostConfig": {"Mounts": [{**bind, "BindOptions": {"NonRecursive": True}}]},
    }
    made = call(sdk, "POST", "/v1.39/containers/create", body, name="old139").json()["Id"]
    mounts = call(sdk, "GET", f"/v1.41/containers/{made}/json").json()["HostConfig"]["Mounts"]
    assert "NonRecursive" not in mounts[0].get("BindOptions", {})  # not read before 1.40
    call(sdk, "DELETE", f"/containers/{made}")
    made = call(sdk, "POST", "/v1.40/containers/create", body, name="old140").json()["Id"]
    mounts = call(sdk, "GET", f"/v1.41/containers/{made}/json").json()["HostConfig"]["Mounts"]
    assert mounts[0]["BindOptions"]["NonRecursive"] is True
    call(sdk, "POST", f"/containers/{made}/start")

    v119 = call(sdk, "GET", f"/v1.19/containers/{made}/json").json()
    assert v119["Volumes"] == {"/old": str(data)} and v119["VolumesRW"] == {"/old": True}
    assert "Mounts" not in v119

    copied = call(sdk, "POST", f"/v1.23/containers/{made}/copy", {"Resource": "/etc/hostname"})
    with tarfile.open(fileobj=io.BytesIO(copied.content)) as tar:
        assert tar.getnames() == ["hostname"]

    def paused_by_commit(version: str) -> bool:
        since = str(time.time())
        call(sdk, "POST", f"/v{version}/commit", container=made, repo=f"old{version}")
        filters = json.dumps({"event": ["pause"], "container": [made]})
        until = str(time.time() + 0.5)
        events = call(sdk, "GET", "/events", since=since, until=until, filters=filters)
        return bool(events.text.strip())

    assert not paused_by_commit("1.12")
    assert paused_by_commit("1.13")
    call(sdk, "DELETE", f"/containers/{made}", force="1")
    for version in ("1.12", "1.13"):
        call(sdk, "DELETE", f"/images/old{version}")
