"""The table of container create fields (hatoba/api/create_fields.py): every field of the Engine
API v1.41 reference is classified, what real clients send when the user asked for nothing
passes, and a value that asks for something hatoba does not do is refused by name."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from fixtures.engine_api import (
    DOCKER_CLI_28_CREATE,
    DOCKER_COMPOSE_129_CREATE,
    exec_fields,
    properties,
)
from hatoba.api import create_fields
from hatoba.api.create_fields import (
    CONTAINER_CONFIG,
    ENDPOINT_SETTINGS,
    EXEC_CONFIG,
    HOST_CONFIG,
    NETWORKING_CONFIG,
    Use,
    check_create,
    check_endpoint,
    check_exec,
    refused_fields,
)
from hatoba.cli.parsing import Parser
from hatoba.cli.runconfig import add_flags, create_body
from hatoba.errors import InvalidArgument


@pytest.mark.parametrize(
    ("definition", "table"),
    [
        ("ContainerConfig", CONTAINER_CONFIG),
        ("HostConfig", HOST_CONFIG),
        ("NetworkingConfig", NETWORKING_CONFIG),
        ("EndpointSettings", ENDPOINT_SETTINGS),
        ("EndpointIPAMConfig", ENDPOINT_SETTINGS["IPAMConfig"].members),
    ],
)
def test_every_field_of_the_reference_is_classified(
    definition: str, table: dict[str, create_fields.Field]
) -> None:
    assert sorted(table) == sorted(properties(definition))
    for name, row in table.items():
        assert row.use is not Use.IGNORED or row.why, f"{definition}.{name}: say why"


def test_every_field_of_an_exec_is_classified() -> None:
    assert sorted(EXEC_CONFIG) == sorted(exec_fields())
    docker_compose_exec = {
        "User": "", "Privileged": False, "Tty": False, "AttachStdin": True,
        "AttachStderr": True, "AttachStdout": True, "Detach": False, "DetachKeys": "",
        "Env": None, "WorkingDir": "", "Cmd": ["ping", "-c1", "db"],
    }  # fmt: skip
    check_exec(docker_compose_exec)
    # every field of an exec is carried out now
    check_exec({**docker_compose_exec, "DetachKeys": "ctrl-x,x", "Privileged": True})
    check_exec({**docker_compose_exec, "User": "nobody"})


def asking_value(schema: dict[str, Any]) -> Any:
    """A value of the field's type that asks for something (no zero value, no default)."""
    kind = schema.get("type")
    if "$ref" in schema or kind == "object":
        return {"Asked": "yes"}
    if kind == "array":
        return ["asked"]
    if kind == "boolean":
        return True
    if kind == "integer":
        return 7
    return "asked"


def refused_rows() -> list[tuple[str, str]]:
    return [
        *(("", name) for name, row in CONTAINER_CONFIG.items() if row.use is Use.REFUSED),
        *(("HostConfig", name) for name, row in HOST_CONFIG.items() if row.use is Use.REFUSED),
    ]


@pytest.mark.parametrize(("section", "name"), refused_rows())
def test_a_refused_field_is_named_and_its_defaults_pass(section: str, name: str) -> None:
    definition = "HostConfig" if section else "ContainerConfig"
    row = (HOST_CONFIG if section else CONTAINER_CONFIG)[name]
    value = asking_value(properties(definition)[name])
    body: dict[str, Any] = {"Image": "alpine"}
    (body.setdefault("HostConfig", {}) if section else body)[name] = value
    path = f"{section or 'Config'}.{name}"
    with pytest.raises(InvalidArgument) as refused:
        check_create(body)
    assert refused.value.message == f"hatoba does not support {path} yet"
    for default in (None, *row.defaults):
        (body["HostConfig"] if section else body)[name] = default
        assert refused_fields(body) == []


def test_defaults_that_are_not_zero_values() -> None:
    host = {
        "LogConfig": {"Type": "json-file", "Config": {}},
        "MemorySwappiness": -1,
        "MemorySwap": -1,
        "PidsLimit": -1,
        "ShmSize": 64 << 20,
        "IpcMode": "private",
        "CgroupnsMode": "host",
        "Isolation": "default",
        "ConsoleSize": [50, 120],  # Windows only in v1.41: ignored, as Docker does
    }
    assert refused_fields({"Image": "a", "HostConfig": host}) == []
    asked = {
        "LogConfig": {"Type": "json-file", "Config": {"max-size": "10m"}},
        "IpcMode": "host",
        "CgroupnsMode": "private",
        "MemorySwappiness": 10,
    }
    assert refused_fields({"Image": "a", "HostConfig": asked}) == [
        f"HostConfig.{name}"
        for name in ("MemorySwappiness", "LogConfig", "CgroupnsMode", "IpcMode")
    ]
    # a struct whose members are all zero is its zero value
    zero_log = {"Image": "a", "HostConfig": {"LogConfig": {"Type": "", "Config": {}}}}
    assert refused_fields(zero_log) == []


def test_legacy_links_are_applied_in_every_mode() -> None:
    """The engine applies them on the default bridge and refuses them, with Docker's texts,
    where Docker does (tests/unit/core/test_core_links.py)."""

    def body(mode: str) -> dict[str, Any]:
        return {"Image": "a", "HostConfig": {"NetworkMode": mode, "Links": ["db:database"]}}

    for mode in ("default", "bridge", "host", "none", "container:x", "proj_default"):
        assert refused_fields(body(mode)) == []


def test_endpoint_settings_in_create_and_connect() -> None:
    endpoints = {
        "front": {
            "Aliases": ["web"],
            "Links": ["db:database"],
            "IPAMConfig": {"IPv4Address": "10.1.0.5", "IPv6Address": "fd00::5"},
            "DriverOpts": {"com.example.opt": "1"},
            # operational data a client copied from an inspect: Docker ignores it
            "IPAddress": "10.1.0.9",
            "MacAddress": "02:42:0a:01:00:09",
        }
    }
    body = {"Image": "a", "NetworkingConfig": {"EndpointsConfig": endpoints}}
    # `--ip6`, DriverOpts and link-local addresses are applied now
    assert refused_fields(body) == []
    check_endpoint({"Aliases": ["a"], "IPAMConfig": {"LinkLocalIPs": ["169.254.1.1", "fe80::1"]}})
    check_endpoint({"Aliases": ["a"], "IPAMConfig": {}, "Links": None})
    check_endpoint(None)


def test_every_refused_field_of_a_request_is_named_at_once() -> None:
    body = {
        "Image": "a",
        "NetworkDisabled": True,  # applied now
        "Volumes": {"/data": {}},
        "HostConfig": {"CpusetCpus": "0", "VolumeDriver": "convoy", "CapAdd": ["NET_ADMIN"]},
    }
    with pytest.raises(InvalidArgument) as refused:
        check_create(body)
    assert refused.value.message == (
        "hatoba does not support HostConfig.CpusetCpus, HostConfig.VolumeDriver yet"
    )


def test_what_clients_send_by_default_passes() -> None:
    assert refused_fields(DOCKER_CLI_28_CREATE) == []
    assert refused_fields(DOCKER_COMPOSE_129_CREATE) == []
    # and the same requests asking for a limit are refused, by name
    limited = copy.deepcopy(DOCKER_CLI_28_CREATE)
    limited["HostConfig"]["MemoryReservation"] = 10 << 20
    assert refused_fields(limited) == ["HostConfig.MemoryReservation"]
    # compose's `links:` on a user-defined network arrive in HostConfig (Docker ignores them
    # there; compose connects the endpoint with them)
    linked = copy.deepcopy(DOCKER_COMPOSE_129_CREATE)
    linked["HostConfig"]["Links"] = ["p2_db_1:db"]
    assert refused_fields(linked) == []


def test_hatoba_run_sends_only_what_hatoba_applies() -> None:
    parser = Parser("hatoba run", "", "", short_help=False)
    add_flags(parser)
    values = parser.parse(["--name", "x", "-e", "A=1", "-p", "8080:80", "alpine", "true"])
    assert refused_fields(create_body(values, "hatoba", detach=True, stdin_once=False)) == []
    user = parser.parse(["-u", "1000", "--init", "--group-add", "7", "alpine", "true"])
    assert refused_fields(create_body(user, "hatoba", detach=True, stdin_once=False)) == []
