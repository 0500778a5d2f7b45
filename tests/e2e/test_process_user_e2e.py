"""Who a container's processes are, through the CLI and the docker CLI: `-u` by ids and by a
name of the image's own /etc/passwd, the image's USER, `--group-add`, `exec -u`; `--init`
with tini as PID 1, reaping zombies and passing the stop signal on; `--stop-signal`."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
import time
from collections.abc import Callable, Iterator

import pytest

from fixtures.busybox_images import busybox_images
from fixtures.image_sandbox import error_line, import_busybox, run_output
from hatoba.images.busybox import RootfsImage
from hatoba.testing import Sandbox

__all__ = ["busybox_images"]

pytestmark = pytest.mark.root

DOCKER = shutil.which("docker")
USERS = {
    "etc/passwd": b"root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n",
    "etc/group": b"root:x:0:root\nstaff:x:50:app\naudio:x:29:\napp:x:1000:\n",
}
APP_ID = "uid=1000(app) gid=1000(app) groups=50(staff),1000(app)"


def with_users(rootfs: bytes) -> bytes:
    """The alpine stand-in with its /etc/passwd and /etc/group replaced by USERS."""
    out = io.BytesIO()
    with (
        tarfile.open(fileobj=io.BytesIO(rootfs)) as src,
        tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as dst,
    ):
        for member in src.getmembers():
            data = USERS.get(member.name)
            if data is not None:
                member.size = len(data)
                dst.addfile(member, io.BytesIO(data))
            else:
                dst.addfile(member, src.extractfile(member) if member.isfile() else None)
    return out.getvalue()


@pytest.fixture(scope="module")
def sb(busybox_images: tuple[RootfsImage, RootfsImage]) -> Iterator[Sandbox]:
    with Sandbox() as sb:
        import_busybox(sb, busybox_images)
        tarball = sb.dir / "users.tar"
        tarball.write_bytes(with_users(busybox_images[0].rootfs))
        sb.hatoba("import", "-c", 'CMD ["id"]', str(tarball), "users:1")
        sb.hatoba("import", "-c", 'CMD ["id"]', "-c", "USER app", str(tarball), "users:app")
        yield sb


@pytest.mark.parametrize(
    ("args", "output"),
    [
        (["-u", "65534:65534", "alpine", "id"], "uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)"),  # noqa: E501
        (["-u", "app", "users:1"], APP_ID),
        (["-u", "1000", "users:1"], APP_ID),
        (["-u", "app:audio", "users:1"], "uid=1000(app) gid=29(audio) groups=29(audio)"),
        (["--group-add", "audio", "-u", "app", "users:1"], "uid=1000(app) gid=1000(app) groups=29(audio),50(staff),1000(app)"),  # noqa: E501
        (["users:app"], APP_ID),
        (["-u", "root", "users:app"], "uid=0(root) gid=0(root) groups=0(root)"),
        (["-u", "app", "users:1", "sh", "-c", "echo $HOME"], "/home/app"),
        (["-w", "/made/for/me", "alpine", "pwd"], "/made/for/me"),
    ],
)  # fmt: skip
def test_the_user_and_the_working_directory(sb: Sandbox, args: list[str], output: str) -> None:
    assert run_output(sb, *args) == output + "\n"


def test_an_unknown_user_or_group_is_refused_and_leaves_nothing(sb: Sandbox) -> None:
    before = sb.hatoba("ps", "-aq").stdout
    for spec, what in (("nope", "user nope"), ("app:nope", "group nope")):
        done = sb.hatoba("run", "-u", spec, "users:1", check=False)
        assert done.returncode == 125
        kind = "passwd" if what.startswith("user") else "group"
        assert error_line(done) == (
            f"hatoba: Error response from daemon: unable to find {what}: no matching entries "
            f"in {kind} file."
        )
    assert sb.hatoba("ps", "-aq").stdout == before


def test_exec_runs_as_the_containers_user_or_its_own(sb: Sandbox) -> None:
    cid = sb.hatoba("run", "-d", "users:app", "sleep", "60").stdout.strip()
    try:
        assert sb.hatoba("exec", cid, "id").stdout.strip() == APP_ID
        assert sb.hatoba("exec", "-u", "root", cid, "id").stdout.startswith("uid=0(root)")
        env = sb.hatoba("exec", "-u", "0", "-e", "EXTRA=1", cid, "env").stdout.split()
        assert "HOME=/root" in env and "EXTRA=1" in env
        assert any(e.startswith("PATH=/usr/local/sbin") for e in env)
        done = sb.hatoba("exec", "-u", "nope", cid, "id", check=False)
        assert error_line(done) == (
            "Error response from daemon: unable to find user nope: no matching entries in "
            "passwd file"
        )
    finally:
        sb.hatoba("rm", "-f", cid)


def states(sb: Sandbox, cid: str) -> list[tuple[str, str]]:
    """(command, state) of every process in the container but the ones that look."""
    # a process may end between the glob and its read: the others are still worth reading
    out = sb.hatoba("exec", cid, "sh", "-c", "cat /proc/[0-9]*/stat 2>/dev/null; true").stdout
    found = []
    for line in out.splitlines():
        comm, state = line.split("(", 1)[1].rsplit(") ", 1)
        found.append((comm, state.split()[0]))
    return [(comm, state) for comm, state in found if comm not in ("sh", "cat")]


def orphan_sleeps(
    sb: Sandbox, *init: str, until: Callable[[list[tuple[str, str]]], bool]
) -> list[tuple[str, str]]:
    """A container whose main command leaves an orphan, then execs a process that never
    reaps: its processes once `until` holds for them (or the test fails after 10 s)."""
    script = "(sleep 0.2 &); exec sleep 60"
    cid = sb.hatoba("run", "-d", *init, "alpine", "sh", "-c", script).stdout.strip()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            found = states(sb, cid)
            if until(found):
                return found
            time.sleep(0.05)
        raise AssertionError(f"the orphan was not seen to end as expected: {found}")
    finally:
        sb.hatoba("rm", "-f", cid)


def test_init_is_pid_1_and_reaps_orphans(sb: Sandbox) -> None:
    assert run_output(sb, "--init", "alpine", "cat", "/proc/1/comm") == "docker-init\n"

    def reaped(found: list[tuple[str, str]]) -> bool:
        # the orphan gone altogether: only the exec'd sleep is left, under tini
        return [s for c, s in found if c == "sleep"] == ["S"]

    assert ("docker-init", "S") in orphan_sleeps(sb, "--init", until=reaped)
    # without it the orphan stays a zombie under a PID 1 that never reaps
    orphan_sleeps(sb, until=lambda found: ("sleep", "Z") in found)


def test_init_passes_the_stop_signal_on(sb: Sandbox) -> None:
    """`sleep` as PID 1 would ignore SIGTERM and be killed after the timeout (137)."""
    cid = sb.hatoba("run", "-d", "--init", "alpine", "sleep", "60").stdout.strip()
    sb.hatoba("stop", "-t", "30", cid)
    assert sb.hatoba("inspect", "--format", "{{.State.ExitCode}}", cid).stdout.strip() == "143"
    sb.hatoba("rm", cid)


def test_the_stop_signal_is_checked_and_used(sb: Sandbox) -> None:
    done = sb.hatoba("run", "--stop-signal", "SIGNOPE", "alpine", "true", check=False)
    assert error_line(done) == (
        "hatoba: Error response from daemon: Invalid signal: SIGNOPE. See 'hatoba run --help'."
    )
    script = "trap 'exit 7' USR1; while :; do sleep 0.05; done"
    cid = sb.hatoba(
        "run", "-d", "--stop-signal", "USR1", "alpine", "sh", "-c", script
    ).stdout.strip()
    sb.hatoba("stop", "-t", "30", cid)
    assert sb.hatoba("inspect", "--format", "{{.State.ExitCode}}", cid).stdout.strip() == "7"
    sb.hatoba("rm", cid)


@pytest.mark.skipif(DOCKER is None, reason="no docker CLI")
def test_through_the_docker_cli(sb: Sandbox) -> None:
    assert DOCKER is not None
    env = {**os.environ, "DOCKER_HOST": f"unix://{sb.run_root}/hatoba.sock"}

    def docker(*args: str) -> str:
        done = subprocess.run([DOCKER, *args], env=env, capture_output=True, text=True, check=True)
        return done.stdout.strip()

    assert docker("run", "--rm", "-u", "app", "users:1") == APP_ID
    assert docker("run", "--rm", "-u", "65534:65534", "alpine", "id").startswith("uid=65534(")
    assert docker("run", "--rm", "--init", "alpine", "cat", "/proc/1/comm") == "docker-init"
    cid = docker("run", "-d", "users:1", "sleep", "60")
    try:
        assert docker("exec", "-u", "app", cid, "id") == APP_ID
        assert docker("inspect", "--format", "{{.Config.User}}", cid) == ""
    finally:
        docker("rm", "-f", cid)
