"""`--net container:NAME` through the CLI and the docker CLI: the container sees the other's
interfaces, address and neighbours by name; Docker's errors; no network of its own; its
network gone when the other stops. And how a shim gets its namespace's handle: from a
descriptor, in a mount namespace copied from the fork server's own, which has no folder of
every handle (a copy of every handle's mount made each start slower with every running
container) and is made again from the host's once its mount table changed and the engine was
quiet for a second (where the host's mounts are private, as on this machine, nothing else
brings a later mount to it)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.busybox_images import busybox_images
from fixtures.image_sandbox import error_line, import_busybox
from fixtures.processes import eventually
from hatoba.images.busybox import RootfsImage
from hatoba.kernel import libc
from hatoba.testing import Sandbox

__all__ = ["busybox_images"]

pytestmark = pytest.mark.root

DOCKER = shutil.which("docker")


@pytest.fixture(scope="module")
def sb(busybox_images: tuple[RootfsImage, RootfsImage]) -> Iterator[Sandbox]:
    with Sandbox() as sb:
        import_busybox(sb, busybox_images)
        sb.hatoba("network", "create", "app")
        for name in ("web", "db"):
            sb.hatoba("run", "-d", "--name", name, "--net", "app", "alpine", "sleep", "infinity")
        yield sb


def inspect(sb: Sandbox, name: str) -> dict:  # type: ignore[type-arg]
    return json.loads(sb.hatoba("inspect", name).stdout)[0]  # type: ignore[no-any-return]


def eth0(sb: Sandbox, *run_args: str) -> str:
    out = sb.hatoba("run", "--rm", *run_args, "alpine", "ip", "-o", "-4", "addr", "show", "eth0")
    return out.stdout.split()[3]


def test_it_sees_the_other_containers_interface_hostname_and_neighbours(sb: Sandbox) -> None:
    web = inspect(sb, "web")
    address = web["NetworkSettings"]["Networks"]["app"]["IPAddress"]
    assert eth0(sb, "--net", "container:web") == f"{address}/16"
    script = "hostname; cat /etc/resolv.conf; ping -c 1 -W 2 db >/dev/null && echo reached db"
    out = sb.hatoba("run", "--rm", "--net", "container:web", "alpine", "sh", "-c", script)
    resolv = sb.hatoba("exec", "web", "cat", "/etc/resolv.conf").stdout
    assert out.stdout == f"{web['Config']['Hostname']}\n{resolv}reached db\n"


def test_inspect_shows_the_mode_by_id_and_no_network_of_its_own(sb: Sandbox) -> None:
    sb.hatoba("run", "-d", "--name", "side", "--net", "container:web", "alpine", "sleep", "60")
    try:
        side, web = inspect(sb, "side"), inspect(sb, "web")
        assert side["HostConfig"]["NetworkMode"] == f"container:{web['Id']}"
        settings = side["NetworkSettings"]
        assert (settings["Networks"], settings["SandboxKey"], settings["IPAddress"]) == ({}, "", "")
        assert side["Config"]["Hostname"] == web["Config"]["Hostname"]
        assert side["HostsPath"] == web["HostsPath"]
        refused = sb.hatoba("network", "connect", "app", "side", check=False)
        assert refused.returncode == 1
        assert error_line(refused) == (
            "Error response from daemon: container sharing network namespace with another "
            "container or host cannot be connected to any other network"
        )
    finally:
        sb.hatoba("rm", "-f", "side")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["-p", "8080:80"], "conflicting options: port publishing and the container type network mode"),  # noqa: E501
        (["--expose", "80"], "conflicting options: port exposing and the container type network mode"),  # noqa: E501
        (["-h", "mine"], "conflicting options: hostname and the network mode"),
        (["--dns", "192.0.2.53"], "conflicting options: dns and the network mode"),
        (["--add-host", "x:192.0.2.1"], "conflicting options: custom host-to-IP mapping and the network mode"),  # noqa: E501
        (["--ip", "172.18.0.99"], "user specified IP address is supported on user defined networks only"),  # noqa: E501
    ],
)  # fmt: skip
def test_what_the_mode_rules_out(sb: Sandbox, options: list[str], message: str) -> None:
    before = sb.hatoba("ps", "-aq").stdout
    done = sb.hatoba("run", "--net", "container:web", *options, "alpine", "true", check=False)
    assert done.returncode == 125
    assert error_line(done) == (
        f"hatoba: Error response from daemon: {message}. See 'hatoba run --help'."
    )
    assert sb.hatoba("ps", "-aq").stdout == before


def test_a_stopped_or_missing_container_cannot_be_joined(sb: Sandbox) -> None:
    stopped = sb.hatoba("create", "--name", "stopped", "alpine", "true").stdout.strip()
    try:
        done = sb.hatoba("run", "--net", "container:stopped", "alpine", "true", check=False)
        assert done.returncode == 125
        assert error_line(done) == (
            "hatoba: Error response from daemon: cannot join network of a non running "
            f"container: {stopped}."
        )
        done = sb.hatoba("run", "--net", "container:nothere", "alpine", "true", check=False)
        assert error_line(done) == "hatoba: Error response from daemon: No such container: nothere."
        assert sb.hatoba("ps", "-aq").stdout.split() == [
            inspect(sb, n)["Id"][:12] for n in ("stopped", "db", "web")
        ]
    finally:
        sb.hatoba("rm", "stopped")


def test_when_the_other_stops_the_network_goes_and_the_container_runs_on(sb: Sandbox) -> None:
    sb.hatoba("run", "-d", "--name", "owner", "--net", "app", "alpine", "sleep", "infinity")
    sb.hatoba("run", "-d", "--name", "rider", "--net", "container:owner", "alpine", "sleep", "60")
    try:

        def links() -> list[str]:
            out = sb.hatoba("exec", "rider", "ip", "-o", "link").stdout
            return [line.split(":")[1].strip().split("@")[0] for line in out.splitlines()]

        assert links() == ["lo", "eth0"]
        sb.hatoba("stop", "owner")
        assert eventually(lambda: links() == ["lo"])
        assert inspect(sb, "rider")["State"]["Running"]
        done = sb.hatoba("exec", "rider", "ping", "-c", "1", "-W", "1", "db", check=False)
        assert done.returncode != 0
        # nothing of the owner's endpoint is left on the host
        veths = sb.sh(["ip", "-o", "link", "show", "type", "veth"]).stdout
        assert veths.count("veth") == 2  # web and db
    finally:
        sb.hatoba("rm", "-f", "rider", "owner")


@pytest.mark.skipif(DOCKER is None, reason="no docker CLI")
def test_through_the_docker_cli(sb: Sandbox) -> None:
    assert DOCKER is not None
    env = {**os.environ, "DOCKER_HOST": f"unix://{sb.run_root}/hatoba.sock"}

    def docker(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([DOCKER, *args], env=env, capture_output=True, text=True, check=False)

    web = inspect(sb, "web")
    address = web["NetworkSettings"]["Networks"]["app"]["IPAddress"]
    seen = docker("run", "--rm", "--net", "container:web", "alpine", "ip", "-o", "-4", "addr")
    assert f"eth0    inet {address}/16" in seen.stdout, seen.stderr
    refused = docker("run", "--rm", "--net", "container:web", "-p", "80:80", "alpine", "true")
    assert refused.returncode == 125
    assert (
        "Error response from daemon: conflicting options: port publishing and the container "
        "type network mode" in refused.stderr
    )
    created = docker("create", "--net", "container:web", "alpine", "true").stdout.strip()
    try:
        mode = docker("inspect", "--format", "{{.HostConfig.NetworkMode}}", created).stdout
        assert mode.strip() == f"container:{web['Id']}"
    finally:
        docker("rm", created)


def test_no_process_but_the_hosts_sees_the_folder_of_every_handle(sb: Sandbox) -> None:
    """Not the fork server, nor the shims, nor the spare waiting for the next container (each
    shim binds its container's handle from a descriptor)."""
    sb.hatoba("run", "-d", "--name", "third", "--net", "container:web", "alpine", "sleep", "60")
    try:
        folder = f" {sb.run_root / 'netns'}/"
        forkserver = _forkserver(sb)
        assert os.readlink(f"/proc/{forkserver}/ns/mnt") != os.readlink("/proc/self/ns/mnt")
        assert eventually(lambda: _spare(forkserver) is not None)
        seen = {pid: _mounts_under(pid, folder) for pid in (forkserver, *_descendants(forkserver))}
        assert seen == dict.fromkeys(seen, 0)
        assert _mounts_under("self", folder) >= 2  # web's and db's handles, in the host's
        third, web = (sb.hatoba("exec", c, "readlink", "/proc/1/ns/net") for c in ("third", "web"))
        assert third.stdout == web.stdout
    finally:
        sb.hatoba("rm", "-f", "third")


def test_a_mount_the_host_made_later_is_seen_once_the_engine_was_quiet(sb: Sandbox) -> None:
    later = sb.dir / "later"
    later.mkdir()
    forkserver = _forkserver(sb)
    libc.mount("tmpfs", str(later), "tmpfs", 0, "size=1m")
    try:
        (later / "note").write_text("made after the service started\n")
        assert eventually(lambda: _mounts_under(forkserver, f" {later} ") == 1, 15)
        out = sb.hatoba("run", "--rm", "-v", f"{later}:/data", "alpine", "cat", "/data/note")
        assert out.stdout == "made after the service started\n"
        # and the copy made again has no handles either
        assert _mounts_under(forkserver, f" {sb.run_root / 'netns'}/") == 0
    finally:
        libc.umount(str(later))


def _forkserver(sb: Sandbox) -> str:
    service = sb.service_pid()
    assert service is not None
    children = Path(f"/proc/{service}/task/{service}/children").read_text().split()
    assert len(children) == 1
    return children[0]


def _spare(forkserver: str) -> str | None:
    """The fork server's child that is prepared (a session of its own) and has no container."""
    for child in Path(f"/proc/{forkserver}/task/{forkserver}/children").read_text().split():
        try:
            session = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[3]
            if session == child and not Path(f"/proc/{child}/task/{child}/children").read_text():
                return child
        except FileNotFoundError:
            continue
    return None


def _descendants(pid: str) -> list[str]:
    found = []
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        found += [child, *_descendants(child)]
    return found


def _mounts_under(pid: str, folder: str) -> int:
    try:
        with open(f"/proc/{pid}/mountinfo", encoding="utf-8") as f:
            return sum(folder in line for line in f)
    except FileNotFoundError:  # ended meanwhile: it sees nothing
        return 0
