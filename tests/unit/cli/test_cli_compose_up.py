"""`hatoba compose up` (and `down`) against a fake service: the requests docker compose would
send, hatoba's batch requests when the engine has them, and what a failure half-way undoes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from fakeapi import FakeApi, Reply, Request, error, json_reply

from hatoba.compose.project import Options, load

TEXT = (
    "services:\n"
    "  db: {image: 'alpine:latest', command: sleep infinity}\n"
    "  web:\n"
    "    image: alpine:latest\n"
    "    command: sleep infinity\n"
    "    ports: ['8080:80']\n"
    "    depends_on: [db]\n"
)


@pytest.fixture
def project_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HATOBA_COMPOSE_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "p"
    folder.mkdir()
    (folder / "compose.yaml").write_text(TEXT)
    return folder / "compose.yaml"


def engine(api: FakeApi, containers: list[dict[str, object]] | None = None) -> None:
    """An engine with the image, no network, `containers` of the project; creates answer
    with `id-<name>`."""
    api.route("GET", "/containers/json", json_reply(containers or []))
    api.route("GET", "/networks", json_reply([]))
    api.route("GET", "/images/alpine:latest/json", json_reply({"Id": "sha256:a"}))
    api.route("POST", "/networks/create", json_reply({"Id": "net-1", "Warning": ""}, 201))
    api.route("DELETE", "/networks/net-1", Reply(204))

    def create(request: Request) -> Reply:
        return json_reply({"Id": f"id-{request.arg('name')}", "Warnings": []}, 201)

    api.route("POST", "/containers/create", create)
    for name in ("p-db-1", "p-web-1"):
        api.route("POST", f"/containers/id-{name}/start", Reply(204))
        api.route("DELETE", f"/containers/id-{name}", Reply(204))


def changes(api: FakeApi) -> list[tuple[str, str]]:
    """What changed the engine. This one is not hatoba: hatoba's batch routes are asked
    once, refused (404), and every container gets requests of its own."""
    return [
        (r.method, r.path)
        for r in api.requests
        if r.method != "GET" and not r.path.startswith("/hatoba/")
    ]


def hatoba_engine(api: FakeApi, *, failing: str = "") -> None:
    """`engine`, with hatoba's batch routes; the start of `failing` fails as hatoba says."""
    engine(api)

    def create(request: Request) -> Reply:
        items = request.json()["Containers"]
        return json_reply([{"Id": f"id-{item['Name']}", "Warnings": []} for item in items])

    def start(request: Request) -> Reply:
        error = {"Message": "port is already allocated", "Status": 500}
        return json_reply(
            [
                {"Id": cid, "Error": error} if cid == f"id-{failing}" else {"Id": cid}
                for cid in request.json()["Ids"]
            ]
        )

    api.route("POST", "/hatoba/containers/create", create)
    api.route("POST", "/hatoba/containers/start", start)


def test_up_creates_the_network_then_services_in_order(
    api: FakeApi, hatoba: Callable[..., int], project_file: Path
) -> None:
    engine(api)
    assert hatoba("compose", "-f", str(project_file), "-p", "p", "up", "-d") == 0
    assert changes(api) == [
        ("POST", "/networks/create"),
        ("POST", "/containers/create"),
        ("POST", "/containers/id-p-db-1/start"),
        ("POST", "/containers/create"),
        ("POST", "/containers/id-p-web-1/start"),
    ]
    created = [r for r in api.requests if r.path == "/containers/create"]
    web = created[1].json()
    assert created[1].arg("name") == "p-web-1"
    assert web["HostConfig"]["NetworkMode"] == "p_default"
    assert web["NetworkingConfig"]["EndpointsConfig"]["p_default"]["Aliases"] == [
        "p-web-1",
        "web",
    ]
    assert json.loads(api.find("GET", "/containers/json").arg("filters") or "") == {
        "label": ["com.docker.compose.project=p"]
    }


def test_a_failed_start_undoes_the_whole_up(
    api: FakeApi,
    hatoba: Callable[..., int],
    project_file: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    engine(api)
    message = "Bind for 0.0.0.0:8080 failed: port is already allocated"
    api.route("POST", "/containers/id-p-web-1/start", error(500, message))
    assert hatoba("compose", "-f", str(project_file), "-p", "p", "up", "-d") == 1
    assert f"service 'web' failed: {message}" in capfd.readouterr().err
    assert changes(api)[-3:] == [
        ("DELETE", "/containers/id-p-web-1"),
        ("DELETE", "/containers/id-p-db-1"),
        ("DELETE", "/networks/net-1"),
    ]


def test_a_failed_replacement_starts_the_old_container_again(
    api: FakeApi,
    hatoba: Callable[..., int],
    project_file: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    project = load(Options(files=(str(project_file),), project_name="p"), {}, "/")
    db_hash = project.project.service("db").config_hash
    network = {"p_default": {}}
    current = [
        {
            "Id": "olddb",
            "Names": ["/p-db-1"],
            "State": "running",
            "Labels": {
                "com.docker.compose.project": "p",
                "com.docker.compose.service": "db",
                "com.docker.compose.container-number": "1",
                "com.docker.compose.config-hash": db_hash,
            },
            "NetworkSettings": {"Networks": network},
        },
        {
            "Id": "oldweb",
            "Names": ["/p-web-1"],
            "State": "running",
            "Labels": {
                "com.docker.compose.project": "p",
                "com.docker.compose.service": "web",
                "com.docker.compose.container-number": "1",
                "com.docker.compose.config-hash": "changed",
            },
            "NetworkSettings": {"Networks": network},
        },
    ]
    engine(api, current)
    api.route(
        "GET",
        "/networks",
        json_reply(
            [
                {
                    "Id": "net-1",
                    "Name": "p_default",
                    "Labels": {
                        "com.docker.compose.project": "p",
                        "com.docker.compose.network": "default",
                    },
                }
            ]
        ),
    )
    api.route("POST", "/containers/oldweb/stop", Reply(204))
    api.route("POST", "/containers/oldweb/start", Reply(204))
    api.route("POST", "/containers/id-oldweb_p-web-1/start", error(500, "no luck"))
    api.route("DELETE", "/containers/id-oldweb_p-web-1", Reply(204))
    assert hatoba("compose", "-f", str(project_file), "-p", "p", "up", "-d") == 1
    assert "service 'web' failed: no luck" in capfd.readouterr().err
    assert changes(api) == [
        ("POST", "/containers/create"),
        ("POST", "/containers/oldweb/stop"),
        ("POST", "/containers/id-oldweb_p-web-1/start"),
        ("POST", "/containers/oldweb/start"),
        ("DELETE", "/containers/id-oldweb_p-web-1"),
    ]
    assert api.find("POST", "/containers/create").arg("name") == "oldweb_p-web-1"


def test_hatoba_gets_a_service_s_containers_in_one_create_and_one_start(
    api: FakeApi, hatoba: Callable[..., int], project_file: Path
) -> None:
    hatoba_engine(api)
    assert (
        hatoba("compose", "-f", str(project_file), "-p", "p", "up", "-d", "--scale", "web=3") == 0
    )
    assert [(r.method, r.path) for r in api.requests if r.method != "GET"] == [
        ("POST", "/networks/create"),
        ("POST", "/hatoba/containers/create"),
        ("POST", "/hatoba/containers/start"),
        ("POST", "/hatoba/containers/create"),
        ("POST", "/hatoba/containers/start"),
    ]
    creates = [r.json() for r in api.requests if r.path == "/hatoba/containers/create"]
    assert [item["Name"] for item in creates[1]["Containers"]] == ["p-web-1", "p-web-2", "p-web-3"]
    web = creates[1]["Containers"][0]["Config"]
    assert web["NetworkingConfig"]["EndpointsConfig"]["p_default"]["Aliases"] == ["p-web-1", "web"]
    starts = [r.json() for r in api.requests if r.path == "/hatoba/containers/start"]
    assert starts[1] == {"Ids": ["id-p-web-1", "id-p-web-2", "id-p-web-3"]}


def test_one_container_of_a_batch_failing_undoes_the_whole_up(
    api: FakeApi,
    hatoba: Callable[..., int],
    project_file: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    hatoba_engine(api, failing="p-web-2")
    for name in ("p-web-2", "p-web-3"):
        api.route("DELETE", f"/containers/id-{name}", Reply(204))
    assert (
        hatoba("compose", "-f", str(project_file), "-p", "p", "up", "-d", "--scale", "web=3") == 1
    )
    assert "service 'web' failed: port is already allocated" in capfd.readouterr().err
    removed = {r.path for r in api.requests if r.method == "DELETE"}
    assert removed == {
        "/containers/id-p-db-1",
        "/containers/id-p-web-1",
        "/containers/id-p-web-2",
        "/containers/id-p-web-3",
        "/networks/net-1",
    }


def running(*names: str) -> list[dict[str, object]]:
    labels = {"com.docker.compose.project": "p", "com.docker.compose.oneoff": "False"}
    return [
        {
            "Id": f"id-{name}",
            "Names": [f"/{name}"],
            "State": "running",
            "Labels": {
                **labels,
                "com.docker.compose.service": name.split("-")[1],
                "com.docker.compose.container-number": name.split("-")[2],
            },
        }
        for name in names
    ]


@pytest.mark.parametrize("batches", [True, False])
def test_down_stops_and_removes_a_service_s_containers(
    api: FakeApi, hatoba: Callable[..., int], project_file: Path, batches: bool
) -> None:
    engine(api, running("p-web-1", "p-web-2", "p-db-1"))
    if batches:
        api.route("POST", "/hatoba/containers/stop", lambda r: json_reply([
            {"Id": cid} for cid in r.json()["Ids"]]))  # fmt: skip
        api.route("POST", "/hatoba/containers/remove", lambda r: json_reply([
            {"Id": cid} for cid in r.json()["Ids"]]))  # fmt: skip
    for name in ("p-web-1", "p-web-2", "p-db-1"):
        api.route("POST", f"/containers/id-{name}/stop", Reply(204))
        api.route("DELETE", f"/containers/id-{name}", Reply(204))
    assert hatoba("compose", "-f", str(project_file), "-p", "p", "down", "-t", "3") == 0
    asked = [(r.method, r.path) for r in api.requests if r.method != "GET"]
    if batches:  # web first (it depends on db): one stop and one removal per service
        assert asked == [
            ("POST", "/hatoba/containers/stop"),
            ("POST", "/hatoba/containers/remove"),
            ("POST", "/hatoba/containers/stop"),
            ("POST", "/hatoba/containers/remove"),
        ]
        stops = [r.json() for r in api.requests if r.path == "/hatoba/containers/stop"]
        assert sorted(stops[0]["Ids"]) == ["id-p-web-1", "id-p-web-2"]
        assert stops[0]["Timeout"] == 3
    else:
        assert sorted(asked[1:]) == sorted(
            [("POST", f"/containers/id-{n}/stop") for n in ("p-web-1", "p-web-2", "p-db-1")]
            + [("DELETE", f"/containers/id-{n}") for n in ("p-web-1", "p-web-2", "p-db-1")]
        )
        assert asked[0] == ("POST", "/hatoba/containers/stop")  # asked once, refused
