"""`--net container:NAME` through the CLI and the docker CLI: the container sees the other's
interfaces, address and neighbours by name; Docker's errors; no network of its own; its
network gone when the other stops."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from fixtures.busybox_images import busybox_images
from fixtures.image_sandbox import error_line, import_busybox
from fixtures.processes import eventually
from hatoba.images.busybox import RootfsImage
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
