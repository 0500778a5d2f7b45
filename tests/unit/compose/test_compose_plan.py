"""Plans of `up` and `down` from a project and the engine's containers and networks, and the
requests docker compose would send."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import pytest

from fixtures.compose_files import Load, load_files, project_dir, project_of
from hatoba.compose import model, requests
from hatoba.compose.errors import ComposeError
from hatoba.compose.model import Project
from hatoba.compose.plan import (
    Observed,
    ObservedNetwork,
    UpOptions,
    observe_containers,
    plan_down,
    plan_up,
)

__all__ = ["load_files", "project_dir"]

TEXT = "services:\n  web: {image: x, depends_on: [db], deploy: {replicas: 2}}\n  db: {image: y}\n"


@pytest.fixture
def project(load_files: Load) -> Project:
    return project_of(load_files, TEXT, project_name="p")


def running(project: Project, service: str, number: int, **kw: object) -> Observed:
    s = project.service(service)
    fields: dict[str, object] = {
        "id": f"{service}{number}",
        "name": f"p-{service}-{number}",
        "service": service,
        "number": number,
        "state": "running",
        "config_hash": s.config_hash,
        "networks": ("p_default",),
    }
    fields.update(kw)
    return Observed(**fields)  # type: ignore[arg-type]


DEFAULT_NET = ObservedNetwork(
    "n1", "p_default", {requests.PROJECT: "p", requests.NETWORK: "default"}
)


def test_first_up_creates_everything_in_dependency_order(project: Project) -> None:
    plan = plan_up(project, [], [], UpOptions())
    assert [n.name for n in plan.create_networks] == ["p_default"]
    assert [(s.service.name, s.create) for s in plan.services] == [("db", (1,)), ("web", (1, 2))]
    assert plan.changes


def test_second_up_of_the_same_file_changes_nothing(project: Project) -> None:
    current = [running(project, "db", 1), running(project, "web", 1), running(project, "web", 2)]
    plan = plan_up(project, current, [DEFAULT_NET], UpOptions())
    assert not plan.changes
    assert [len(s.keep) for s in plan.services] == [1, 2]


def test_changed_service_is_recreated_others_kept(project: Project) -> None:
    current = [
        running(project, "db", 1, config_hash="old"),
        running(project, "web", 1),
        running(project, "web", 2),
    ]
    plan = plan_up(project, current, [DEFAULT_NET], UpOptions())
    db, web = plan.services
    assert [c.id for c in db.recreate] == ["db1"] and not db.create
    assert not web.changes


def test_stopped_containers_are_started_and_missing_networks_recreate(project: Project) -> None:
    current = [
        running(project, "db", 1, state="exited"),
        running(project, "web", 1, networks=()),
        running(project, "web", 2),
    ]
    db, web = plan_up(project, current, [DEFAULT_NET], UpOptions()).services
    assert [c.id for c in db.start] == ["db1"]
    assert [c.id for c in web.recreate] == ["web1"]


def test_force_and_no_recreate(project: Project) -> None:
    current = [running(project, "db", 1, config_hash="old"), running(project, "web", 1)]
    forced = plan_up(
        project, current, [DEFAULT_NET], UpOptions(services=("web",), force_recreate=True)
    )
    db, web = forced.services
    # what `web` depends on is only recreated when it changed; web itself is forced
    assert [c.id for c in db.recreate] == ["db1"]
    assert [c.id for c in web.recreate] == ["web1"] and web.create == (2,)
    never = plan_up(project, current, [DEFAULT_NET], UpOptions(no_recreate=True))
    assert not never.services[0].recreate


def test_scale_up_and_down(project: Project) -> None:
    current = [running(project, "db", 1)] + [running(project, "web", n) for n in (1, 2, 3)]
    current.append(running(project, "web", 4, config_hash="old"))
    down = plan_up(project, current, [DEFAULT_NET], UpOptions(scale={"web": 2})).services[1]
    # the obsolete one and the highest numbers go first
    assert sorted(c.number for c in down.remove) == [3, 4]
    up = plan_up(project, current[:3], [DEFAULT_NET], UpOptions(scale={"web": 4})).services[1]
    assert up.create == (3, 4)


def test_orphans(project: Project) -> None:
    current = [running(project, "db", 1), running(project, "web", 1), running(project, "web", 2)]
    gone = Observed("old1", "p-old-1", "old", 1, "running")
    plan = plan_up(project, [*current, gone], [DEFAULT_NET], UpOptions())
    assert plan.orphans == (gone,) and not plan.changes
    assert "Found orphan containers (p-old-1)" in plan.warnings[0]
    assert plan_up(project, [*current, gone], [DEFAULT_NET], UpOptions(remove_orphans=True)).changes


def test_networks_external_foreign_and_mislabelled(load_files: Load) -> None:
    text = (
        "services:\n  a: {image: x, networks: [ext, default]}\nnetworks: {ext: {external: true}}\n"
    )
    project = project_of(load_files, text, project_name="p")
    with pytest.raises(ComposeError, match="network ext declared as external, but could not be"):
        plan_up(project, [], [], UpOptions())
    ext = ObservedNetwork("e", "ext")
    foreign = ObservedNetwork("f", "p_default")
    plan = plan_up(project, [], [ext, foreign], UpOptions())
    assert plan.create_networks == () and "was not created by compose" in plan.warnings[0]
    wrong = ObservedNetwork("w", "p_default", {requests.PROJECT: "p", requests.NETWORK: "other"})
    with pytest.raises(ComposeError, match="incorrect label"):
        plan_up(project, [], [ext, wrong], UpOptions())


def test_unknown_service_named(project: Project) -> None:
    with pytest.raises(ComposeError, match="no such service: nope"):
        plan_up(project, [], [], UpOptions(services=("nope",)))


def test_down_removes_dependants_first_and_only_project_networks(project: Project) -> None:
    current = [
        running(project, "db", 1),
        running(project, "web", 1),
        running(project, "web", 2),
        Observed("r", "p-web-run-1", "web", 1, "exited", oneoff=True),
        Observed("o", "p-old-1", "old", 1, "running"),
    ]
    other = ObservedNetwork("x", "p_default", {requests.PROJECT: "q"})
    plan = plan_down(project, "p", current, [DEFAULT_NET, other], remove_orphans=False)
    assert [c.id for c in plan.containers] == ["web2", "web1", "r", "db1"]
    assert plan.networks == (DEFAULT_NET,)
    with_orphans = plan_down(project, "p", current, [DEFAULT_NET], remove_orphans=True)
    assert "o" in [c.id for c in with_orphans.containers]
    by_label = plan_down(None, "p", current, [DEFAULT_NET], remove_orphans=False)
    assert len(by_label.containers) == 5


def test_observe_containers_reads_compose_labels() -> None:
    summary = {
        "Id": "abc",
        "Names": ["/p-web-2"],
        "State": "exited",
        "Created": 5,
        "Labels": {
            requests.SERVICE: "web",
            requests.NUMBER: "2",
            requests.CONFIG_HASH: "h",
            requests.ONEOFF: "False",
        },
        "NetworkSettings": {"Networks": {"p_default": {}}},
    }
    assert observe_containers([summary]) == [
        Observed("abc", "p-web-2", "web", 2, "exited", "h", False, ("p_default",), 5)
    ]


# --- requests -----------------------------------------------------------------------------


def test_create_body_as_docker_compose_sends_it(load_files: Load) -> None:
    text = (
        "services:\n  web:\n    image: x\n    ports: ['8080:80']\n    expose: [81]\n"
        "    environment: {A: 1}\n    restart: always\n    init: true\n    user: nobody\n"
        "    healthcheck: {test: [CMD, 'true'], interval: 2s, retries: 2}\n"
        "    networks:\n      back: {aliases: [api], ipv4_address: 172.30.0.9, priority: 5}\n"
        "      default: {}\n"
        "networks: {back: {ipam: {config: [{subnet: 172.30.0.0/16}]}}}\n"
    )
    project = project_of(load_files, text, project_name="p")
    web = project.service("web")
    name = requests.container_name("p", web, 1)
    body = requests.create_body(project, web, 1, name)
    assert name == "p-web-1"
    assert body["HostConfig"]["NetworkMode"] == "p_back"
    assert body["NetworkingConfig"] == {
        "EndpointsConfig": {
            "p_back": {
                "Aliases": ["p-web-1", "web", "api"],
                "IPAMConfig": {"IPv4Address": "172.30.0.9"},
            }
        }
    }
    assert body["HostConfig"]["PortBindings"] == {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}
    assert body["ExposedPorts"] == {"81/tcp": {}, "80/tcp": {}}
    assert body["HostConfig"]["RestartPolicy"] == {"Name": "always", "MaximumRetryCount": 0}
    assert body["HostConfig"]["Init"] is True and body["User"] == "nobody"
    assert body["Healthcheck"] == {
        "Test": ["CMD", "true"],
        "Interval": 2 * 10**9,
        "Timeout": 0,
        "StartPeriod": 0,
        "Retries": 2,
    }
    assert body["Env"] == ["A=1"]
    labels = body["Labels"]
    assert labels[requests.PROJECT] == "p" and labels[requests.SERVICE] == "web"
    assert labels[requests.NUMBER] == "1" and labels[requests.ONEOFF] == "False"
    assert labels[requests.CONFIG_HASH] == web.config_hash
    assert labels[requests.WORKING_DIR] == project.working_dir
    assert labels[requests.CONFIG_FILES] == project.config_files[0]
    network, connect = requests.connect_body(project, web, web.networks[1], name, "cid")
    assert (network, connect) == (
        "p_default",
        {"Container": "cid", "EndpointConfig": {"Aliases": ["p-web-1", "web"]}},
    )
    oneoff = requests.create_body(project, web, 1, "p-web-run-1", oneoff=True, command=("sh",))
    assert oneoff["NetworkingConfig"]["EndpointsConfig"]["p_back"]["Aliases"] == ["p-web-run-1"]
    assert oneoff["Cmd"] == ["sh"] and oneoff["Labels"][requests.ONEOFF] == "True"
    shared = requests.create_body(project, web, 1, name, network_mode="container:abc")
    assert shared["HostConfig"]["NetworkMode"] == "container:abc"
    assert "NetworkingConfig" not in shared


def test_network_body(load_files: Load) -> None:
    text = (
        "services: {a: {image: x, networks: [n]}}\n"
        "networks:\n  n: {internal: true, labels: {k: v}, driver_opts: {o: 1},"
        " ipam: {config: [{subnet: 10.9.0.0/24, gateway: 10.9.0.254}]}}\n"
    )
    project = project_of(load_files, text, project_name="p")
    body = requests.network_body(project, project.network("n"))
    assert body["Name"] == "p_n" and body["Internal"] is True and body["Options"] == {"o": "1"}
    assert body["IPAM"] == {
        "Driver": "default",
        "Config": [{"Subnet": "10.9.0.0/24", "Gateway": "10.9.0.254"}],
    }
    assert body["Labels"]["k"] == "v"
    assert body["Labels"][requests.NETWORK] == "n" and body["Labels"][requests.PROJECT] == "p"


def test_a_macvlan_network_goes_to_the_engine_with_its_parent(load_files: Load) -> None:
    text = (
        "services: {a: {image: x, networks: [lan]}}\n"
        "networks:\n  lan: {driver: macvlan, driver_opts: {parent: eth1},"
        " ipam: {config: [{subnet: 192.0.2.0/24}]}}\n"
    )
    project = project_of(load_files, text, project_name="p")
    body = requests.network_body(project, project.network("lan"))
    assert (body["Driver"], body["Options"]) == ("macvlan", {"parent": "eth1"})


def test_ipv6_network_and_a_fixed_ipv6_address(load_files: Load) -> None:
    text = (
        "services:\n  a:\n    image: x\n"
        "    networks: {n: {ipv4_address: 10.9.0.9, ipv6_address: 'fd00:9::9'}}\n"
        "networks:\n  n:\n    enable_ipv6: true\n"
        "    ipam: {config: [{subnet: 10.9.0.0/24}, {subnet: 'fd00:9::/64'}]}\n"
    )
    project = project_of(load_files, text, project_name="p")
    body = requests.network_body(project, project.network("n"))
    assert body["EnableIPv6"] is True
    assert body["IPAM"]["Config"] == [{"Subnet": "10.9.0.0/24"}, {"Subnet": "fd00:9::/64"}]
    a = project.service("a")
    endpoint = requests.create_body(project, a, 1, "p-a-1")["NetworkingConfig"]["EndpointsConfig"]
    assert endpoint["p_n"]["IPAMConfig"] == {"IPv4Address": "10.9.0.9", "IPv6Address": "fd00:9::9"}


def test_link_local_ips_of_a_service_network_go_as_docker_compose_sends_them(
    load_files: Load,
) -> None:
    text = (
        "services:\n  a:\n    image: x\n"
        "    networks: {n: {link_local_ips: [169.254.8.1, 'fe80::8:1']}}\nnetworks: {n: {}}\n"
    )
    project = project_of(load_files, text, project_name="p")
    a = project.service("a")
    endpoint = requests.create_body(project, a, 1, "p-a-1")["NetworkingConfig"]["EndpointsConfig"]
    assert endpoint["p_n"]["IPAMConfig"] == {"LinkLocalIPs": ["169.254.8.1", "fe80::8:1"]}


def test_a_file_without_ipv6_keeps_the_hashes_it_was_labelled_with(load_files: Load) -> None:
    """Containers and networks made before IPv6 was supported are not recreated for it."""
    text = "services: {a: {image: x, networks: [n]}}\nnetworks: {n: {internal: true}}\n"
    project = project_of(load_files, text, project_name="p")
    network, service = project.network("n"), project.service("a")

    def before(data: dict[str, object]) -> str:
        return hashlib.sha256(
            json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
        ).hexdigest()

    old_network = dataclasses.asdict(network)
    del old_network["enable_ipv6"]
    assert network.config_hash == before(old_network)
    old_service = dataclasses.asdict(service)
    # hashed before IPv6: neither replicas and such nor the later keys this file leaves empty
    for key in ("replicas", "build", "depends_on", "profiles", *model._HASHED_WHEN_SET):
        del old_service[key]
    for entry in old_service["networks"]:
        del entry["ipv6_address"], entry["link_local_ips"]
    assert service.config_hash == before(old_service)
    assert dataclasses.replace(network, enable_ipv6=True).config_hash != network.config_hash
