"""Security settings and limits over the API (engine on fake adapters): the create body read
into the container's settings and shown back by inspect as Docker shows it; pause, unpause and
update with their answers, events and list statuses; the update body's table against the
Engine API v1.41 reference; malformed values refused with a 400."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fixtures.api_world import ApiWorld
from fixtures.engine_api import DOCKER_CLI_28_CREATE, properties, spec
from hatoba.api.create_fields import UPDATE_CONFIG, Use, check_update
from hatoba.api.events import Event
from hatoba.errors import HatobaError, InvalidArgument
from hatoba.model.resources import CgroupSupport
from hatoba.model.security import DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS

MB = 1 << 20


@pytest.fixture
def world(tmp_path: Path) -> Iterator[ApiWorld]:
    w = ApiWorld(tmp_path)
    yield w
    w.close()


def call(world: ApiWorld, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """(status, JSON) as the server answers: an error is its status and message."""
    try:
        answer = asyncio.run(world.call(method, path, body))
    except HatobaError as exc:
        return exc.status, {"message": exc.message}
    return answer.status, json.loads(answer.body) if answer.body else None


def create(world: ApiWorld, **host: Any) -> str:
    status, answer = call(
        world,
        "POST",
        "/containers/create",
        {"Image": "hostfs", "Cmd": ["sleep", "1d"], "HostConfig": host},
    )
    assert status == 201, answer
    return str(answer["Id"])


def inspect(world: ApiWorld, ref: str) -> dict[str, Any]:
    return call(world, "GET", f"/containers/{ref}/json")[1]  # type: ignore[no-any-return]


def test_what_a_create_asks_is_kept_and_shown_as_docker_shows_it(world: ApiWorld) -> None:
    cid = create(
        world,
        CapAdd=["NET_ADMIN"],
        CapDrop=["MKNOD"],
        SecurityOpt=["no-new-privileges"],
        ReadonlyRootfs=True,
        Sysctls={"net.ipv4.ip_forward": "1"},
        Devices=[{"PathOnHost": "/dev/null", "PathInContainer": "", "CgroupPermissions": ""}],
        Memory=10 * MB,
        NanoCpus=500_000_000,
        CpuShares=1,
        PidsLimit=-1,
        Ulimits=[{"Name": "nofile", "Soft": 10, "Hard": 20}],
    )
    host = inspect(world, cid)["HostConfig"]
    assert host["CapAdd"] == ["NET_ADMIN"] and host["CapDrop"] == ["MKNOD"]
    assert host["SecurityOpt"] == ["no-new-privileges"] and host["ReadonlyRootfs"] is True
    assert host["Sysctls"] == {"net.ipv4.ip_forward": "1"}
    assert host["Devices"] == [
        {"PathOnHost": "/dev/null", "PathInContainer": "/dev/null", "CgroupPermissions": "rwm"}
    ]
    # Docker's defaults: swap as much again, shares at least 2, /dev/shm 64 MiB
    assert (host["Memory"], host["MemorySwap"], host["NanoCpus"], host["CpuShares"]) == (
        10 * MB,
        20 * MB,
        500_000_000,
        2,
    )
    assert host["PidsLimit"] is None and host["ShmSize"] == 64 * MB
    assert host["Ulimits"] == [{"Name": "nofile", "Hard": 20, "Soft": 10}]
    assert host["MaskedPaths"] == list(DEFAULT_MASKED_PATHS)
    assert host["ReadonlyPaths"] == list(DEFAULT_READONLY_PATHS)
    assert (
        host["Privileged"] is False and "Sysctls" not in inspect(world, create(world))["HostConfig"]
    )
    privileged = inspect(world, create(world, Privileged=True))["HostConfig"]
    assert privileged["Privileged"] is True and privileged["MaskedPaths"] is None


def test_what_the_docker_cli_sends_creates_a_container_with_dockers_defaults(
    world: ApiWorld,
) -> None:
    body = json.loads(json.dumps(DOCKER_CLI_28_CREATE))
    body["Image"] = "hostfs"
    status, answer = call(world, "POST", "/containers/create", body)
    assert status == 201, answer
    host = inspect(world, answer["Id"])["HostConfig"]
    assert (host["Memory"], host["MemorySwap"], host["PidsLimit"], host["CapAdd"]) == (
        0,
        0,
        None,
        None,
    )


@pytest.mark.parametrize(
    ("host", "message"),
    [
        ({"CapAdd": 7}, "invalid JSON: cannot unmarshal number into field HostConfig.CapAdd of type []string"),  # noqa: E501
        ({"Sysctls": ["a=b"]}, "invalid JSON: cannot unmarshal array into field HostConfig.Sysctls of type map[string]string"),  # noqa: E501
        ({"Ulimits": [{"Name": "nofile", "Soft": "x"}]}, "invalid JSON: cannot unmarshal string into field HostConfig.Ulimits.0.Soft of type int"),  # noqa: E501
        ({"Devices": ["/dev/null"]}, "invalid JSON: cannot unmarshal string into field HostConfig.Devices.0 of type object"),  # noqa: E501
        ({"Devices": [{"PathOnHost": ""}]}, "HostConfig.Devices.0.PathOnHost is empty: no device to add"),  # noqa: E501
        ({"Memory": "10m"}, "invalid JSON: cannot unmarshal string into field HostConfig.Memory of type int"),  # noqa: E501
        ({"MaskedPaths": "x"}, "invalid JSON: cannot unmarshal string into field HostConfig.MaskedPaths of type []string"),  # noqa: E501
        ({"CapAdd": "NOPE"}, 'invalid CapAdd: unknown capability: "CAP_NOPE"'),
    ],
)  # fmt: skip
def test_malformed_values_are_refused(world: ApiWorld, host: dict[str, Any], message: str) -> None:
    status, answer = call(
        world, "POST", "/containers/create", {"Image": "hostfs", "Cmd": ["x"], "HostConfig": host}
    )
    assert (status, answer["message"]) == (400, message)
    assert world.engine.state.containers == {}


def recorded(world: ApiWorld, monkeypatch: pytest.MonkeyPatch) -> list[Event]:
    seen: list[Event] = []
    monkeypatch.setattr(world.events, "publish", seen.extend)
    return seen


def test_pause_unpause_over_the_api(world: ApiWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    events = recorded(world, monkeypatch)
    cid = create(world)
    world.engine.start(cid)
    assert call(world, "POST", f"/containers/{cid}/pause")[0] == 204
    state = inspect(world, cid)["State"]
    assert (state["Status"], state["Running"], state["Paused"]) == ("paused", True, True)
    listed = call(world, "GET", "/containers/json")[1]
    assert listed[0]["State"] == "paused" and listed[0]["Status"].endswith(" (Paused)")
    filtered = call(world, "GET", '/containers/json?filters={"status":["running"]}')[1]
    assert filtered == []
    status, answer = call(world, "POST", f"/containers/{cid}/pause")
    assert (status, answer["message"]) == (409, f"Container {cid} is already paused")
    status, answer = call(world, "POST", f"/containers/{cid}/exec", {"Cmd": ["true"]})
    assert (status, answer["message"]) == (
        409,
        f"Container {cid} is paused, unpause the container before exec",
    )
    status, answer = call(world, "POST", f"/containers/{cid}/attach?stream=1&stdout=1")
    assert (status, answer["message"]) == (
        409,
        f"container {cid} is paused, unpause the container before attach",
    )
    status, answer = call(world, "POST", f"/containers/{cid}/start")
    assert (status, answer["message"]) == (
        409,
        "cannot start a paused container, try unpause instead",
    )
    info = call(world, "GET", "/info")[1]
    assert (info["ContainersRunning"], info["ContainersPaused"]) == (0, 1)
    assert call(world, "POST", f"/containers/{cid}/unpause")[0] == 204
    assert inspect(world, cid)["State"]["Status"] == "running"
    assert [e.action for e in events] == ["pause", "unpause"]


def test_update_over_the_api(world: ApiWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    events = recorded(world, monkeypatch)
    cid = create(world, Memory=10 * MB)
    world.engine.start(cid)
    body = {
        "Memory": 15 * MB,
        "MemorySwap": 0,
        "PidsLimit": 9,
        "RestartPolicy": {"Name": "always", "MaximumRetryCount": 0},
        # what `docker update` sends for flags not given
        "BlkioWeight": 0,
        "CpusetCpus": "",
        "Ulimits": None,
        "Devices": None,
    }
    assert call(world, "POST", f"/containers/{cid}/update", body) == (200, {"Warnings": None})
    host = inspect(world, cid)["HostConfig"]
    assert (host["Memory"], host["PidsLimit"], host["RestartPolicy"]["Name"]) == (
        15 * MB,
        9,
        "always",
    )
    assert [e.action for e in events] == ["update"]
    status, answer = call(world, "POST", f"/containers/{cid}/update", {"CpusetCpus": "0"})
    assert (status, answer["message"]) == (
        400,
        "hatoba does not support CpusetCpus yet",
    )
    status, answer = call(world, "POST", f"/containers/{cid}/update", {"Memory": 200 * MB})
    assert status == 409 and "update the memoryswap at the same time" in answer["message"]


def test_info_says_what_the_host_limits(world: ApiWorld) -> None:
    info = call(world, "GET", "/info")[1]
    assert (info["CgroupDriver"], info["CgroupVersion"]) == ("cgroupfs", "1")
    assert info["MemoryLimit"] and info["SwapLimit"] and info["PidsLimit"] and info["CPUShares"]
    world.runtime.support = CgroupSupport(cpus=1)
    info = call(world, "GET", "/info")[1]
    assert (info["CgroupDriver"], info["CgroupVersion"], info["MemoryLimit"]) == ("none", "", False)


def test_every_field_of_an_update_is_classified() -> None:
    parameters = spec()["paths"]["/containers/{id}/update"]["post"]["parameters"]
    schema = next(p for p in parameters if p["in"] == "body")["schema"]
    fields = {**properties("Resources"), **schema["allOf"][1]["properties"]}
    assert sorted(UPDATE_CONFIG) == sorted(fields)
    assert all(row.use is not Use.IGNORED or row.why for row in UPDATE_CONFIG.values())
    check_update({"Memory": 1, "MemorySwap": -1, "PidsLimit": -1, "Ulimits": [{"Name": "x"}]})
    with pytest.raises(InvalidArgument, match="KernelMemory, CpuRealtimePeriod"):
        check_update({"KernelMemory": 1, "CpuRealtimePeriod": 1})
