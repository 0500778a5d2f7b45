"""`hatoba compose up` against a fake service: the requests docker compose would send, and what
a failure half-way undoes."""

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
    return [(r.method, r.path) for r in api.requests if r.method != "GET"]


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
