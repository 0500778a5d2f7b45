"""Every field of a container create request (and of an exec), and what hatoba does with it.

The Engine API v1.41 body is `ContainerConfig` at the top level plus `HostConfig` and
`NetworkingConfig` (whose `EndpointsConfig` maps networks to `EndpointSettings`, the same
struct `POST /networks/{id}/connect` takes). Clients send whole structs: the docker CLI fills
every HostConfig field with its zero value, docker-compose 1.29 sends `Volumes: {}`,
`Links: []` and `LogConfig: {"Type": ""}` for a service that asks for none of them. So a field
is refused only when its value asks for something: a value other than its zero value (null,
false, 0, "", [] or {}; for a struct such as LogConfig, also one whose members are all
zero) and other than the defaults listed in its row. Every refused field of a request is
named in one 400, before anything is made.

Nothing is dropped silently: each field is APPLIED (hatoba does what Docker does with it),
REFUSED (not built yet: only its defaults pass), or IGNORED because Docker ignores it in a
create request too (operational endpoint data, Windows-only and build-only settings). Fields
of later API versions (`GwPriority`, `DNSNames` from a newer docker CLI) are not read, as a
v1.41 daemon does not read them. A change that implements a field moves its row to APPLIED.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hatoba.errors import InvalidArgument


class Use(enum.Enum):
    APPLIED = "applied"
    REFUSED = "refused"
    IGNORED = "ignored"


@dataclass(frozen=True)
class Field:
    use: Use
    # values that also mean "not asked for"
    defaults: tuple[Any, ...] = ()
    # a struct, not a map: its zero members mean nothing (a map's keys each ask for something)
    struct: bool = False
    # a field whose members are classified one by one (EndpointSettings.IPAMConfig)
    members: Mapping[str, Field] | None = None
    # IGNORED: why Docker ignores it here
    why: str = ""


APPLIED = Field(Use.APPLIED)
REFUSED = Field(Use.REFUSED)


def _ignored(why: str) -> Field:
    return Field(Use.IGNORED, why=why)


def _refused(*defaults: Any) -> Field:
    return Field(Use.REFUSED, defaults=defaults)


def _refused_struct(*defaults: Any) -> Field:
    return Field(Use.REFUSED, defaults=defaults, struct=True)


_ATTACH = "kept for the client; what to attach is asked in the attach request"
_WINDOWS = "Windows only"
_BUILD = "used by image builds only"

CONTAINER_CONFIG: Mapping[str, Field] = {
    "Hostname": APPLIED,
    "Domainname": APPLIED,
    "User": APPLIED,
    "AttachStdin": _ignored(_ATTACH),
    "AttachStdout": _ignored(_ATTACH),
    "AttachStderr": _ignored(_ATTACH),
    "ExposedPorts": APPLIED,
    "Tty": APPLIED,
    "OpenStdin": APPLIED,
    "StdinOnce": APPLIED,
    "Env": APPLIED,
    "Cmd": APPLIED,
    "Healthcheck": APPLIED,
    "ArgsEscaped": _ignored(_WINDOWS),
    "Image": APPLIED,
    "Volumes": APPLIED,
    "WorkingDir": APPLIED,
    "Entrypoint": APPLIED,
    "NetworkDisabled": APPLIED,
    "MacAddress": APPLIED,
    "OnBuild": _ignored(_BUILD),
    "Labels": APPLIED,
    "StopSignal": APPLIED,
    "StopTimeout": APPLIED,
    "Shell": _ignored(_BUILD),
}

HOST_CONFIG: Mapping[str, Field] = {
    # resources (cgroups)
    "CpuShares": APPLIED,
    "Memory": APPLIED,
    "CgroupParent": REFUSED,
    "BlkioWeight": REFUSED,
    "BlkioWeightDevice": REFUSED,
    "BlkioDeviceReadBps": REFUSED,
    "BlkioDeviceWriteBps": REFUSED,
    "BlkioDeviceReadIOps": REFUSED,
    "BlkioDeviceWriteIOps": REFUSED,
    "CpuPeriod": APPLIED,
    "CpuQuota": APPLIED,
    "CpuRealtimePeriod": REFUSED,
    "CpuRealtimeRuntime": REFUSED,
    "CpusetCpus": REFUSED,
    "CpusetMems": REFUSED,
    "Devices": APPLIED,
    "DeviceCgroupRules": APPLIED,
    "DeviceRequests": REFUSED,
    "KernelMemory": REFUSED,
    "KernelMemoryTCP": REFUSED,
    "MemoryReservation": REFUSED,
    "MemorySwap": APPLIED,
    # -1: the kernel's default, what the docker CLI sends
    "MemorySwappiness": _refused(-1),
    "NanoCpus": APPLIED,
    "OomKillDisable": REFUSED,
    "Init": APPLIED,
    "PidsLimit": APPLIED,
    "Ulimits": APPLIED,
    "CpuCount": REFUSED,
    "CpuPercent": REFUSED,
    "IOMaximumIOps": REFUSED,
    "IOMaximumBandwidth": REFUSED,
    # the rest of HostConfig
    "Binds": APPLIED,
    "ContainerIDFile": _ignored("written by the docker CLI, not the daemon"),
    # hatoba keeps a json-file log without rotation
    "LogConfig": _refused_struct({"Type": "json-file"}),
    "NetworkMode": APPLIED,
    "PortBindings": APPLIED,
    "RestartPolicy": APPLIED,
    "AutoRemove": APPLIED,
    # the local driver is the only one
    "VolumeDriver": _refused("local"),
    "VolumesFrom": APPLIED,
    "Mounts": APPLIED,
    "CapAdd": APPLIED,
    "CapDrop": APPLIED,
    # containers see the host's cgroup namespace, Docker's default on cgroup v1
    "CgroupnsMode": _refused("host"),
    "Dns": APPLIED,
    "DnsOptions": APPLIED,
    "DnsSearch": APPLIED,
    "ExtraHosts": APPLIED,
    "GroupAdd": APPLIED,
    # each container has an IPC namespace of its own that no other can join: "private"
    "IpcMode": _refused("private"),
    "Cgroup": REFUSED,
    "Links": APPLIED,
    "OomScoreAdj": APPLIED,
    "PidMode": REFUSED,
    "Privileged": APPLIED,
    "PublishAllPorts": APPLIED,
    "ReadonlyRootfs": APPLIED,
    "SecurityOpt": APPLIED,
    "StorageOpt": REFUSED,
    "Tmpfs": APPLIED,
    "UTSMode": REFUSED,
    "UsernsMode": REFUSED,
    "ShmSize": APPLIED,
    "Sysctls": APPLIED,
    "Runtime": REFUSED,
    # the docker CLI sends the terminal's size; v1.41 reads it on Windows only
    "ConsoleSize": _ignored(_WINDOWS),
    "Isolation": _refused("default"),
    # null: Docker's lists; [] unmasks everything (systempaths=unconfined)
    "MaskedPaths": APPLIED,
    "ReadonlyPaths": APPLIED,
}

_OPERATIONAL = "operational data: Docker fills it in and ignores what a request says"

ENDPOINT_SETTINGS: Mapping[str, Field] = {
    "IPAMConfig": Field(
        Use.APPLIED,
        members={"IPv4Address": APPLIED, "IPv6Address": APPLIED, "LinkLocalIPs": APPLIED},
    ),
    "Links": APPLIED,
    "Aliases": APPLIED,
    "NetworkID": _ignored(_OPERATIONAL),
    "EndpointID": _ignored(_OPERATIONAL),
    "Gateway": _ignored(_OPERATIONAL),
    "IPAddress": _ignored(_OPERATIONAL),
    "IPPrefixLen": _ignored(_OPERATIONAL),
    "IPv6Gateway": _ignored(_OPERATIONAL),
    "GlobalIPv6Address": _ignored(_OPERATIONAL),
    "GlobalIPv6PrefixLen": _ignored(_OPERATIONAL),
    # the interface's MAC on this network (as API 1.44 applies it; v1.41 ignored it)
    "MacAddress": APPLIED,
    # kept and shown; Docker's drivers keep them without a use too
    "DriverOpts": APPLIED,
}

NETWORKING_CONFIG: Mapping[str, Field] = {"EndpointsConfig": APPLIED}

# the body of POST /containers/{id}/exec, which docker-compose exec and docker exec send whole
EXEC_CONFIG: Mapping[str, Field] = {
    "AttachStdin": APPLIED,
    "AttachStdout": APPLIED,
    "AttachStderr": APPLIED,
    "DetachKeys": APPLIED,
    "Tty": APPLIED,
    "Env": APPLIED,
    "Cmd": APPLIED,
    "Privileged": APPLIED,
    "User": APPLIED,
    "WorkingDir": APPLIED,
}


# the body of POST /containers/{id}/update: HostConfig's resources and RestartPolicy
_UNCHANGED = "Docker's update leaves it as it is"
_UPDATED_BY_DOCKER = (
    "BlkioWeight",
    "CpuShares",
    "NanoCpus",
    "CpuPeriod",
    "CpuQuota",
    "CpusetCpus",
    "CpusetMems",
    "Memory",
    "MemorySwap",
    "MemoryReservation",
    "KernelMemory",
    "CpuRealtimePeriod",
    "CpuRealtimeRuntime",
    "PidsLimit",
)
_RESOURCES = (
    *_UPDATED_BY_DOCKER,
    "CgroupParent",
    "BlkioWeightDevice",
    "BlkioDeviceReadBps",
    "BlkioDeviceWriteBps",
    "BlkioDeviceReadIOps",
    "BlkioDeviceWriteIOps",
    "Devices",
    "DeviceCgroupRules",
    "DeviceRequests",
    "KernelMemoryTCP",
    "MemorySwappiness",
    "OomKillDisable",
    "Init",
    "Ulimits",
    "CpuCount",
    "CpuPercent",
    "IOMaximumIOps",
    "IOMaximumBandwidth",
)
UPDATE_CONFIG: Mapping[str, Field] = {
    **{
        name: HOST_CONFIG[name] if name in _UPDATED_BY_DOCKER else _ignored(_UNCHANGED)
        for name in _RESOURCES
    },
    "RestartPolicy": APPLIED,
}


@dataclass
class _Walk:
    refused: list[str] = field(default_factory=list)

    def table(self, table: Mapping[str, Field], value: Any, path: str) -> None:
        if not isinstance(value, Mapping):
            return  # a wrong type is the request reader's to report
        for name, row in table.items():
            if name in value:
                self.field(row, value[name], f"{path}{name}")

    def field(self, row: Field, value: Any, path: str) -> None:
        if row.members is not None:
            self.table(row.members, value, path + ".")
        elif row.use is Use.REFUSED and not _is_default(row, value):
            self.refused.append(path)


def _zero(value: Any) -> bool:
    """Go's zero value, which a client sends for what it was not asked for."""
    return value is None or value is False or value == 0 or value in ("", [], {})


def _is_default(row: Field, value: Any) -> bool:
    if None in row.defaults:  # only null is the default (an empty list means something)
        return value is None
    if _zero(value):
        return True
    if row.struct and isinstance(value, Mapping):
        value = {k: v for k, v in value.items() if not _zero(v)}
        return not value or value in row.defaults
    return value in row.defaults


def refused_fields(body: Mapping[str, Any]) -> list[str]:
    """The fields of a create request that ask for what hatoba does not do, by path."""
    walk = _Walk()
    walk.table(CONTAINER_CONFIG, body, "Config.")
    walk.table(HOST_CONFIG, body.get("HostConfig"), "HostConfig.")
    endpoints = (body.get("NetworkingConfig") or {}).get("EndpointsConfig")
    if isinstance(endpoints, Mapping):
        for network, settings in endpoints.items():
            walk.table(ENDPOINT_SETTINGS, settings, f"NetworkingConfig.EndpointsConfig.{network}.")
    return walk.refused


def check_create(body: Mapping[str, Any]) -> None:
    _refuse(refused_fields(body))


def check_endpoint(settings: Any, path: str = "EndpointConfig.") -> None:
    """The EndpointSettings of a network connect."""
    walk = _Walk()
    walk.table(ENDPOINT_SETTINGS, settings, path)
    _refuse(walk.refused)


def check_exec(body: Mapping[str, Any]) -> None:
    """The body of an exec create."""
    walk = _Walk()
    walk.table(EXEC_CONFIG, body, "ExecConfig.")
    _refuse(walk.refused)


def check_update(body: Mapping[str, Any]) -> None:
    """The body of a container update."""
    walk = _Walk()
    walk.table(UPDATE_CONFIG, body, "")
    _refuse(walk.refused)


def _refuse(paths: list[str]) -> None:
    if paths:
        raise InvalidArgument(f"hatoba does not support {', '.join(paths)} yet")
