"""`hatoba compose` with volumes against a fake service: the project's volumes made by `up`
and undone with it, a replacement that keeps its anonymous volumes, volumes_from, and what
`down -v` and `rm -v` remove."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fakeapi import FakeApi, Reply, Request, error, json_reply

from hatoba.compose.project import Options, load

TEXT = (
    "services:\n"
    "  db:\n"
    "    image: alpine:latest\n"
    "    volumes: ['data:/data', /scratch]\n"
    "  web:\n"
    "    image: alpine:latest\n"
    "    volumes: ['./site:/www:ro']\n"
    "    volumes_from: ['db:ro']\n"
    "volumes: {data: {}}\n"
)
ANON = "a" * 64
IMAGE_VOLUME = "b" * 64


@pytest.fixture
def project_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HATOBA_COMPOSE_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "p"
    folder.mkdir()
    (folder / "compose.yaml").write_text(TEXT)
    return folder / "compose.yaml"


def engine(
    api: FakeApi,
    containers: list[dict[str, object]] | None = None,
    volumes: list[dict[str, object]] | None = None,
) -> None:
    """An engine with the image (a VOLUME /image), `containers` of the project and
    `volumes`; creates answer with `id-<name>`, everything can be removed."""
    api.route("GET", "/containers/json", json_reply(containers or []))
    api.route("GET", "/networks", json_reply([]))
    api.route("GET", "/volumes", json_reply({"Volumes": volumes or [], "Warnings": None}))
    image = {"Id": "sha256:a", "Config": {"Volumes": {"/image": {}}}}
    api.route("GET", "/images/alpine:latest/json", json_reply(image))
    api.route("POST", "/networks/create", json_reply({"Id": "net-1", "Warning": ""}, 201))
    api.route("DELETE", "/networks/net-1", Reply(204))
    api.route("POST", "/volumes/create", json_reply({"Name": "p_data"}, 201))
    for name in ("p_data", ANON, IMAGE_VOLUME):
        api.route("DELETE", f"/volumes/{name}", Reply(204))

    def create(request: Request) -> Reply:
        return json_reply({"Id": f"id-{request.arg('name')}", "Warnings": []}, 201)

    api.route("POST", "/containers/create", create)
    for name in ("p-db-1", "p-web-1", "old_p-db-1"):
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


def up(hatoba: Callable[..., int], project_file: Path, *more: str) -> int:
    return int(hatoba("compose", "-f", str(project_file), "-p", "p", *more))


def test_up_makes_the_volume_and_a_failure_takes_it_back(
    api: FakeApi,
    hatoba: Callable[..., int],
    project_file: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    engine(api)
    api.route("POST", "/containers/id-p-web-1/start", error(500, "no luck"))
    assert up(hatoba, project_file, "up", "-d") == 1
    assert "service 'web' failed: no luck" in capfd.readouterr().err
    assert changes(api) == [
        ("POST", "/networks/create"),
        ("POST", "/volumes/create"),
        ("POST", "/containers/create"),
        ("POST", "/containers/id-p-db-1/start"),
        ("POST", "/containers/create"),
        ("POST", "/containers/id-p-web-1/start"),
        ("DELETE", "/containers/id-p-web-1"),
        ("DELETE", "/containers/id-p-db-1"),
        ("DELETE", "/volumes/p_data"),
        ("DELETE", "/networks/net-1"),
    ]
    # the containers go with the anonymous volumes they made
    removed = [r for r in api.requests if r.method == "DELETE" and "containers" in r.path]
    assert {(r.arg("force"), r.arg("v")) for r in removed} == {("1", "1")}
    assert api.find("POST", "/volumes/create").json()["Labels"] == {
        "com.docker.compose.volume": "data",
        "com.docker.compose.project": "p",
        "com.docker.compose.version": "2.29.0",
    }
    db, web = (r.json()["HostConfig"] for r in api.requests if r.path == "/containers/create")
    assert db["Mounts"] == [
        {"Type": "volume", "Target": "/data", "Source": "p_data"},
        {"Type": "volume", "Target": "/scratch"},
    ]
    assert web["Binds"] == [f"{project_file.parent}/site:/www:ro"]
    assert web["VolumesFrom"] == ["id-p-db-1:ro"]


def test_a_file_without_volumes_lists_no_volumes(
    api: FakeApi, hatoba: Callable[..., int], project_file: Path
) -> None:
    project_file.write_text("services: {db: {image: 'alpine:latest'}}\n")
    engine(api)
    assert up(hatoba, project_file, "up", "-d") == 0
    assert up(hatoba, project_file, "down") == 0
    assert not [c for c in api.calls() if "volumes" in c[1]]


def _db(config_hash: str, *mounts: tuple[str, str]) -> dict[str, object]:
    return {
        "Id": "old",
        "Names": ["/p-db-1"],
        "State": "running",
        "Labels": {
            "com.docker.compose.project": "p",
            "com.docker.compose.service": "db",
            "com.docker.compose.container-number": "1",
            "com.docker.compose.config-hash": config_hash,
        },
        "NetworkSettings": {"Networks": {"p_default": {}}},
        "Mounts": [{"Type": "volume", "Name": n, "Destination": d, "RW": True} for n, d in mounts],
    }


def test_a_replacement_keeps_the_anonymous_volumes(
    api: FakeApi, hatoba: Callable[..., int], project_file: Path
) -> None:
    project_file.write_text(
        "services: {db: {image: 'alpine:latest', volumes: ['data:/data', /scratch]}}\n"
        "volumes: {data: {}}\n"
    )
    volumes = [{"Name": "p_data", "Labels": {"com.docker.compose.project": "p"}}]
    mounts = [("p_data", "/data"), (ANON, "/scratch"), (IMAGE_VOLUME, "/image")]
    engine(api, [_db("changed", *mounts)], volumes)
    api.route("POST", "/containers/old/stop", Reply(204))
    api.route("DELETE", "/containers/old", Reply(204))
    api.route("POST", "/containers/id-old_p-db-1/rename", Reply(204))
    assert up(hatoba, project_file, "up", "-d") == 0
    assert api.find("POST", "/containers/create").json()["HostConfig"]["Mounts"] == [
        {"Type": "volume", "Source": ANON, "Target": "/scratch", "ReadOnly": False},
        {"Type": "volume", "Source": IMAGE_VOLUME, "Target": "/image", "ReadOnly": False},
        {"Type": "volume", "Target": "/data", "Source": "p_data"},
    ]
    # the old container goes without them (as docker compose removes it)
    assert api.find("DELETE", "/containers/old").arg("v") is None


def test_down_v_removes_anonymous_and_project_volumes(
    api: FakeApi, hatoba: Callable[..., int], project_file: Path
) -> None:
    loaded = load(Options(files=(str(project_file),), project_name="p"), {}, "/").project
    volumes = [
        {"Name": "p_data", "Labels": {"com.docker.compose.project": "p"}},
        {"Name": "elsewhere", "Labels": {}},
    ]
    mounts = [("p_data", "/data"), (ANON, "/scratch")]
    engine(api, [_db(loaded.service("db").config_hash, *mounts)], volumes)
    api.route("POST", "/containers/old/stop", Reply(204))
    api.route("DELETE", "/containers/old", Reply(204))
    assert up(hatoba, project_file, "down") == 0
    assert not [c for c in api.calls() if "volumes" in c[1]]
    api.requests.clear()
    assert up(hatoba, project_file, "down", "-v") == 0
    assert changes(api)[-2:] == [("DELETE", f"/volumes/{ANON}"), ("DELETE", "/volumes/p_data")]


def test_a_volume_in_use_is_kept_with_a_warning(
    api: FakeApi,
    hatoba: Callable[..., int],
    project_file: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    volumes = [{"Name": "p_data", "Labels": {"com.docker.compose.project": "p"}}]
    engine(api, [], volumes)
    api.route("DELETE", "/volumes/p_data", error(409, "remove p_data: volume is in use"))
    assert up(hatoba, project_file, "--progress", "plain", "down", "-v") == 0
    assert " Volume p_data  Resource is still in use" in capfd.readouterr().err


def test_rm_v_removes_the_anonymous_volumes_of_what_it_removed(
    api: FakeApi, hatoba: Callable[..., int], project_file: Path
) -> None:
    stopped = _db("h", ("p_data", "/data"), (ANON, "/scratch"))
    stopped["State"] = "exited"
    engine(api, [stopped])
    api.route("DELETE", "/containers/old", Reply(204))
    assert up(hatoba, project_file, "rm", "-f", "-v") == 0
    assert changes(api) == [("DELETE", "/containers/old"), ("DELETE", f"/volumes/{ANON}")]


def test_config_lists_the_volumes_and_prints_them_in_the_long_syntax(
    hatoba: Callable[..., int], project_file: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    assert up(hatoba, project_file, "config", "--volumes") == 0
    assert capfd.readouterr().out == "data\n"
    assert up(hatoba, project_file, "config") == 0
    out = capfd.readouterr().out
    assert "    - type: volume\n      source: data\n      target: /data\n      volume: {}\n" in out
    assert "volumes:\n  data:\n    name: p_data\n" in out
