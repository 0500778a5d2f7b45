"""The API's surface as real clients meet it, against a sandboxed service: the docker CLI
(28.x at /usr/local/bin, and Debian's 20.10 from `.tools/`, which `make install-dev` fetches)
and the Docker SDK for Python. Version and info, swarm, pull and build refusals, exec and run
failures with Docker's words and exit codes (and a `--rm` container gone after one), logs
with since/until/tail/timestamps, attach replaying logs, detach keys, exec inspect."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from fixtures.busybox_images import busybox_images
from fixtures.image_sandbox import import_busybox
from hatoba.images.busybox import RootfsImage
from hatoba.model.exec_failure import exec_failed
from hatoba.testing import Sandbox

__all__ = ["busybox_images"]

DOCKER_28 = shutil.which("docker", path="/usr/local/bin:/usr/bin")
DOCKER_20 = Path(__file__).parents[2] / ".tools" / "docker-20.10" / "docker"

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(DOCKER_28 is None, reason="needs the docker CLI"),
]

CLIS = [
    pytest.param(DOCKER_28, id="docker-28"),
    pytest.param(
        str(DOCKER_20),
        id="docker-20.10",
        marks=pytest.mark.skipif(
            not DOCKER_20.exists(), reason="no docker 20.10 CLI (apt unreachable at install)"
        ),
    ),
]

NOT_FOUND = (
    'OCI runtime create failed: starting container process caused: exec: "nosuch": '
    "executable file not found in $PATH: unknown"
)


class Clients:
    def __init__(self, sb: Sandbox) -> None:
        self.sb = sb
        self.host = f"unix://{sb.run_root / 'hatoba.sock'}"
        self.sdk = docker.DockerClient(base_url=self.host, version="1.41", timeout=60)

    def docker(
        self, cli: str, *args: str, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [cli, *args],
            env={"DOCKER_HOST": self.host, "PATH": "/usr/bin:/bin", "HOME": str(self.sb.dir)},
            cwd=self.sb.dir,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )


@pytest.fixture(scope="module")
def clients(busybox_images: tuple[RootfsImage, RootfsImage]) -> Iterator[Clients]:
    with Sandbox() as sb:
        import_busybox(sb, busybox_images)
        clients = Clients(sb)
        yield clients
        clients.sdk.close()


@pytest.fixture(scope="module")
def sleeper(clients: Clients) -> Iterator[str]:
    """A running container whose log holds three lines a second apart, and a script whose
    interpreter is missing."""
    script = (
        "printf '#!/nosuch\\n' > /s; chmod +x /s;"
        " for i in 1 2 3; do echo line$i; sleep 1; done; exec sleep 1d"
    )
    container = clients.sdk.containers.run(
        "alpine", ["sh", "-c", script], detach=True, name="sleeper"
    )
    for _ in range(100):
        if b"line3" in container.logs():
            break
        time.sleep(0.1)
    yield container.id
    container.remove(force=True)


@pytest.mark.parametrize("cli", CLIS)
def test_version_and_info(clients: Clients, cli: str) -> None:
    version = clients.docker(cli, "version", "--format", "{{json .Server}}")
    assert version.returncode == 0, version.stderr
    server = json.loads(version.stdout)
    assert server["ApiVersion"] == "1.41" and server["MinAPIVersion"] == "1.12"
    assert server["Arch"] in ("amd64", "arm64")
    info = clients.docker(cli, "info", "--format", "{{.Swarm.LocalNodeState}} {{.OSType}}")
    assert info.stdout.strip() == "inactive linux", info.stderr


@pytest.mark.parametrize("cli", CLIS)
def test_swarm_pull_and_build_are_refused_with_what_to_do(clients: Clients, cli: str) -> None:
    leave = clients.docker(cli, "swarm", "leave", "--force")
    assert (leave.returncode, leave.stderr.strip()) == (
        1,
        "Error response from daemon: This node is not part of a swarm",
    )
    pull = clients.docker(cli, "pull", "nginx:1.25")
    assert pull.returncode == 1
    assert "no registry is reachable from hatoba" in pull.stderr and "docker load" in pull.stderr
    build = clients.docker(cli, "build", "-t", "app", "-", stdin="FROM alpine\nRUN true\n")
    assert build.returncode == 1
    assert "hatoba builds no images and reaches no registry" in build.stdout + build.stderr
    assert clients.docker(cli, "images", "-q", "app").stdout == ""


@pytest.mark.parametrize("cli", CLIS)
def test_exec_failures_exit_127_and_126_with_dockers_words(
    clients: Clients, sleeper: str, cli: str
) -> None:
    cases = [
        (["nosuch"], 127, 'exec: "nosuch": executable file not found in $PATH'),
        (["/nosuch"], 127, 'exec: "/nosuch": stat /nosuch: no such file or directory'),
        (["/etc/passwd"], 126, 'exec: "/etc/passwd": permission denied'),
        (["/etc"], 126, 'exec: "/etc": permission denied'),
        (["/s"], 127, "exec /s: no such file or directory"),
    ]
    for argv, code, reason in cases:
        done = clients.docker(cli, "exec", sleeper, *argv)
        expected = exec_failed(reason)
        assert (done.returncode, done.stdout.strip(), done.stderr) == (code, expected, ""), argv
    # a process's own words that look like crun's are its own: delayed to its exit, not lost
    own = clients.docker(cli, "exec", sleeper, "sh", "-c", "echo 'exec: mine' >&2; exit 3")
    assert (own.returncode, own.stderr) == (3, "exec: mine\n")


@pytest.mark.parametrize("cli", CLIS)
def test_run_rm_of_a_missing_executable_exits_127_and_leaves_nothing(
    clients: Clients, cli: str
) -> None:
    done = clients.docker(cli, "run", "--rm", "--name", "gone", "alpine", "nosuch")
    assert done.returncode == 127
    assert NOT_FOUND in done.stderr
    assert clients.docker(cli, "ps", "-aq", "--filter", "name=gone").stdout == ""
    kept = clients.docker(cli, "create", "--name", "kept", "alpine", "/etc/passwd")
    assert kept.returncode == 0
    started = clients.docker(cli, "start", "kept")
    assert started.returncode == 1
    state = json.loads(clients.docker(cli, "inspect", "--format", "{{json .State}}", "kept").stdout)
    assert (state["Status"], state["ExitCode"]) == ("created", 126)
    assert state["Error"].endswith('exec: "/etc/passwd": permission denied: unknown')
    clients.docker(cli, "rm", "kept")


@pytest.mark.parametrize("cli", CLIS)
def test_logs_since_until_tail_and_timestamps(clients: Clients, sleeper: str, cli: str) -> None:
    stamped = clients.docker(cli, "logs", "-t", sleeper).stdout.splitlines()
    assert [line.split(" ", 1)[1] for line in stamped] == ["line1", "line2", "line3"]
    stamps = [line.split(" ", 1)[0] for line in stamped]
    assert all(len(s.split(".")[1]) == len("000000000Z") for s in stamps)
    assert clients.docker(cli, "logs", "--since", stamps[1], sleeper).stdout == "line2\nline3\n"
    assert clients.docker(cli, "logs", "--until", stamps[1], sleeper).stdout == "line1\nline2\n"
    assert clients.docker(cli, "logs", "--tail", "1", sleeper).stdout == "line3\n"
    window = clients.docker(cli, "logs", "--since", stamps[0], "--until", stamps[0], sleeper)
    assert window.stdout == "line1\n"


def test_the_sdk_sees_dockers_answers(clients: Clients, sleeper: str) -> None:
    sdk, api = clients.sdk, clients.sdk.api
    assert api.ping() is True
    assert sdk.version()["Arch"] in ("amd64", "arm64")
    # docker-py takes a forced leave's 503 for "not in a swarm" (test harnesses rely on it)
    assert sdk.swarm.leave(force=True) is True
    with pytest.raises(docker.errors.APIError) as swarm:
        sdk.swarm.leave()
    assert swarm.value.status_code == 503
    with pytest.raises(docker.errors.NotFound):
        sdk.images.pull("nginx", tag="1.25")
    container = sdk.containers.get(sleeper)
    assert container.exec_run("nosuch").exit_code == 127
    assert container.exec_run(["/etc/passwd"]).exit_code == 126
    assert container.exec_run("sh -c 'echo out; echo err >&2'", demux=True).output == (
        b"out\n",
        b"err\n",
    )
    # framed as the start asks: an exec made with a terminal, started without one
    made = api.exec_create(sleeper, ["echo", "hi"], tty=True)
    assert api.exec_start(made["Id"], tty=False, demux=True) == (b"hi\r\n", None)
    doc = api.exec_inspect(made["Id"])
    assert {k: doc[k] for k in ("Running", "ExitCode", "CanRemove", "DetachKeys")} == {
        "Running": False,
        "ExitCode": 0,
        "CanRemove": False,
        "DetachKeys": "",
    }
    assert doc["Pid"] > 0 and doc["ProcessConfig"]["entrypoint"] == "echo"
    logs = sdk.containers.create("alpine", ["echo", "once"])
    logs.start()
    assert logs.wait()["StatusCode"] == 0
    # attach with logs and without stream to a container that exited: the log, then the end
    # (docker-py's attach() always asks for stream=1, and its attach_socket() leaves what came
    # with the answer's head in its HTTP reader: read here as a plain client reads)
    answer = attach_raw(clients, logs.id, "logs=1&stdout=1&stderr=1")
    assert answer == b"\x01\x00\x00\x00\x00\x00\x00\x05once\n"
    logs.remove()


def attach_raw(clients: Clients, container_id: str, query: str) -> bytes:
    """POST /containers/ID/attach?QUERY, upgraded; everything after the head, to the end."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(30)
        sock.connect(str(clients.sb.run_root / "hatoba.sock"))
        sock.sendall(
            f"POST /v1.41/containers/{container_id}/attach?{query} HTTP/1.1\r\nHost: x\r\n"
            "Connection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n".encode()
        )
        data = b""
        while chunk := sock.recv(1 << 16):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101 UPGRADED"), head
    return body


def read_all(sock: socket.socket) -> bytes:
    raw = getattr(sock, "_sock", sock)
    raw.settimeout(30)
    data = b""
    while chunk := raw.recv(1 << 16):
        data += chunk
    return data


def test_detach_keys_end_the_attach_and_leave_the_process_running(clients: Clients) -> None:
    api = clients.sdk.api
    container = clients.sdk.containers.run(
        "alpine", ["cat"], tty=True, stdin_open=True, detach=True
    )
    try:
        sock = api.attach_socket(
            container.id, params={"stdin": 1, "stdout": 1, "stream": 1, "detachKeys": "ctrl-x,x"}
        )
        raw = getattr(sock, "_sock", sock)
        raw.settimeout(30)
        raw.sendall(b"hello\n")
        echoed = b""
        while b"hello\r\n" not in echoed:  # the terminal's echo, then cat's line
            echoed += raw.recv(1 << 16)
        raw.sendall(b"\x18")
        raw.sendall(b"x")
        assert b"\x18" not in read_all(sock)  # the server ends the connection at the keys
        container.reload()
        assert container.status == "running"
        made = api.exec_create(container.id, ["cat"], stdin=True, tty=True)
        exec_sock = api.exec_start(made["Id"], tty=True, socket=True)
        raw = getattr(exec_sock, "_sock", exec_sock)
        raw.sendall(b"\x10")
        raw.sendall(b"\x11")  # ctrl-p,ctrl-q: the default
        read_all(exec_sock)
        doc = api.exec_inspect(made["Id"])
        assert doc["Running"] is True and doc["ExitCode"] is None
    finally:
        container.remove(force=True)


@pytest.mark.parametrize("cli", CLIS)
def test_sizes_and_platforms_are_answered_not_ignored(
    clients: Clients, sleeper: str, cli: str
) -> None:
    clients.docker(cli, "exec", sleeper, "dd", "if=/dev/zero", "of=/big", "bs=1k", "count=64")
    sizes = clients.docker(cli, "inspect", "-s", "--format", "{{.SizeRw}} {{.SizeRootFs}}", sleeper)
    rw, rootfs = (int(n) for n in sizes.stdout.split())
    assert 64 * 1024 <= rw < rootfs
    listed = clients.docker(cli, "ps", "-s", "--filter", f"id={sleeper}", "--format", "{{.Size}}")
    assert "kB" in listed.stdout and "virtual" in listed.stdout
    with pytest.raises(docker.errors.NotFound, match="does not match the specified platform"):
        clients.sdk.containers.create("alpine", ["true"], platform="linux/s390x")
    assert clients.docker(cli, "ps", "-aq", "--filter", "ancestor=alpine").stdout.split() == [
        sleeper[:12]
    ]


def _inside(clients: Clients, container: str, *argv: str) -> str:
    """A command in the container's network namespace, from the host's side (the kernel's
    view, the host's tools)."""
    pid = clients.sdk.api.inspect_container(container)["State"]["Pid"]
    done = clients.sb.sh(["nsenter", f"--net=/proc/{pid}/ns/net", *argv], check=False)
    return done.stdout + done.stderr


@pytest.mark.parametrize("cli", CLIS)
def test_link_local_addresses_are_on_the_interface_and_pass_the_source_checks(
    clients: Clients, cli: str
) -> None:
    d = clients.docker
    assert d(cli, "network", "create", "ll").returncode == 0
    try:
        for n in (1, 2):
            made = d(cli, "run", "-d", "--name", f"ll{n}", "--network", "ll",
                     "--link-local-ip", f"169.254.20.{n}", "--link-local-ip", f"fe80::20:{n}",
                     "alpine", "sleep", "1d")  # fmt: skip
            assert made.returncode == 0, made.stderr
        shown = _inside(clients, "ll1", "ip", "-o", "addr", "show", "dev", "eth0")
        assert "inet 169.254.20.1/16" in shown and "inet6 fe80::20:1/64" in shown
        # through the bridge and its source checks, from one link-local address to another
        # (iputils' ping binds an IPv6 source with its scope, busybox's cannot)
        for source, target in (("169.254.20.1", "169.254.20.2"), ("fe80::20:1%eth0", "fe80::20:2")):
            ping = _inside(clients, "ll1", "ping", "-c", "1", "-W", "5", "-I", source, target)
            assert "1 received" in ping
        ipam = d(cli, "inspect", "--format", "{{json .NetworkSettings.Networks.ll.IPAMConfig}}",
                 "ll2")  # fmt: skip
        assert json.loads(ipam.stdout) == {"LinkLocalIPs": ["169.254.20.2", "fe80::20:2"]}
        # at connect, to a running container; refused outside the link-local prefixes
        assert d(cli, "network", "create", "ll-b").returncode == 0
        connect = ("network", "connect", "--link-local-ip")
        refused = d(cli, *connect, "10.0.0.1", "ll-b", "ll1")
        assert "invalid link local IP address: 10.0.0.1" in refused.stderr
        assert d(cli, *connect, "169.254.30.1", "ll-b", "ll1").returncode == 0
        shown = _inside(clients, "ll1", "ip", "-o", "-4", "addr", "show", "dev", "eth1")
        assert "inet 169.254.30.1/16" in shown
    finally:
        d(cli, "rm", "-f", "ll1", "ll2")
        d(cli, "network", "rm", "ll", "ll-b")


def test_the_sdk_asks_for_link_local_addresses_and_disables_networking(clients: Clients) -> None:
    sdk = clients.sdk
    network = sdk.networks.create("ll-sdk")
    quiet = sdk.containers.run("alpine", ["sleep", "1d"], detach=True, network_disabled=True,
                               ports={"80/tcp": 8080})  # fmt: skip
    try:
        # its own namespace with lo alone (up), and no file naming a network or a resolver
        links = _inside(clients, quiet.id, "ip", "-o", "link", "show")
        assert [line.split()[1] for line in links.splitlines()] == ["lo:"]
        assert "127.0.0.1/8" in _inside(clients, quiet.id, "ip", "-o", "addr", "show", "dev", "lo")
        for path in ("/etc/hosts", "/etc/resolv.conf"):
            assert quiet.exec_run(["cat", path]).output == b""
        quiet.reload()
        assert quiet.attrs["Config"]["NetworkDisabled"] is True
        settings = quiet.attrs["NetworkSettings"]
        assert (settings["Networks"], settings["Ports"], settings["SandboxKey"]) == ({}, {}, "")
        # nothing published on the host
        assert "8080" not in clients.sb.sh(["nft", "list", "table", "inet", "hatoba"]).stdout
        with pytest.raises(docker.errors.APIError, match="has its network disabled"):
            network.connect(quiet)
        web = sdk.containers.run("alpine", ["sleep", "1d"], detach=True, network="ll-sdk")
        try:
            network.disconnect(web)
            network.connect(web, link_local_ips=["169.254.40.1", "fe80::40:1"])
            shown = _inside(clients, web.id, "ip", "-o", "addr", "show")
            assert "169.254.40.1/16" in shown and "fe80::40:1/64" in shown
        finally:
            web.remove(force=True)
    finally:
        quiet.remove(force=True)
        network.remove()
