"""`hatoba compose` through the CLI against a real service in a sandbox: the seed's compose case,
aliases, replicas with DNS round robin, external/internal networks, fixed addresses, shared
network namespaces, health-gated dependencies, restart policies, interpolation, merges, the
error report, convergence, orphans, an all-or-nothing up and a clean down; capabilities,
sysctls, a read-only root and limits read back from the kernel."""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator

import pytest

from fixtures.busybox_images import busybox_images
from fixtures.image_sandbox import import_busybox
from fixtures.process_state import CAP_NET_ADMIN, DEFAULT_CAPS, cgroup_file, status_field
from hatoba.images.busybox import RootfsImage
from hatoba.testing import Sandbox

__all__ = ["busybox_images"]

pytestmark = pytest.mark.root

Result = subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def sb(busybox_images: tuple[RootfsImage, RootfsImage]) -> Iterator[Sandbox]:
    with Sandbox() as sandbox:
        import_busybox(sandbox, busybox_images)
        yield sandbox


class Project:
    """A folder with compose files, and `hatoba compose` run on it."""

    def __init__(self, sb: Sandbox, name: str, text: str, **more: str) -> None:
        self.sb = sb
        self.name = name
        self.dir = sb.dir / "projects" / name
        self.dir.mkdir(parents=True)
        self.write(text, **more)

    def write(self, text: str | None = None, **more: str) -> None:
        if text is not None:
            (self.dir / "compose.yaml").write_text(text)
        for file, content in more.items():
            (
                self.dir / file.replace("_", ".", 1) if file.startswith("_") else self.dir / file
            ).write_text(content)

    def __call__(self, *args: str, check: bool = True, files: tuple[str, ...] = ()) -> Result:
        chosen = [a for f in files or ("compose.yaml",) for a in ("-f", str(self.dir / f))]
        env = {**self.sb.env, "HATOBA_COMPOSE_CACHE": str(self.sb.dir / "compose-cache")}
        result = self.sb.sh(
            [*self.sb.hatoba_argv, "compose", *chosen, "--progress", "plain", *args],
            check=False,
            env=env,
            timeout=120,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"compose {' '.join(args)}: {result.stdout}{result.stderr}")
        return result

    def ids(self) -> dict[str, str]:
        """container name → id of the project's containers."""
        rows = [
            json.loads(line) for line in self("ps", "-a", "--format", "json").stdout.splitlines()
        ]
        return {r["Name"]: r["ID"] for r in rows}

    def inspect(self, container: str, template: str) -> str:
        return self.sb.hatoba("inspect", "-f", template, container).stdout.strip()

    def exec(self, container: str, *argv: str, check: bool = True) -> Result:
        return self.sb.hatoba("exec", container, *argv, check=check)


def leftovers(sb: Sandbox, project: str) -> list[str]:
    containers = sb.hatoba("ps", "-a", "--format", "{{.Names}}").stdout.split()
    networks = sb.hatoba("network", "ls", "--format", "{{.Name}}").stdout.split()
    return [n for n in containers + networks if n.startswith(project)]


def test_seed_services_reach_each_other_by_name_on_the_project_network(sb: Sandbox) -> None:
    p = Project(
        sb,
        "seedproj",
        "services:\n"
        "  web: {image: 'alpine:latest', command: sleep infinity}\n"
        "  db: {image: 'alpine:latest', command: sleep infinity}\n",
    )
    out = p("up", "-d")
    assert " Network seedproj_default  Created" in out.stderr
    assert " Container seedproj-web-1  Started" in out.stderr
    ping = p.exec("seedproj-web-1", "ping", "-c", "1", "db").stdout
    assert "1 packets transmitted, 1 packets received" in ping
    assert "1 packets received" in p.exec("seedproj-db-1", "ping", "-c", "1", "web").stdout
    labels = json.loads(p.inspect("seedproj-web-1", "{{json .Config.Labels}}"))
    assert labels["com.docker.compose.project"] == "seedproj"
    assert labels["com.docker.compose.service"] == "web"
    assert labels["com.docker.compose.container-number"] == "1"
    assert labels["com.docker.compose.oneoff"] == "False"
    assert labels["com.docker.compose.project.working_dir"] == str(p.dir)
    assert labels["com.docker.compose.project.config_files"] == str(p.dir / "compose.yaml")
    assert re.fullmatch("[0-9a-f]{64}", labels["com.docker.compose.config-hash"])
    network = json.loads(
        sb.hatoba("network", "inspect", "-f", "{{json .Labels}}", "seedproj_default").stdout
    )
    assert network["com.docker.compose.network"] == "default"
    assert network["com.docker.compose.project"] == "seedproj"
    aliases = p.inspect(
        "seedproj-web-1", "{{json .NetworkSettings.Networks.seedproj_default.Aliases}}"
    )
    assert json.loads(aliases)[:2] == ["seedproj-web-1", "web"]
    p("down", "-t", "0")
    assert leftovers(sb, "seedproj") == []


def test_aliases_and_fixed_ipv4_address(sb: Sandbox) -> None:
    p = Project(
        sb,
        "aliasproj",
        "services:\n"
        "  api:\n"
        "    image: alpine:latest\n"
        "    command: sleep infinity\n"
        "    networks:\n"
        "      back: {aliases: [service-a, legacy], ipv4_address: 172.31.9.20}\n"
        "  client:\n"
        "    image: alpine:latest\n"
        "    command: sleep infinity\n"
        "    networks: [back]\n"
        "networks:\n"
        "  back:\n"
        "    ipam: {config: [{subnet: 172.31.9.0/24}]}\n",
    )
    p("up", "-d")
    assert (
        p.inspect("aliasproj-api-1", "{{.NetworkSettings.Networks.aliasproj_back.IPAddress}}")
        == "172.31.9.20"
    )
    for name in ("service-a", "legacy", "api", "aliasproj-api-1"):
        out = p.exec("aliasproj-client-1", "nslookup", name).stdout
        assert "Address: 172.31.9.20" in out, (name, out)
    p("down", "-t", "0")


def test_scale_replicas_answer_in_turn_on_the_service_name(sb: Sandbox) -> None:
    p = Project(
        sb,
        "scaleproj",
        "services:\n"
        "  web:\n"
        "    image: alpine:latest\n"
        "    command:\n"
        "      [sh, -c, 'mkdir /w && hostname > /w/index.html && exec httpd -f -p 80 -h /w']\n"
        "  client: {image: 'alpine:latest', command: sleep infinity}\n",
    )
    p("up", "-d", "--scale", "web=3")
    ids = p.ids()
    replicas = {ids[f"scaleproj-web-{n}"][:12] for n in (1, 2, 3)}
    script = "for i in $(seq 20); do wget -qO- http://web/; done"
    answered = set(p.exec("scaleproj-client-1", "sh", "-c", script).stdout.split())
    assert answered == replicas
    # scaling down keeps the lowest numbers
    p("up", "-d", "--scale", "web=1")
    assert sorted(p.ids()) == ["scaleproj-client-1", "scaleproj-web-1"]
    p("down", "-t", "0")


def test_external_and_internal_networks(sb: Sandbox) -> None:
    sb.hatoba("network", "create", "shared-ext")
    p = Project(
        sb,
        "netproj",
        "services:\n"
        "  a:\n"
        "    image: alpine:latest\n"
        "    command: sleep infinity\n"
        "    networks: [outside, quiet]\n"
        "networks:\n"
        "  outside: {external: true, name: shared-ext}\n"
        "  quiet: {internal: true}\n",
    )
    p("up", "-d")
    networks = json.loads(p.inspect("netproj-a-1", "{{json .NetworkSettings.Networks}}"))
    assert sorted(networks) == ["netproj_quiet", "shared-ext"]
    assert (
        sb.hatoba("network", "inspect", "-f", "{{.Internal}}", "netproj_quiet").stdout == "true\n"
    )
    p("down", "-t", "0")
    names = sb.hatoba("network", "ls", "--format", "{{.Name}}").stdout.split()
    assert "shared-ext" in names and "netproj_quiet" not in names
    sb.hatoba("network", "rm", "shared-ext")


def test_network_mode_service_shares_the_network_namespace(sb: Sandbox) -> None:
    p = Project(
        sb,
        "modeproj",
        "services:\n"
        "  main: {image: 'alpine:latest', command: sleep infinity}\n"
        "  sidecar:\n"
        "    image: alpine:latest\n"
        "    command: sleep infinity\n"
        "    network_mode: 'service:main'\n",
    )
    try:
        p("up", "-d")
        main = p.exec("modeproj-main-1", "cat", "/sys/class/net/eth0/address").stdout
        side = p.exec("modeproj-sidecar-1", "cat", "/sys/class/net/eth0/address").stdout
        assert main == side and main.strip()
    finally:
        p("down", "-t", "0", check=False)


def test_depends_on_service_healthy_waits_for_the_health_check(sb: Sandbox) -> None:
    p = Project(
        sb,
        "healthproj",
        "services:\n"
        "  db:\n"
        "    image: alpine:latest\n"
        "    command: [sh, -c, 'sleep 2; touch /tmp/ready; exec sleep infinity']\n"
        "    healthcheck: {test: [CMD, test, -f, /tmp/ready], interval: 500ms, retries: 20}\n"
        "  web:\n"
        "    image: alpine:latest\n"
        "    command: sleep infinity\n"
        "    depends_on: {db: {condition: service_healthy}}\n",
    )
    try:
        out = p("up", "-d")
        assert " Container healthproj-db-1  Healthy" in out.stderr
        assert p.inspect("healthproj-db-1", "{{.State.Health.Status}}") == "healthy"
        db_started = p.inspect("healthproj-db-1", "{{.State.StartedAt}}")
        web_started = p.inspect("healthproj-web-1", "{{.State.StartedAt}}")
        assert _seconds(web_started) - _seconds(db_started) >= 2
    finally:
        p("down", "-t", "0", check=False)


def _seconds(rfc3339: str) -> float:
    from datetime import datetime

    text = re.sub(r"\.(\d{6})\d*", r".\1", rfc3339).replace("Z", "+00:00")
    return datetime.fromisoformat(text).timestamp()


def test_restart_policies_hold_across_a_service_restart(sb: Sandbox) -> None:
    p = Project(
        sb,
        "restartproj",
        "services:\n"
        "  always:\n"
        "    {image: 'alpine:latest', command: [sh, -c, 'sleep 1; exit 3'], restart: always}\n"
        "  never: {image: 'alpine:latest', command: [sh, -c, 'sleep 1; exit 3']}\n",
    )
    try:
        p("up", "-d")
        _until(lambda: int(p.inspect("restartproj-always-1", "{{.RestartCount}}")) >= 1)
        pid = sb.service_pid()
        assert pid is not None
        import os
        import signal

        os.kill(pid, signal.SIGKILL)  # the keeper starts the service again
        # a request queued on the dying service's socket would be reset with it
        _until(lambda: not _alive(pid))
        count = int(p.inspect("restartproj-always-1", "{{.RestartCount}}"))
        _until(lambda: int(p.inspect("restartproj-always-1", "{{.RestartCount}}")) > count)
        assert p.inspect("restartproj-never-1", "{{.State.Status}}") == "exited"
        assert p.inspect("restartproj-never-1", "{{.RestartCount}}") == "0"
    finally:
        p("down", "-t", "0", check=False)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _until(condition: object, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():  # type: ignore[operator]
                return
        except AssertionError:
            pass
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.2)


def test_interpolation_and_dot_env(sb: Sandbox) -> None:
    p = Project(
        sb,
        "envproj",
        "services:\n"
        "  web:\n"
        "    image: alpine:${TAG:?set TAG}\n"
        "    command: sleep infinity\n"
        "    ports: ['${PORT:-9999}:80']\n"
        "    environment:\n"
        "      - GREETING=${GREETING-hello} $${NOT_A_VARIABLE}\n"
        "      - FROM_ENV_FILE\n"
        "    env_file: web.env\n",
        **{"_env": "TAG=latest\nPORT=18080\nFROM_ENV_FILE=dotenv\n", "web.env": "IN_FILE=1\n"},
    )
    p("up", "-d")
    env = p.inspect("envproj-web-1", "{{json .Config.Env}}")
    assert {"GREETING=hello ${NOT_A_VARIABLE}", "IN_FILE=1", "FROM_ENV_FILE=dotenv"} <= set(
        json.loads(env)
    )
    assert p("port", "web", "80").stdout == "0.0.0.0:18080\n"
    p("down", "-t", "0")


def test_multi_file_merge(sb: Sandbox) -> None:
    p = Project(
        sb,
        "mergeproj",
        "services:\n"
        "  web:\n"
        "    image: alpine:latest\n"
        "    command: [sleep, '1000']\n"
        "    environment: {A: base, B: base}\n",
        **{
            "override.yaml": "services:\n  web:\n    command: [sleep, '2000']\n"
            "    environment: {B: override}\n"
            "  extra: {image: 'alpine:latest', command: sleep infinity}\n"
        },
    )
    files = ("compose.yaml", "override.yaml")
    assert p("config", "--services", files=files).stdout == "web\nextra\n"
    p("up", "-d", files=files)
    assert p.inspect("mergeproj-web-1", "{{json .Config.Cmd}}") == '["sleep","2000"]'
    env = set(json.loads(p.inspect("mergeproj-web-1", "{{json .Config.Env}}")))
    assert {"A=base", "B=override"} <= env
    p("down", "-t", "0", files=files)


def test_a_broken_file_gets_every_error_with_paths_and_lines(sb: Sandbox) -> None:
    p = Project(
        sb,
        "brokenproj",
        "services:\n"
        "  web:\n"
        "    image: alpine:latest\n"
        "    ports: ['80:80', eighty]\n"
        "    secrets: [token]\n"
        "    restart: sometimes\n"
        "    networks: [nowhere]\n",
    )
    r = p("up", "-d", check=False)
    file = p.dir / "compose.yaml"
    assert r.returncode == 1
    assert [line.removeprefix(f"{file}:") for line in r.stderr.splitlines()] == [
        "4: services.web.ports[1]: 'eighty' is not a valid port: invalid containerPort: eighty",
        "5: services.web.secrets: `secrets` is not supported by hatoba (service web)",
        "6: services.web.restart: 'sometimes' must be no, always, on-failure[:N] or unless-stopped",
        "7: services.web.networks.nowhere: service 'web' refers to undefined network 'nowhere'",
    ]
    assert leftovers(sb, "brokenproj") == []
    p.write("services:\n  web:\n    image: nosuch:1.0\n")
    r = p("up", "-d", check=False)
    assert r.returncode == 1
    assert "needs image nosuch:1.0, which is not here" in r.stderr
    assert "hatoba load" in r.stderr and "hatoba import" in r.stderr
    assert leftovers(sb, "brokenproj") == []


def test_up_converges_recreates_what_changed_and_removes_orphans(sb: Sandbox) -> None:
    text = (
        "services:\n"
        "  web: {image: 'alpine:latest', command: sleep infinity, environment: [V=1]}\n"
        "  db: {image: 'alpine:latest', command: sleep infinity}\n"
        "  old: {image: 'alpine:latest', command: sleep infinity}\n"
    )
    p = Project(sb, "convproj", text)
    p("up", "-d")
    first = p.ids()
    again = p("up", "-d")
    assert p.ids() == first
    assert "Created" not in again.stderr and "Started" not in again.stderr
    p.write(
        text.replace("V=1", "V=2").replace(
            "  old: {image: 'alpine:latest', command: sleep infinity}\n", ""
        )
    )
    out = p("up", "-d")
    assert "Found orphan containers (convproj-old-1)" in out.stderr
    now = p.ids()
    assert now["convproj-db-1"] == first["convproj-db-1"]
    assert now["convproj-web-1"] != first["convproj-web-1"]
    assert "V=2" in p.inspect("convproj-web-1", "{{json .Config.Env}}")
    assert now["convproj-old-1"] == first["convproj-old-1"]
    p("up", "-d", "--remove-orphans")
    assert sorted(p.ids()) == ["convproj-db-1", "convproj-web-1"]
    p("up", "-d", "--force-recreate", "db")
    assert p.ids()["convproj-db-1"] != now["convproj-db-1"]
    p("down", "-t", "0")


def test_a_failed_up_leaves_nothing_of_itself(sb: Sandbox) -> None:
    sb.hatoba(
        "run", "-d", "--name", "squatter", "-p", "18081:80", "alpine:latest", "sleep", "infinity"
    )
    p = Project(
        sb,
        "failproj",
        "services:\n"
        "  db: {image: 'alpine:latest', command: sleep infinity}\n"
        "  web:\n"
        "    image: alpine:latest\n"
        "    command: sleep infinity\n"
        "    ports: ['18081:80']\n"
        "    depends_on: [db]\n",
    )
    r = p("up", "-d", check=False)
    assert r.returncode == 1
    assert "service 'web' failed:" in r.stderr and "18081" in r.stderr
    assert leftovers(sb, "failproj") == []
    # a failed recreate puts the running containers back as they were
    p.write("services:\n  db: {image: 'alpine:latest', command: sleep infinity}\n")
    p("up", "-d")
    before = p.ids()
    p.write(
        "services:\n  db: {image: 'alpine:latest', command: sleep infinity, ports: ['18081:80']}\n"
    )
    assert p("up", "-d", check=False).returncode == 1
    assert p.ids() == before
    assert p.inspect("failproj-db-1", "{{.State.Status}}") == "running"
    p("down", "-t", "0")
    sb.hatoba("rm", "-f", "squatter")


def test_down_leaves_no_container_network_rule_or_name(sb: Sandbox) -> None:
    ruleset = sb.sh(["nft", "-s", "list", "ruleset"]).stdout
    p = Project(
        sb,
        "downproj",
        "services:\n"
        "  web:\n"
        "    image: alpine:latest\n"
        "    command: sleep infinity\n"
        "    ports: ['18082:80']\n"
        "    networks: [front, back]\n"
        "  db: {image: 'alpine:latest', command: sleep infinity, networks: [back]}\n"
        "networks: {front: {}, back: {}}\n",
    )
    p("up", "-d")
    assert "1 packets received" in p.exec("downproj-web-1", "ping", "-c", "1", "db").stdout
    p("run", "--rm", "-T", "db", "true")
    p("down", "-t", "0")
    assert leftovers(sb, "downproj") == []
    assert sb.hatoba("ps", "-aq").stdout == ""
    assert sb.sh(["nft", "-s", "list", "ruleset"]).stdout == ruleset


def test_the_other_commands(sb: Sandbox) -> None:
    p = Project(
        sb,
        "cmdproj",
        "services:\n"
        "  web:\n"
        "    image: alpine:latest\n"
        "    command: [sh, -c, 'echo hello from web; exec sleep infinity']\n"
        "    ports: ['18083:80']\n"
        "  job: {image: 'alpine:latest', command: [sh, -c, 'echo done']}\n",
    )
    p("up", "-d")
    _until(lambda: "job-1  | done" in p("logs", "job").stdout)
    logs = p("logs").stdout
    assert "web-1  | hello from web" in logs and "job-1  | done" in logs
    assert [r.split()[0] for r in p("ps").stdout.splitlines()] == ["NAME", "cmdproj-web-1"]
    rows = [json.loads(line) for line in p("ps", "-a", "--format", "json").stdout.splitlines()]
    assert {(r["Service"], r["State"]) for r in rows} == {("web", "running"), ("job", "exited")}
    assert p("exec", "-T", "web", "hostname").stdout.strip() == p.ids()["cmdproj-web-1"][:12]
    assert p("port", "web", "80").stdout == "0.0.0.0:18083\n"
    out = p(
        "run",
        "--rm",
        "-T",
        "web",
        "sh",
        "-c",
        # what nslookup said, should it fail: a rare failure is understood from the output
        'echo one-off; out=$(nslookup web 2>&1) && echo found || echo "$out"',
    )
    assert out.stdout == "one-off\nfound\n"
    assert "run" not in " ".join(p.ids())
    p("stop", "-t", "0", "web")
    assert p.inspect("cmdproj-web-1", "{{.State.Status}}") == "exited"
    p("start", "web")
    assert p.inspect("cmdproj-web-1", "{{.State.Status}}") == "running"
    p("restart", "-t", "0", "web")
    p("kill", "web")
    p("rm", "-f")
    assert p.ids() == {}
    p("down")
    assert leftovers(sb, "cmdproj") == []


def test_user_and_init(sb: Sandbox) -> None:
    p = Project(
        sb,
        "userproj",
        "services:\n"
        "  app:\n"
        "    image: alpine:latest\n"
        "    command: sleep infinity\n"
        "    user: '1000:1000'\n"
        "    init: true\n",
    )
    p("up", "-d")
    assert p.exec("userproj-app-1", "id", "-u").stdout.strip() == "1000"
    assert p.exec("userproj-app-1", "cat", "/proc/1/comm").stdout.strip() != "sleep"
    assert p.inspect("userproj-app-1", "{{.HostConfig.Init}}") == "true"
    p("down", "-t", "0")


VOLUMES_FILE = """
services:
  app:
    image: alpine:latest
    command: sleep infinity
    environment: [ROUND=1]
    volumes:
      - data:/data
      - ./site:/site:ro
      - /cache
      - {type: tmpfs, target: /scratch, tmpfs: {size: 1m}}
    tmpfs: /run/app
  reader:
    image: alpine:latest
    command: sleep infinity
    volumes_from: ['app:ro']
    volumes: ['kept:/kept']
volumes:
  data: {}
  kept: {external: true, name: compose-kept}
"""


def volume_names(sb: Sandbox) -> set[str]:
    return set(sb.hatoba("volume", "ls", "-q").stdout.split())


def anonymous_volume(p: Project, container: str, destination: str) -> str:
    mounts = json.loads(p.inspect(container, "{{json .Mounts}}"))
    return str(next(m["Name"] for m in mounts if m["Destination"] == destination))


def test_volumes_binds_and_tmpfs_through_up_down_and_down_v(sb: Sandbox) -> None:
    sb.hatoba("volume", "create", "compose-kept")
    before = volume_names(sb)
    p = Project(sb, "volproj", VOLUMES_FILE)
    (p.dir / "site").mkdir()
    (p.dir / "site" / "index.html").write_text("hello from the project\n")
    app = "volproj-app-1"
    try:
        p("up", "-d")
        labels = json.loads(
            sb.hatoba("volume", "inspect", "-f", "{{json .Labels}}", "volproj_data").stdout
        )
        assert labels["com.docker.compose.project"] == "volproj"
        assert labels["com.docker.compose.volume"] == "data"
        p.exec(app, "sh", "-c", "echo kept > /data/file && echo anon > /cache/file")
        # the project folder, read-only
        assert p.exec(app, "cat", "/site/index.html").stdout == "hello from the project\n"
        refused = p.exec(app, "touch", "/site/new", check=False)
        assert refused.returncode != 0 and "Read-only file system" in refused.stderr
        assert not (p.dir / "site" / "new").exists()
        # tmpfs, from the long syntax (with its size) and from `tmpfs:`
        mounts = p.exec(app, "cat", "/proc/mounts").stdout.splitlines()
        kinds = {line.split()[1]: line.split() for line in mounts}
        assert kinds["/scratch"][2] == "tmpfs" and "size=1024k" in kinds["/scratch"][3]
        assert kinds["/run/app"][2] == "tmpfs"
        # volumes_from, read-only as asked
        assert p.exec("volproj-reader-1", "cat", "/data/file").stdout == "kept\n"
        assert p.exec("volproj-reader-1", "touch", "/data/x", check=False).returncode != 0
        # and for a one-off container of the service
        assert p("run", "--rm", "-T", "reader", "cat", "/data/file").stdout == "kept\n"
        # a recreate keeps the anonymous volume's data, as docker compose's does
        first = p.ids()[app]
        p.write(VOLUMES_FILE.replace("ROUND=1", "ROUND=2"))
        p("up", "-d")
        assert p.ids()[app] != first
        assert p.exec(app, "cat", "/cache/file").stdout == "anon\n"
        # down keeps the volumes (the anonymous one dangling, as with docker compose); the
        # next up sees the named volume's data again
        dangling = anonymous_volume(p, app, "/cache")
        p("down", "-t", "0")
        assert {"volproj_data", dangling} <= volume_names(sb)
        p("up", "-d")
        assert p.exec(app, "cat", "/data/file").stdout == "kept\n"
        anonymous = anonymous_volume(p, app, "/cache")
        p("down", "-t", "0", "-v")
        # the named volume and the containers' anonymous ones are gone, the external one stays
        assert volume_names(sb) == before | {dangling}
        assert anonymous not in volume_names(sb)
        sb.hatoba("volume", "rm", dangling)
        assert leftovers(sb, "volproj") == []
    finally:
        p("down", "-t", "0", "-v", check=False)
        sb.hatoba("volume", "rm", "compose-kept")


def test_a_missing_external_volume_fails_the_up_with_nothing_made(sb: Sandbox) -> None:
    before = volume_names(sb)
    p = Project(
        sb,
        "extvolproj",
        "services:\n  a: {image: 'alpine:latest', command: sleep infinity, volumes: ['v:/v']}\n"
        "volumes: {v: {external: true, name: nowhere-vol}}\n",
    )
    r = p("up", "-d", check=False)
    assert r.returncode == 1 and 'external volume "nowhere-vol" not found' in r.stderr
    assert leftovers(sb, "extvolproj") == [] and volume_names(sb) == before


def test_rm_v_takes_the_anonymous_volumes_of_what_it_removes(sb: Sandbox) -> None:
    p = Project(
        sb,
        "rmvolproj",
        "services:\n  a: {image: 'alpine:latest', command: sleep infinity, volumes: [/cache]}\n",
    )
    p("up", "-d")
    first = anonymous_volume(p, "rmvolproj-a-1", "/cache")
    p("rm", "-f", "-s")
    assert first in volume_names(sb)  # without -v it stays, as with docker compose
    p("up", "-d")
    second = anonymous_volume(p, "rmvolproj-a-1", "/cache")
    p("rm", "-f", "-s", "-v")
    assert second not in volume_names(sb)
    sb.hatoba("volume", "rm", first)
    p("down")
    assert leftovers(sb, "rmvolproj") == []


def test_capabilities_sysctls_read_only_and_limits_reach_the_kernel(sb: Sandbox) -> None:
    p = Project(
        sb,
        "knobproj",
        "services:\n"
        "  a:\n"
        "    image: 'alpine:latest'\n"
        "    command: sleep infinity\n"
        "    cap_add: [NET_ADMIN]\n"
        "    sysctls: {net.core.somaxconn: 321}\n"
        "    read_only: true\n"
        "    tmpfs: [/scratch]\n"
        "    mem_limit: 32m\n"
        "    pids_limit: 40\n",
    )
    p("up", "-d")
    pid = p.inspect("knobproj-a-1", "{{.State.Pid}}")
    assert status_field(pid, "CapEff") == DEFAULT_CAPS | CAP_NET_ADMIN
    script = (
        "cat /proc/sys/net/core/somaxconn; touch /probe 2>/dev/null || echo read-only; "
        "touch /scratch/probe && echo tmpfs-writable"
    )
    out = p.exec("knobproj-a-1", "sh", "-c", script).stdout.split()
    assert out == ["321", "read-only", "tmpfs-writable"]
    assert cgroup_file(pid, "memory", "memory.limit_in_bytes") == f"{32 << 20}\n"
    assert cgroup_file(pid, "pids", "pids.max") == "40\n"
    p("down", "-t", "0")
    assert leftovers(sb, "knobproj") == []
    # a setting the engine refuses fails the up, which keeps nothing of itself
    p.write(
        p.dir.joinpath("compose.yaml").read_text().replace("net.core.somaxconn", "kernel.pid_max")
    )
    failed = p("up", "-d", check=False)
    assert failed.returncode == 1 and "kernel.pid_max" in failed.stderr, failed.stderr
    assert leftovers(sb, "knobproj") == []
