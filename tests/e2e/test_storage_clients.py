"""Storage as Docker clients use it, against a sandboxed service behind the recording proxy:
the docker CLI (`volume`, `run -v/--mount/--tmpfs`, `cp`, `diff`, `commit`, `export`,
`system df`, `system prune --volumes`) and the Docker SDK for Python (volumes, mounts,
put_archive/get_archive, diff, commit, export, prune, df). Every answer is Docker's: no 5xx,
and refusals name the problem with nothing made.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from typing import Any

import docker
import pytest
from docker.types import Mount

from fixtures.api_recorder import ApiRecorder
from fixtures.busybox_images import busybox_images
from fixtures.image_sandbox import import_busybox, tar_names
from hatoba.images.busybox import RootfsImage
from hatoba.testing import Sandbox

__all__ = ["busybox_images"]

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(shutil.which("docker") is None, reason="needs the docker CLI"),
]


class Clients:
    def __init__(self, sb: Sandbox, recorder: ApiRecorder) -> None:
        self.sb = sb
        self.recorder = recorder
        self.host = f"unix://{recorder.listen}"
        self.sdk = docker.DockerClient(base_url=self.host, version="1.41", timeout=60)

    def docker(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            ["docker", *args],
            env={
                "DOCKER_HOST": self.host,
                "PATH": "/usr/local/bin:/usr/bin:/bin",
                "HOME": str(self.sb.dir),
            },
            cwd=self.sb.dir,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)}: {done.stderr}")
        return done

    def nothing_left(self) -> None:
        assert self.sb.hatoba("ps", "-aq").stdout == ""
        assert self.sb.hatoba("volume", "ls", "-q").stdout == ""
        assert not list((self.sb.root / "volumes").iterdir())


@pytest.fixture(scope="module")
def clients(busybox_images: tuple[RootfsImage, RootfsImage]) -> Iterator[Clients]:
    with Sandbox() as sb:
        import_busybox(sb, busybox_images)
        (sb.dir / "hostdir").mkdir()
        (sb.dir / "hostdir" / "greeting").write_text("hello\n")
        with ApiRecorder(sb.run_root / "hatoba.sock", sb.dir / "docker.sock") as recorder:
            yield Clients(sb, recorder)


def test_the_docker_cli(clients: Clients) -> None:
    d, sb = clients.docker, clients.sb
    d("volume", "create", "--label", "tier=db", "clivol")
    assert d("volume", "ls", "-q").stdout == "clivol\n"
    assert json.loads(d("volume", "inspect", "clivol").stdout)[0]["Labels"] == {"tier": "db"}
    d(
        "run",
        "-d",
        "--name",
        "cli1",
        "-v",
        "clivol:/data",
        "-v",
        f"{sb.dir}/hostdir:/h:ro",
        "--mount",
        "type=tmpfs,dst=/t,tmpfs-size=1m",
        "--tmpfs",
        "/run2",
        "-v",
        "/anon",
        "alpine",
        "sleep",
        "300",
    )
    mounts = json.loads(d("inspect", "-f", "{{json .Mounts}}", "cli1").stdout)
    assert {m["Destination"]: m["Type"] for m in mounts} == {
        "/data": "volume",
        "/h": "bind",
        "/t": "tmpfs",
        "/anon": "volume",
    }
    d("cp", f"{sb.dir}/hostdir/greeting", "cli1:/data/")
    assert d("exec", "cli1", "cat", "/data/greeting").stdout == "hello\n"
    d("cp", "cli1:/data/greeting", f"{sb.dir}/back")
    assert (sb.dir / "back").read_text() == "hello\n"
    assert "A /data" in d("diff", "cli1").stdout
    assert d("commit", "cli1", "cliimg:1").stdout.startswith("sha256:")
    d("export", "-o", f"{sb.dir}/cli1.tar", "cli1")
    assert "bin/busybox" in tar_names(sb.dir / "cli1.tar")
    assert "Local Volumes" in d("system", "df").stdout
    refused = d(
        "run", "--rm", "--mount", "type=bind,src=/nonexistent,dst=/x", "alpine", "true", check=False
    )
    assert refused.returncode == 125
    assert "bind source path does not exist: /nonexistent" in refused.stderr
    d("rm", "-f", "-v", "cli1")
    assert d("volume", "ls", "-q").stdout == "clivol\n"  # the anonymous one went with it
    pruned = d("system", "prune", "-f", "--volumes").stdout
    assert "clivol" in pruned and "Total reclaimed space" in pruned
    d("rmi", "cliimg:1")
    clients.nothing_left()


def _tar(files: dict[str, str]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tf:
        for name, text in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(text)
            tf.addfile(info, io.BytesIO(text.encode()))
    return out.getvalue()


def test_the_docker_sdk(clients: Clients) -> None:
    client, sb = clients.sdk, clients.sb
    volume = client.volumes.create(name="sdkvol", labels={"tier": "cache"})
    assert volume.attrs["Mountpoint"] == str(sb.root / "volumes" / "sdkvol" / "_data")
    assert [v.name for v in client.volumes.list(filters={"label": "tier=cache"})] == ["sdkvol"]
    container = client.containers.run(
        "alpine",
        "sleep 300",
        detach=True,
        name="sdk1",
        volumes={
            "sdkvol": {"bind": "/data", "mode": "rw"},
            str(sb.dir / "hostdir"): {"bind": "/h", "mode": "ro"},
        },
        mounts=[Mount("/t", None, type="tmpfs", tmpfs_size=1 << 20)],
        tmpfs={"/run2": "size=64k"},
    )
    assert container.put_archive("/data", _tar({"from-sdk.txt": "sdk\n"}))
    stream, stat = container.get_archive("/data/from-sdk.txt")
    assert stat["name"] == "from-sdk.txt" and stat["size"] == 4
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tf:
        assert tf.extractfile("from-sdk.txt").read() == b"sdk\n"  # type: ignore[union-attr]
    assert (sb.root / "volumes" / "sdkvol" / "_data" / "from-sdk.txt").exists()
    assert container.exec_run("cat /h/greeting").output == b"hello\n"
    changes: list[dict[str, Any]] = container.diff()
    assert {"Path": "/data", "Kind": 1} in changes
    image = container.commit(repository="sdkimg", tag="1", changes=["ENV SDK=1"])
    assert "SDK=1" in image.attrs["Config"]["Env"]
    # the SDK also lists bind targets in Config.Volumes; Docker keeps them in the image too
    assert image.attrs["Config"]["Volumes"] == {"/data": {}, "/h": {}}
    assert image.attrs["Container"] == container.id
    exported = b"".join(container.export())
    assert "bin/busybox" in tar_names(exported)
    usage = client.df()
    assert [v["UsageData"]["RefCount"] for v in usage["Volumes"]] == [1]
    with pytest.raises(docker.errors.APIError) as refused:
        client.containers.run("alpine", "true", mounts=[Mount("/x", "/nonexistent", type="bind")])
    assert refused.value.status_code == 400
    assert "bind source path does not exist: /nonexistent" in str(refused.value.explanation)
    container.remove(force=True, v=True)
    assert client.containers.prune()["SpaceReclaimed"] == 0
    assert client.volumes.prune()["VolumesDeleted"] == ["sdkvol"]
    client.images.remove("sdkimg:1")
    clients.nothing_left()


def test_a_missing_bind_source_of_v_is_made(clients: Clients) -> None:
    """`-v` of a missing host folder makes it (as Docker); the folder outlives the container."""
    made = clients.sb.dir / "made-by-run"
    clients.docker("run", "--rm", "-v", f"{made}:/m", "alpine", "touch", "/m/x")
    assert (made / "x").exists()
    clients.nothing_left()


def test_every_request_was_answered_as_docker_would(clients: Clients) -> None:
    """Last in the module: what the clients above sent."""
    seen = clients.recorder.take()
    assert {e.path for e in seen} >= {"/volumes/create", "/containers/cli1/archive", "/commit"}
    assert [str(e) for e in seen if e.status >= 500] == []
