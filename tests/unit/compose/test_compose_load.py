"""Loading compose files: YAML, interpolation, .env, merge, validation with lines, unsupported
keys, normalization, project names."""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.compose_files import Load, load_files, problems_of, project_dir, project_of
from hatoba.compose.errors import Problems
from hatoba.compose.interpolation import InterpolationError, Variables, substitute
from hatoba.compose.model import (
    COMPLETED,
    HEALTHY,
    Dependency,
    Healthcheck,
    Port,
    RestartPolicy,
    ServiceNetwork,
)
from hatoba.compose.project import normalize_project_name
from hatoba.compose.source import load as load_yaml

__all__ = ["load_files", "project_dir"]

# --- YAML ---------------------------------------------------------------------------------


def test_yaml_reads_as_compose_does_yaml_1_2() -> None:
    problems = Problems()
    tree = load_yaml("a: 80:80\nb: yes\nc: 012\nd: 0x1f\ne: ~\nf: 1.5\ng: true\n", "f", problems)
    assert tree == {"a": "80:80", "b": "yes", "c": "012", "d": 31, "e": None, "f": 1.5, "g": True}
    assert problems.found == []


def test_yaml_duplicate_keys_and_merge_keys() -> None:
    problems = Problems()
    text = "x: &base\n  a: 1\n  b: 2\ny:\n  <<: *base\n  b: 3\ny:\n  c: 1\n"
    tree = load_yaml(text, "f.yaml", problems)
    assert tree is not None and tree["y"] == {"a": 1, "b": 3}
    assert [str(p) for p in problems.found] == [
        "f.yaml:7: y: mapping key 'y' already defined at line 4"
    ]


def test_yaml_syntax_error_has_its_line(load_files: Load) -> None:
    found = problems_of(load_files, {"compose.yaml": "services:\n  web:\n    image: [x\n"})
    assert len(found) == 1 and found[0].startswith(f"{load_files.__name__ and ''}")
    assert ":4: invalid YAML" in found[0] or ":3: invalid YAML" in found[0]


# --- interpolation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$A ${A}", "a a"),
        ("${E:-d}", "d"),
        ("${E-d}", ""),
        ("${U-d}", "d"),
        ("${U:-${A}x}", "ax"),
        ("${A:+r}", "r"),
        ("${E:+r}", ""),
        ("${E+r}", "r"),
        ("$$A $${A}", "$A ${A}"),
        ("${U}", ""),
    ],
)
def test_substitute(text: str, expected: str) -> None:
    assert substitute(text, Variables({"A": "a", "E": ""}.get)) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("${U:?set U}", "required variable U is missing a value: set U"),
        ("${E:?}", "required variable E is missing a value"),
        ("${U?}", "required variable U is missing a value"),
        ("x $1", "write $$ for a literal $"),
        ("${A", "missing }"),
        ("${A B}", "invalid interpolation format"),
    ],
)
def test_substitute_errors(text: str, message: str) -> None:
    with pytest.raises(InterpolationError, match=message.replace("$", r"\$")):
        substitute(text, Variables({"A": "a", "E": ""}.get))


def test_interpolation_from_env_file_and_shell(load_files: Load) -> None:
    files = {
        ".env": "TAG=1.0\nPORT=8080 # web\nexport NAME='lit $x'\nQ=\"a\\n${TAG}\"\n",
        "compose.yaml": (
            "services:\n  web:\n    image: alpine:${TAG}\n    ports: ['${PORT}:80']\n"
            "    environment: {N: $NAME, Q: '${Q}', S: '${SHELL_ONLY:-none}'}\n"
        ),
    }
    web = load_files(files, env={"TAG": "2.0"}).project.service("web")
    assert web.image == "alpine:2.0"  # the shell wins over .env, also inside .env
    assert web.ports == (Port(80, "tcp", "", "8080"),)
    assert dict(web.environment) == {"N": "lit $x", "Q": "a\n2.0", "S": "none"}


def test_interpolation_errors_have_paths_and_lines(load_files: Load) -> None:
    text = "services:\n  web:\n    image: ${IMAGE:?set IMAGE}\n    command: echo $1\n"
    assert problems_of(load_files, {"compose.yaml": text}) == [
        f"{load_files_path(load_files)}:3: services.web.image: required variable IMAGE is "
        "missing a value: set IMAGE",
        f"{load_files_path(load_files)}:4: services.web.command: invalid interpolation format "
        "in 'echo $1': write $$ for a literal $",
    ]


def load_files_path(load_files: Load) -> str:
    loaded = load_files({"compose.yaml": "services: {a: {image: x}}\n"})
    return loaded.project.config_files[0]


def test_env_file_option_replaces_dot_env(load_files: Load, project_dir: Path) -> None:
    (project_dir / "other.env").write_text("TAG=other\n")
    files = {".env": "TAG=dotenv\n", "compose.yaml": "services: {a: {image: 'x:${TAG}'}}\n"}
    loaded = load_files(files, env_files=(str(project_dir / "other.env"),))
    assert loaded.project.service("a").image == "x:other"


def test_unset_variable_warns(load_files: Load) -> None:
    project = project_of(load_files, "services: {a: {image: 'x${NOPE}'}}\n")
    assert project.warnings == ('The "NOPE" variable is not set. Defaulting to a blank string.',)


# --- merge --------------------------------------------------------------------------------


def test_multi_file_merge(load_files: Load) -> None:
    base = (
        "services:\n  web:\n    image: a\n    command: [echo, a]\n    environment: [A=1, B=2]\n"
        "    ports: ['80:80']\n    dns: 1.1.1.1\n    networks: [front]\n"
        "    labels: {keep: 'yes', gone: x}\n"
        "networks: {front: {}, back: {}}\n"
    )
    override = (
        "services:\n  web:\n    image: b\n    command: [echo, b]\n    environment: {B: 3, C: 4}\n"
        "    ports: ['80:80', '81:81']\n    dns: [8.8.8.8]\n"
        "    networks: {back: {aliases: [api]}}\n    labels: {gone: !reset null}\n"
        "  extra:\n    image: c\n"
    )
    loaded = load_files(
        {"compose.yaml": base, "more.yaml": override}, files=("compose.yaml", "more.yaml")
    )
    web = loaded.project.service("web")
    assert web.image == "b"
    assert web.command == ("echo", "b")
    assert dict(web.environment) == {"A": "1", "B": "3", "C": "4"}
    assert web.ports == (Port(80, "tcp", "", "80"), Port(81, "tcp", "", "81"))
    assert web.dns == ("1.1.1.1", "8.8.8.8")
    assert web.networks == (ServiceNetwork("back", ("api",)), ServiceNetwork("front"))
    assert dict(web.labels) == {"keep": "yes"}
    assert loaded.project.service_names == ("web", "extra")


def test_override_file_is_read_by_default_and_override_tag(load_files: Load) -> None:
    project = load_files(
        {
            "compose.yaml": "services:\n  web:\n    image: a\n    ports: ['80:80']\n",
            "compose.override.yaml": "services:\n  web:\n    ports: !override ['90:90']\n",
        }
    ).project
    assert project.service("web").ports == (Port(90, "tcp", "", "90"),)
    assert [Path(f).name for f in project.config_files] == [
        "compose.yaml",
        "compose.override.yaml",
    ]


def test_default_file_found_in_a_parent(load_files: Load, project_dir: Path) -> None:
    from hatoba.compose.project import Options, load

    load_files({"compose.yaml": "services: {a: {image: x}}\n"})
    sub = project_dir / "sub" / "dir"
    sub.mkdir(parents=True)
    assert load(Options(), {}, str(sub)).project.working_dir == str(project_dir)


# --- validation ---------------------------------------------------------------------------


def test_broken_file_reports_every_error_with_path_and_line(load_files: Load) -> None:
    text = (
        "services:\n"  # 1
        "  web:\n"  # 2
        "    image: 5\n"  # 3
        "    ports:\n"  # 4
        "      - '80:80'\n"  # 5
        "      - eighty\n"  # 6
        "    colour: blue\n"  # 7
        "    depends_on:\n"  # 8
        "      db: {condition: whenever}\n"  # 9
        "    healthcheck: {test: [CMD, x], interval: 5 sekunden}\n"  # 10
        "    restart: sometimes\n"  # 11
        "  db:\n"  # 12
        "    image: alpine\n"  # 13
        "    networks: [nowhere]\n"  # 14
    )
    found = problems_of(load_files, {"compose.yaml": text})
    file = found[0].split(":")[0]
    assert [f.removeprefix(file) for f in found] == [
        ":3: services.web.image: 5 must be a string",
        ":7: services.web.colour: additional property 'colour' is not allowed",
        ":9: services.web.depends_on.db.condition: 'whenever' must be one of: "
        "service_started, service_healthy, service_completed_successfully",
    ]
    # the schema's errors come first; a file that passes it gets hatoba's own checks
    text = text.replace("image: 5", "image: alpine").replace("    colour: blue\n", "")
    text = text.replace("whenever", "service_healthy")
    found = problems_of(load_files, {"compose.yaml": text})
    assert [f.removeprefix(file) for f in found] == [
        ":6: services.web.ports[1]: 'eighty' is not a valid port: invalid containerPort: eighty",
        ":9: services.web.healthcheck.interval: '5 sekunden' is not a duration "
        "(e.g. 30s, 1m30s, 500ms)",
        ":10: services.web.restart: 'sometimes' must be no, always, on-failure[:N] or "
        "unless-stopped",
        ":13: services.db.networks.nowhere: service 'db' refers to undefined network 'nowhere'",
    ]


def test_unsupported_keys_name_the_key_and_service(load_files: Load) -> None:
    text = (
        "services:\n  web:\n    image: a\n    secrets: [token]\n    cpuset: '0'\n"
        "    healthcheck: {test: [CMD, x], start_interval: 1s}\n"
        "    deploy: {resources: {limits: {cpus: '1'}, reservations: {memory: 1g, cpus: '1'}}}\n"
        "secrets: {token: {file: ./token}}\n"
    )
    found = [p.split(": ", 1)[1] for p in problems_of(load_files, {"compose.yaml": text})]
    assert found == [
        "services.web.secrets: `secrets` is not supported by hatoba (service web)",
        "services.web.cpuset: `cpuset` is not supported by hatoba (service web): its engine "
        "does not apply HostConfig.CpusetCpus yet",
        "services.web.healthcheck.start_interval: `start_interval` is not supported by hatoba "
        "(service web)",
        "services.web.deploy.resources.reservations.cpus: `cpus` is not supported by hatoba "
        "(service web)",
        "services.web.deploy.resources.reservations.memory: `memory` is not supported by "
        "hatoba (service web): its engine does not apply HostConfig.MemoryReservation yet",
        "secrets: `secrets` is not supported by hatoba",
    ]


def test_references_and_cycles(load_files: Load) -> None:
    text = (
        "services:\n  a: {image: x, depends_on: [b]}\n  b: {image: x, depends_on: [a]}\n"
        "  c: {image: x, depends_on: [ghost], network_mode: 'service:nobody'}\n"
        "  d: {image: x, container_name: one, scale: 2}\n"
    )
    found = [p.split(": ", 1)[1] for p in problems_of(load_files, {"compose.yaml": text})]
    assert "services.a: dependency cycle detected: a -> b -> a" in found
    assert "services.c.depends_on.ghost: service 'c' depends on undefined service 'ghost'" in found
    assert any("shares the network of undefined service 'nobody'" in f for f in found)
    assert any("container name 'one' and 2 replicas" in f for f in found)


# --- normalization ------------------------------------------------------------------------


def test_service_normalization(load_files: Load, project_dir: Path) -> None:
    (project_dir / "web.env").write_text("FROM_FILE=1\nA=file\n")
    text = """
services:
  web:
    image: alpine
    command: sh -c 'echo "hi there"'
    entrypoint: [/bin/sh]
    env_file: web.env
    environment: [A=env, HOME]
    ports:
      - 8000-8001:80-81/udp
      - 127.0.0.1::53
      - {target: 443, published: 8443, host_ip: 10.0.0.1}
      - 9000
    expose: [3000, 4000-4001/udp]
    extra_hosts: ['gw:host-gateway', 'db=10.0.0.2']
    dns: 1.1.1.1
    depends_on:
      db: {condition: service_healthy}
      init: {condition: service_completed_successfully, required: false}
    healthcheck: {test: wget -q localhost, interval: 1m30s, timeout: 500ms, retries: 3}
    restart: on-failure:3
    deploy: {replicas: '3'}
    init: 'true'
    tty: true
    stop_grace_period: 1m30s
    stop_signal: SIGINT
    labels: [a=b]
    user: '1000:1000'
    working_dir: /srv
    networks:
      low: {priority: 1}
      high: {priority: 10, aliases: [api], ipv4_address: 172.30.0.9}
  db: {image: x, profiles: [debug]}
  init: {image: x}
networks: {low: {}, high: {ipam: {config: [{subnet: 172.30.0.0/16}]}}}
"""
    web = load_files({"compose.yaml": text}, env={"HOME": "/home/u"}).project.service("web")
    assert web.command == ("sh", "-c", 'echo "hi there"')
    assert web.entrypoint == ("/bin/sh",)
    assert dict(web.environment) == {"FROM_FILE": "1", "A": "env", "HOME": "/home/u"}
    assert web.ports == (
        Port(80, "udp", "", "8000"),
        Port(81, "udp", "", "8001"),
        Port(53, "tcp", "127.0.0.1", ""),
        Port(443, "tcp", "10.0.0.1", "8443"),
        Port(9000, "tcp", "", ""),
    )
    assert web.expose == ("3000/tcp", "4000/udp", "4001/udp")
    assert web.extra_hosts == ("gw:host-gateway", "db:10.0.0.2")
    assert web.dns == ("1.1.1.1",)
    assert web.depends_on == (
        Dependency("db", HEALTHY),
        Dependency("init", COMPLETED, required=False),
    )
    assert web.healthcheck == Healthcheck(
        ("CMD-SHELL", "wget -q localhost"), 90 * 10**9, 500 * 10**6, 0, 3
    )
    assert web.restart == RestartPolicy("on-failure", 3)
    assert (web.replicas, web.init, web.tty, web.stop_grace_period_s) == (3, True, True, 90)
    assert (web.stop_signal, web.user, web.working_dir) == ("SIGINT", "1000:1000", "/srv")
    assert web.labels == (("a", "b"),)
    assert web.networks == (
        ServiceNetwork("high", ("api",), "172.30.0.9", 10),
        ServiceNetwork("low", (), "", 1),
    )


def test_profiles_and_dependencies(load_files: Load) -> None:
    text = (
        "services:\n  web: {image: x, depends_on: [db]}\n  db: {image: x, profiles: [data]}\n"
        "  debug: {image: x, profiles: [debug]}\n"
    )
    project = project_of(load_files, text)
    # what an enabled service needs is enabled whatever its profiles; dependencies come first
    assert project.service_names == ("db", "web")
    assert project.disabled == ("debug",)
    assert project_of(load_files, text, profiles=("debug",)).service_names == ("db", "web", "debug")
    assert project_of(load_files, text, env={"COMPOSE_PROFILES": "debug"}).disabled == ()
    assert project_of(load_files, text, requested=("debug",)).disabled == ()


def test_networks_names_and_kinds(load_files: Load) -> None:
    text = (
        "services:\n  a:\n    image: x\n    networks: [default, ext, old, named, hostnet]\n"
        "networks:\n  ext: {external: true}\n  old: {external: {name: legacy}}\n"
        "  named: {name: custom, internal: true, labels: [k=v]}\n  hostnet: {driver: host}\n"
    )
    project = project_of(load_files, text, project_name="p1")
    by_key = {n.key: n for n in project.networks}
    assert {k: (n.name, n.external) for k, n in by_key.items()} == {
        "default": ("p1_default", False),
        "ext": ("ext", True),
        "old": ("legacy", True),
        "named": ("custom", False),
        "hostnet": ("host", True),
    }
    assert by_key["named"].internal and by_key["named"].labels == (("k", "v"),)


def test_network_mode_excludes_networks(load_files: Load) -> None:
    text = "services:\n  a: {image: x, network_mode: host, networks: [default]}\n"
    found = problems_of(load_files, {"compose.yaml": text})
    assert found[0].endswith("service 'a' declares both network_mode and networks")
    project = project_of(
        load_files, "services:\n  a: {image: x, network_mode: 'service:b'}\n  b: {image: x}\n"
    )
    assert project.service_names == ("b", "a")
    assert project.service("a").networks == () and project.networks[0].key == "default"


def test_build_without_image_uses_docker_compose_name(load_files: Load) -> None:
    project = project_of(load_files, "services: {web: {build: .}}\n", project_name="shop")
    assert (project.service("web").image, project.service("web").build) == ("shop-web", True)


# --- project names ------------------------------------------------------------------------


def test_project_name_sources(load_files: Load, project_dir: Path) -> None:
    text = "services: {a: {image: x}}\n"
    assert project_of(load_files, text).name == "seedproj"  # "Seed Proj", normalized
    assert project_of(load_files, text, env={"COMPOSE_PROJECT_NAME": "fromenv"}).name == "fromenv"
    assert project_of(load_files, "name: infile\n" + text).name == "infile"
    assert project_of(load_files, "name: infile\n" + text, project_name="flag").name == "flag"
    (project_dir / ".env").write_text("COMPOSE_PROJECT_NAME=dotenv\n")
    assert project_of(load_files, text).name == "dotenv"


def test_explicit_project_names_must_be_normal(load_files: Load) -> None:
    found = problems_of(
        load_files, {"compose.yaml": "services: {a: {image: x}}\n"}, project_name="My App"
    )
    assert found == [
        "invalid project name 'My App': must consist only of lowercase alphanumeric "
        "characters, hyphens, and underscores as well as start with a letter or number"
    ]


@pytest.mark.parametrize(
    ("text", "name"), [("Seed Proj", "seedproj"), ("_x.Y-1", "xy-1"), ("--a_b", "a_b")]
)
def test_normalize_project_name(text: str, name: str) -> None:
    assert normalize_project_name(text) == name


# --- hashes -------------------------------------------------------------------------------


def test_config_hash_follows_what_changes_a_container(load_files: Load) -> None:
    def hash_of(text: str) -> str:
        return project_of(load_files, text).services[-1].config_hash

    base = hash_of("services: {web: {image: x, command: [a]}}\n")
    assert base == hash_of("services:\n  web:\n    command: [a]\n    image: x\n")
    assert base == hash_of("services: {web: {image: x, command: [a], scale: 3}}\n")
    assert base != hash_of("services: {web: {image: y, command: [a]}}\n")
    assert base != hash_of("services: {web: {image: x, command: [b]}}\n")
    assert len(base) == 64


@pytest.mark.parametrize(
    ("service", "problem"),
    [
        ("extra_hosts: ['nocolon']", "services.a.extra_hosts[0]: 'nocolon' is not HOST:IP"),
        (
            "extra_hosts: ['db:not-an-ip']",
            "services.a.extra_hosts[0]: 'db:not-an-ip' is not HOST:IP",
        ),
        ("ports: [{target: 0}]", "services.a.ports[0]: '0' is not a valid port"),
        ("ports: [{target: 80, protocol: icmp}]", "services.a.ports[0].protocol: 'icmp' is not a"),
        ("ports: ['70000:80']", "services.a.ports[0]: '70000:80' is not a valid port: invalid"),
        ("expose: ['80:80']", "services.a.expose[0]: '80:80' is not a valid port"),
        ("healthcheck: {test: [RUN, x]}", "services.a.healthcheck.test: a test list starts with"),
        (
            "healthcheck: {test: [CMD, x], retries: many}",
            "services.a.healthcheck.retries: 'many' is",
        ),
        ("env_file: missing.env", "services.a.env_file: env file missing.env not found"),
        ("pull_policy: always", "services.a.pull_policy: pull_policy 'always' needs a registry"),
        ("tty: maybe", "services.a.tty: 'maybe' is not a boolean"),
        ("scale: -1", "services.a.scale: -1 must be at least 0"),
        ('command: "echo \'unclosed"', 'services.a.command: "echo \'unclosed" cannot be split'),
        ("network_mode: bogus", "services.a.network_mode: 'bogus' must be host, none, bridge"),
        ("deploy: {restart_policy: {condition: sometimes}}", "condition: 'sometimes' must be none"),
        ("networks: {n: {ipv4_address: 10.0.0.300}}", "ipv4_address: '10.0.0.300' is not an IPv4"),
        ("networks: {n: {ipv6_address: 10.0.0.3}}", "ipv6_address: '10.0.0.3' is not an IPv6"),
    ],
)
def test_every_check_of_a_service_has_its_line(
    load_files: Load, service: str, problem: str
) -> None:
    text = "services:\n  a:\n    image: x\n    " + service + "\nnetworks: {n: {}}\n"
    found = problems_of(load_files, {"compose.yaml": text})
    assert len(found) == 1, found
    assert found[0].split(":", 2)[1] == "4" and problem in found[0], found[0]


@pytest.mark.parametrize(
    ("network", "problem"),
    [
        ("{ipam: {config: [{subnet: 10.0.0.0}]}}", "subnet: '10.0.0.0' is not a subnet in CIDR"),
        ("{ipam: {config: [{gateway: x}]}}", "gateway: 'x' is not an IP address"),
        ("{ipam: {driver: dhcp}}", "driver: IPAM driver 'dhcp' is not supported"),
        ("{driver: overlay}", "networks.n.driver: driver 'overlay' is not supported by hatoba"),
        ("{external: true, internal: true}", "internal: an external network cannot set"),
        ("{enable_ipv4: false}", "networks.n.enable_ipv4: `enable_ipv4` is not supported"),
        ("{external: true, enable_ipv6: true}", "enable_ipv6: an external network cannot set"),
    ],
)
def test_every_check_of_a_network_has_its_line(
    load_files: Load, network: str, problem: str
) -> None:
    text = "services:\n  a: {image: x, networks: [n]}\nnetworks:\n  n: " + network + "\n"
    found = problems_of(load_files, {"compose.yaml": text})
    assert len(found) == 1, found
    assert found[0].split(":", 2)[1] == "4" and problem in found[0], found[0]
