"""Debian's docker-compose 1.29 (which drives the Engine API) and the docker CLI against a
sandboxed hatoba service, through a proxy that records every request: the seed's compose case,
aliases, replicas with DNS round robin, external and internal networks, a fixed address,
ports, environment, labels, depends_on, memory limits, capabilities, sysctls and a read-only
root read back from the kernel, the whole command set (up, ps, logs, exec, run --rm, scale,
stop, start, restart, kill, rm, recreate, down, config), and fields hatoba does not support
refused by name with nothing made. Every request must be answered as Docker would:
no 5xx, and no 4xx but the ones Docker gives too.

docker-compose takes ~0.5 s to start, so each test groups its checks into few calls.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fixtures.api_recorder import ApiRecorder, Exchange
from fixtures.busybox_images import busybox_images
from fixtures.image_sandbox import fetch, import_busybox
from hatoba.images.busybox import RootfsImage
from hatoba.testing import Sandbox
from hatoba.testing.sandbox import HOST_UPLINK, INTERNET

__all__ = ["busybox_images"]

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(shutil.which("docker-compose") is None, reason="needs docker-compose"),
]

Result = subprocess.CompletedProcess[str]


class Compose:
    """A sandbox, its service behind the recording proxy, and the clients pointed at it."""

    def __init__(self, sb: Sandbox, recorder: ApiRecorder) -> None:
        self.sb = sb
        self.recorder = recorder
        self.env = {**sb.env, "DOCKER_HOST": f"unix://{recorder.listen}"}
        # every exchange of the module, for the last test
        self.seen: list[Exchange] = []

    def project(self, name: str, text: str, **files: str) -> Path:
        folder = self.sb.dir / name
        folder.mkdir(exist_ok=True)
        (folder / "docker-compose.yml").write_text(text)
        for file_name, content in files.items():
            (folder / file_name).write_text(content)
        return folder

    def compose(self, folder: Path, *args: str, check: bool = True) -> Result:
        return self._run(["docker-compose", "-p", folder.name, *args], folder, check)

    def docker(self, *args: str, check: bool = True) -> Result:
        return self._run(["docker", *args], self.sb.dir, check)

    def _run(self, argv: list[str], cwd: Path, check: bool) -> Result:
        # stdin open and silent: at the end of its stdin, docker-compose run (dockerpty) closes
        # the attach socket it reads the output from, before the output may have come
        quiet, keep_open = os.pipe()
        try:
            result = subprocess.run(
                argv,
                cwd=cwd,
                env=self.env,
                stdin=quiet,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
        finally:
            os.close(quiet)
            os.close(keep_open)
        if check and result.returncode != 0:
            raise AssertionError(
                f"{' '.join(argv)} exited {result.returncode}\n"
                f"stdout: {result.stdout}\nstderr: {result.stderr}"
            )
        return result

    def requests(self) -> list[Exchange]:
        """What the clients sent since the last call."""
        taken = self.recorder.take()
        self.seen += taken
        return taken

    def exec(self, folder: Path, service: str, script: str) -> str:
        return self.compose(folder, "exec", "-T", service, "sh", "-c", script).stdout

    def inspect(self, name: str) -> Any:
        return json.loads(self.sb.hatoba("inspect", name).stdout)[0]


@pytest.fixture(scope="module")
def dc(busybox_images: tuple[RootfsImage, RootfsImage]) -> Iterator[Compose]:
    with Sandbox(with_outside=True) as sb:
        import_busybox(sb, busybox_images)
        with ApiRecorder(sb.run_root / "hatoba.sock", sb.dir / "docker.sock") as recorder:
            yield Compose(sb, recorder)


SEED = """\
version: "3.8"
services:
  alpine1:
    image: alpine
    command: sh -c 'echo alpine1 ready; exec sleep infinity'
  alpine2:
    image: alpine
    command: sh -c 'echo alpine2 ready; exec sleep infinity'
  web:
    image: httpd
    networks:
      default:
        aliases: [www]
"""


def test_the_seed_file_with_replicas_and_the_command_set(dc: Compose) -> None:
    proj = dc.project("seedproj", SEED)
    dc.compose(proj, "up", "-d", "--scale", "web=3")
    web = [dc.inspect(f"seedproj_web_{n}") for n in (1, 2, 3)]
    replicas = {c["NetworkSettings"]["Networks"]["seedproj_default"]["IPAddress"] for c in web}
    # by service name on <project>_default, an alias, and every replica answering the
    # service's name (the resolver shuffles the replicas' addresses, so 30 lookups leave a
    # chance of 3 * (2/3)^30, about 1e-5, that one replica never comes first)
    out = dc.exec(
        proj,
        "alpine1",
        "ping -c1 -W2 alpine2 && ping -c1 -W2 www >/dev/null && for i in $(seq 30); do "
        "ping -c1 -W2 web | sed -n 's/^64 bytes from \\([0-9.]*\\).*/\\1/p'; done; pwd",
    )
    assert "1 packets transmitted, 1 packets received" in out
    answered = set(out.split()[-31:-1])
    assert answered == replicas
    assert out.split()[-1] == "/"
    ps = dc.compose(proj, "ps").stdout
    for name in ("seedproj_alpine1_1", "seedproj_alpine2_1", "seedproj_web_3"):
        assert re.search(rf"^{name}\s.*\sUp\s", ps, re.M), ps
    assert "alpine1 ready" in dc.compose(proj, "logs", "--no-color", "alpine1").stdout
    assert dc.compose(proj, "config", "--services").stdout.split() == ["alpine1", "alpine2", "web"]

    # one-off containers: attached, their exit status, and nothing left behind
    run = dc.compose(proj, "run", "--rm", "-T", "alpine1", "sh", "-c", "ping -c1 -W2 web; exit 3",
                     check=False)  # fmt: skip
    assert run.returncode == 3 and "1 packets received" in run.stdout

    # the lifecycle verbs, each to be answered as Docker answers them
    for verb in (["stop", "-t", "1"], ["start"], ["restart", "-t", "1"], ["kill"]):
        dc.compose(proj, *verb, "alpine2")
    assert dc.inspect("seedproj_alpine2_1")["State"]["Status"] == "exited"
    dc.compose(proj, "rm", "-f", "alpine2")
    dc.compose(proj, "scale", "-t", "1", "web=1")
    names = dc.sb.hatoba("ps", "-a", "--format", "{{.Names}}").stdout.split()
    assert sorted(names) == ["seedproj_alpine1_1", "seedproj_web_1"]

    # a changed service is recreated (renamed out of the way, then removed) under its name
    before = dc.inspect("seedproj_alpine1_1")["Id"]
    proj.joinpath("docker-compose.yml").write_text(SEED.replace("alpine1 ready", "alpine1 again"))
    dc.compose(proj, "up", "-d", "-t", "1", "--scale", "web=1")
    after = dc.inspect("seedproj_alpine1_1")
    assert after["Id"] != before and after["State"]["Running"]
    assert "1 packets received" in dc.exec(proj, "alpine2", "ping -c1 -W2 alpine1")
    sent = dc.requests()
    assert any(e.path.endswith("/rename") and e.status == 204 for e in sent)
    # compose's own filters found its containers
    filters = [e.filters() for e in sent if e.path == "/containers/json" and e.filters()]
    assert {
        "label": ["com.docker.compose.project=seedproj", "com.docker.compose.oneoff=False"]
    } in (filters)

    dc.compose(proj, "down", "-t", "1")
    assert dc.sb.hatoba("ps", "-aq").stdout == ""
    assert "seedproj_default" not in dc.sb.hatoba("network", "ls").stdout


NETWORKS = """\
version: "3.8"
services:
  web:
    image: httpd
    networks:
      default:
        aliases: [site]
      back:
    ports:
      - "8080:80"
      - "127.0.0.1:8081:80"
      - "9000-9001:7000-7001/udp"
      - target: 80
        published: 8082
        protocol: tcp
    environment:
      - GREETING=hello
    env_file: web.env
    labels:
      com.example.role: frontend
  db:
    image: alpine
    command: sleep infinity
    environment:
      KEY: value
    labels:
      - com.example.role=db
    networks:
      back:
        ipv4_address: 10.77.0.10
      internal:
      outside:
    depends_on:
      - web
  isolated:
    image: alpine
    command: sleep infinity
    networks: [internal]
  sidecar:
    image: alpine
    command: sleep infinity
    network_mode: service:web
networks:
  back:
    ipam:
      config:
        - subnet: 10.77.0.0/24
  internal:
    internal: true
  outside:
    external: true
    name: extnet
"""


def test_networks_ports_environment_labels_and_depends_on(dc: Compose) -> None:
    dc.sb.hatoba("network", "create", "extnet")
    proj = dc.project("netproj", NETWORKS, **{"web.env": "FROM_FILE=yes\n"})
    dc.compose(proj, "up", "-d")
    db = dc.inspect("netproj_db_1")
    networks = db["NetworkSettings"]["Networks"]
    assert sorted(networks) == ["extnet", "netproj_back", "netproj_internal"]
    assert networks["netproj_back"]["IPAddress"] == "10.77.0.10"
    assert sorted(networks["netproj_back"]["Aliases"]) == sorted([db["Id"][:12], "db"])
    assert db["Config"]["Labels"]["com.example.role"] == "db"
    assert "KEY=value" in db["Config"]["Env"]
    web = dc.inspect("netproj_web_1")
    assert {"FROM_FILE=yes", "GREETING=hello"} <= set(web["Config"]["Env"])
    assert web["Config"]["Labels"]["com.example.role"] == "frontend"
    assert web["HostConfig"]["PortBindings"] == {
        "80/tcp": [
            {"HostIp": "", "HostPort": "8080"},
            {"HostIp": "127.0.0.1", "HostPort": "8081"},
            {"HostIp": "", "HostPort": "8082"},
        ],
        "7000/udp": [{"HostIp": "", "HostPort": "9000"}],
        "7001/udp": [{"HostIp": "", "HostPort": "9001"}],
    }
    for address in (f"{HOST_UPLINK}:8080", "127.0.0.1:8081", f"{HOST_UPLINK}:8082"):
        assert "It works!" in fetch(dc.sb, f"http://{address}/")
    # db reaches web on back by its service name; site is an alias on default only
    out = dc.exec(
        proj, "db", "ping -c1 -W2 web; nslookup site 127.0.0.11 >/dev/null || echo no-site"
    )
    assert "1 packets received" in out and "no-site" in out
    # the internal network: its members find each other, and nothing outside
    out = dc.exec(
        proj, "isolated", f"ping -c1 -W2 db; ping -c1 -W1 {INTERNET} >/dev/null || echo cut-off"
    )
    assert "1 packets received" in out and "cut-off" in out
    # network_mode service:web: web's own namespace, its server on 127.0.0.1
    assert "It works!" in dc.exec(proj, "sidecar", "wget -qO- http://127.0.0.1/")
    sent = dc.requests()
    creates = [e.query["name"][0] for e in sent if e.path == "/containers/create"]
    assert creates.index("netproj_web_1") < creates.index("netproj_db_1")  # depends_on
    network_create = next(e.json() for e in sent if e.path == "/networks/create")
    assert network_create["CheckDuplicate"] is True
    assert network_create["Labels"]["com.docker.compose.project"] == "netproj"
    dc.compose(proj, "down", "-t", "1")
    nets = dc.sb.hatoba("network", "ls", "--format", "{{.Name}}").stdout.split()
    assert sorted(nets) == ["bridge", "extnet", "host", "none"]
    dc.sb.hatoba("network", "rm", "extnet")


def test_up_attached_follows_the_output_and_links_resolve(dc: Compose) -> None:
    proj = dc.project(
        "attproj",
        """\
version: "3.8"
services:
  db:
    image: alpine
    command: sh -c 'sleep 2'
  talker:
    image: alpine
    links: ["db:database"]
    command: sh -c 'ping -c1 -W2 database | head -2 | tail -1; echo done talking'
""",
    )
    up = dc.compose(proj, "up", "--no-color")
    assert re.search(r"talker_1\s+\| 64 bytes from", up.stdout), up.stdout
    assert re.search(r"talker_1\s+\| done talking", up.stdout)
    assert "attproj_talker_1 exited with code 0" in up.stdout
    sent = dc.requests()
    assert any(e.path == "/events" and e.status == 200 for e in sent)
    connect = [e.json() for e in sent if e.path.endswith("/connect")]
    assert any("attproj_db_1:database" in (c["EndpointConfig"].get("Links") or ()) for c in connect)
    dc.compose(proj, "down", "-t", "1")


LIMITED = """\
version: "3.8"
services:
  limited:
    image: alpine
    command: sleep infinity
    mem_limit: 32m
    cap_add: [NET_ADMIN]
    read_only: true
    sysctls:
      net.ipv4.ip_forward: "1"
"""

REFUSED = """\
version: "2.4"
services:
  limited:
    image: alpine
    command: sleep infinity
    cpuset: "0"
    mem_reservation: 10m
    oom_kill_disable: true
"""


def test_limits_capabilities_sysctls_and_pause_are_applied(dc: Compose) -> None:
    proj = dc.project("limproj", LIMITED)
    dc.compose(proj, "up", "-d")
    pid = dc.inspect("limproj_limited_1")["State"]["Pid"]
    status = Path(f"/proc/{pid}/status").read_text()
    effective = next(line for line in status.splitlines() if line.startswith("CapEff:"))
    assert int(effective.split()[1], 16) & 1 << 12  # CAP_NET_ADMIN
    memory = next(
        line.split(":", 2)[2]
        for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines()
        if line.split(":")[1] == "memory"
    )
    limit = Path("/sys/fs/cgroup/memory", memory.lstrip("/"), "memory.limit_in_bytes")
    assert limit.read_text() == f"{32 << 20}\n"
    inside = dc.exec(proj, "limited", "cat /proc/sys/net/ipv4/ip_forward; touch /x || echo ro")
    assert inside.split()[0] == "1" and inside.split()[-1] == "ro"
    dc.compose(proj, "pause")
    assert dc.inspect("limproj_limited_1")["State"]["Status"] == "paused"
    dc.compose(proj, "unpause")
    assert dc.inspect("limproj_limited_1")["State"]["Status"] == "running"
    dc.compose(proj, "down", "-t", "1")
    dc.requests()


def test_unsupported_fields_are_refused_by_name_and_nothing_is_made(dc: Compose) -> None:
    proj = dc.project("refproj", REFUSED)
    up = dc.compose(proj, "up", "-d", check=False)
    assert up.returncode != 0
    assert (
        "hatoba does not support HostConfig.CpusetCpus, HostConfig.MemoryReservation, "
        "HostConfig.OomKillDisable yet"
    ) in up.stderr
    assert dc.sb.hatoba("ps", "-aq").stdout == ""
    refused = [e for e in dc.requests() if e.path == "/containers/create"]
    assert [e.status for e in refused] == [400]
    dc.compose(proj, "down")


@pytest.mark.skipif(shutil.which("docker") is None, reason="needs the docker CLI")
def test_the_docker_cli_gets_the_same_refusal_rename_and_events(dc: Compose) -> None:
    since = time.time()
    limited = dc.docker("run", "--rm", "--cpuset-cpus", "0", "alpine", "true", check=False)
    assert limited.returncode == 125
    assert "hatoba does not support HostConfig.CpusetCpus yet" in limited.stderr
    assert dc.sb.hatoba("ps", "-aq").stdout == ""
    cid = dc.docker("run", "-d", "--name", "first", "alpine", "sleep", "infinity").stdout.strip()
    dc.docker("rename", "first", "second")
    dc.docker("rm", "-f", "second")
    events = dc.docker(
        "events", "--since", str(since), "--until", str(time.time()),
        "--filter", f"container={cid}", "--format", "{{.Action}} {{.Actor.Attributes.name}}",
    ).stdout.splitlines()  # fmt: skip
    assert events == [
        "create first",
        "start first",
        "rename second",
        "kill second",
        "die second",
        "destroy second",
    ]
    dc.requests()


def test_every_request_was_answered_as_docker_answers(dc: Compose) -> None:
    """Runs last: no request went unanswered or got a 5xx, and the only 4xx are Docker's
    own (compose looks a network up before it creates it; the refused creates above)."""
    dc.requests()
    unanswered = [str(e) for e in dc.seen if e.status == 0 and e.path != "/events"]
    assert unanswered == []
    failed = [str(e) for e in dc.seen if e.status >= 500]
    assert failed == []
    expected = (
        lambda e: e.status == 404 and e.method == "GET" and e.path.startswith("/networks/"),
        lambda e: e.status == 400 and e.path == "/containers/create",
    )
    refused = [str(e) for e in dc.seen if e.status >= 400 and not any(ok(e) for ok in expected)]
    assert refused == []
