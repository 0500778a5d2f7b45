"""Container create bodies and inspect documents for `-u`, `--group-add`, `--init` and
`--net container:` (Docker's shapes: a container sharing another's namespace shows no sandbox,
port or network of its own), and the user of an exec."""

from __future__ import annotations

from hatoba.api.docker_json import container_json, create_request, exec_spec
from hatoba.api.execs import Execs
from hatoba.api.json_body import Json
from hatoba.engine.state import State
from hatoba.model.container import RUNNING, Container, ContainerConfig, RunState

BODY = {
    "Image": "alpine",
    "Cmd": ["id"],
    "User": "www-data:wheel",
    "MacAddress": "02:42:ac:11:00:09",
    "ExposedPorts": {"80/tcp": {}},
    "HostConfig": {
        "NetworkMode": "container:web",
        "GroupAdd": ["audio", "7"],
        "Init": True,
    },
}


def test_the_create_body_fields():
    request = create_request(Json(BODY, ""), "side")
    config = request.config
    assert (config.user, config.group_add, config.init) == ("www-data:wheel", ("audio", "7"), True)
    assert config.network_mode == "container:web"
    assert config.mac_address == "02:42:ac:11:00:09"
    plain = create_request(Json({"Image": "alpine", "HostConfig": {"Init": False}}, ""), "")
    assert (plain.config.user, plain.config.group_add, plain.config.init) == ("", (), False)
    unset = create_request(Json({"Image": "alpine"}, ""), "")
    assert unset.config.init is None and unset.config.mac_address == ""


def inspect(container: Container) -> dict:
    return container_json(
        container,
        State(),
        log_path="/log",
        files_dir="/files",
        sandbox_dir="/run/netns",
        volume_path=str,
    )


def test_inspect_of_a_container_in_another_ones_namespace():
    web = "a" * 64
    side = Container(
        id="b" * 64,
        name="side",
        created="2026-01-01T00:00:00Z",
        config=ContainerConfig(
            "alpine",
            network_mode=f"container:{web}",
            exposed_ports=("80/tcp",),  # from the image
            user="www-data",
            group_add=("audio",),
            init=True,
        ),
        state=RunState(status=RUNNING, pid=42),
        netns_owner=web,
    )
    doc = inspect(side)
    assert doc["HostConfig"]["NetworkMode"] == f"container:{web}"
    assert (doc["HostConfig"]["GroupAdd"], doc["HostConfig"]["Init"]) == (["audio"], True)
    assert doc["Config"]["User"] == "www-data"
    settings = doc["NetworkSettings"]
    assert (settings["SandboxID"], settings["SandboxKey"]) == ("", "")
    assert (settings["Ports"], settings["Networks"], settings["IPAddress"]) == ({}, {}, "")


def test_inspect_defaults():
    doc = inspect(Container("c" * 64, "plain", "2026-01-01T00:00:00Z", ContainerConfig("alpine")))
    assert (doc["HostConfig"]["GroupAdd"], doc["HostConfig"]["Init"]) == (None, None)
    assert doc["Config"]["User"] == ""


def test_an_exec_shows_its_user_when_it_has_one(tmp_path):
    execs = Execs(None, str(tmp_path))  # type: ignore[arg-type]  # not run: no runtime needed
    with_user = execs.create("c" * 64, exec_spec(Json({"Cmd": ["id"], "User": "app:staff"}, "")))
    assert with_user.user == "app:staff"
    assert with_user.json()["ProcessConfig"]["user"] == "app:staff"
    without = execs.create("c" * 64, exec_spec(Json({"Cmd": ["id"]}, "")))
    assert "user" not in without.json()["ProcessConfig"]
