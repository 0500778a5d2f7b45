"""The project as Engine API requests, with the names and labels docker compose v2 uses.

A container is `<project>-<service>-<n>` (or its `container_name`); it is labelled with the
project, service, container number, one-off flag, config hash, working directory, files and
version, so that docker compose, `docker ps --filter label=…` and hatoba see the same
project. On each network it has the aliases docker compose gives: its container name and its
service name (DNS round robin across replicas), then the file's aliases. A network is
`<project>_<key>` (or its `name`), labelled with its key and project, and so is a volume.
Engine API v1.41 takes one network at create: the others are connected before the start
(`connect_body`). A service's volumes go as docker compose v2.29 sends them: a bind whose
missing host folder is to be made as a `Binds` string (the Mounts API refuses a missing
source), every other mount in `Mounts`, `tmpfs` in `Tmpfs`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from hatoba.compose.model import (
    BIND,
    CONTAINER_PREFIX,
    TMPFS,
    VOLUME,
    Limits,
    Mount,
    Network,
    Project,
    Service,
    ServiceNetwork,
    Volume,
    float32,
)

PROJECT = "com.docker.compose.project"
SERVICE = "com.docker.compose.service"
NUMBER = "com.docker.compose.container-number"
ONEOFF = "com.docker.compose.oneoff"
CONFIG_HASH = "com.docker.compose.config-hash"
WORKING_DIR = "com.docker.compose.project.working_dir"
CONFIG_FILES = "com.docker.compose.project.config_files"
VERSION = "com.docker.compose.version"
DEPENDS_ON = "com.docker.compose.depends_on"
NETWORK = "com.docker.compose.network"
VOLUME_KEY = "com.docker.compose.volume"
# a security option the docker CLI turns into empty MaskedPaths and ReadonlyPaths
_UNCONFINED_PATHS = "systempaths=unconfined"
# the docker compose release whose behaviour hatoba follows (labels, names, aliases)
COMPOSE_VERSION = "2.29.0"


def container_name(project: str, service: Service, number: int) -> str:
    return service.container_name or f"{project}-{service.name}-{number}"


def project_filter(project: str, *more: str) -> dict[str, list[str]]:
    """`filters` for the containers or networks of a project (GET …/json)."""
    return {"label": [f"{PROJECT}={project}", *more]}


def container_labels(
    project: Project, service: Service, number: int, *, oneoff: bool = False
) -> dict[str, str]:
    labels = dict(service.labels)
    labels.update(
        {
            PROJECT: project.name,
            SERVICE: service.name,
            NUMBER: str(number),
            ONEOFF: "True" if oneoff else "False",
            CONFIG_HASH: service.config_hash,
            WORKING_DIR: project.working_dir,
            CONFIG_FILES: ",".join(project.config_files),
            VERSION: COMPOSE_VERSION,
            DEPENDS_ON: ",".join(
                f"{d.service}:{d.condition}:{str(d.restart).lower()}" for d in service.depends_on
            ),
        }
    )
    return labels


def endpoint(
    network: ServiceNetwork, name: str, service: Service, *, aliases: bool = True
) -> dict[str, Any]:
    """EndpointsConfig entry: aliases `[container name, service name, *file aliases]` (one-off
    containers only their name, as `docker compose run` without --use-aliases)."""
    settings: dict[str, Any] = {
        "Aliases": [name, service.name, *network.aliases] if aliases else [name]
    }
    asked = (("IPv4Address", network.ipv4_address), ("IPv6Address", network.ipv6_address))
    ipam: dict[str, Any] = {key: address for key, address in asked if address}
    if network.link_local_ips:
        ipam["LinkLocalIPs"] = list(network.link_local_ips)
    if ipam:
        settings["IPAMConfig"] = ipam
    return settings


def create_body(
    project: Project,
    service: Service,
    number: int,
    name: str,
    *,
    network_mode: str = "",
    oneoff: bool = False,
    command: tuple[str, ...] | None = None,
    entrypoint: tuple[str, ...] | None = None,
    auto_remove: bool = False,
    interactive: bool = False,
    tty: bool | None = None,
    volumes_from: Sequence[str] = (),
    inherited: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """POST /containers/create for container `number` of `service`. `network_mode` is the
    resolved mode of a `service:NAME` service (`container:<id>`), `volumes_from` its
    `volumes_from` with containers for services, `inherited` the anonymous volumes a
    replacement keeps (plan.inherited_mounts); one-off containers (`run`) may override the
    command and attach their input."""
    exposed: dict[str, dict[str, str]] = {key: {} for key in service.expose}
    bindings: dict[str, list[dict[str, str]]] = {}
    for port in service.ports:
        key = f"{port.target}/{port.protocol}"
        exposed[key] = {}
        bindings.setdefault(key, []).append({"HostIp": port.host_ip, "HostPort": port.published})
    env = [f"{k}={v}" for k, v in service.environment]
    host: dict[str, Any] = {
        "NetworkMode": network_mode or service.network_mode,
        "PortBindings": bindings,
        "RestartPolicy": {
            "Name": service.restart.name,
            "MaximumRetryCount": service.restart.maximum_retry_count,
        },
        "AutoRemove": auto_remove,
        "Dns": list(service.dns),
        "DnsOptions": list(service.dns_opt),
        "DnsSearch": list(service.dns_search),
        "ExtraHosts": list(service.extra_hosts) or None,
    }
    if service.init is not None:
        host["Init"] = service.init
    binds, mounts = mount_requests(project, service, inherited)
    if binds:
        host["Binds"] = binds
    if mounts:
        host["Mounts"] = mounts
    if service.tmpfs:
        host["Tmpfs"] = dict(_tmpfs_entry(t) for t in service.tmpfs)
    if volumes_from:
        host["VolumesFrom"] = list(volumes_from)
    host.update(knob_requests(service))
    body: dict[str, Any] = {
        "Hostname": service.hostname,
        "Domainname": service.domainname,
        "User": service.user,
        "AttachStdin": interactive,
        "AttachStdout": True,
        "AttachStderr": True,
        "ExposedPorts": exposed,
        "Tty": service.tty if tty is None else tty,
        "OpenStdin": service.stdin_open or interactive,
        "StdinOnce": interactive,
        "Env": env or None,
        "Cmd": list(command if command is not None else service.command or ()) or None,
        "Image": service.image,
        "WorkingDir": service.working_dir,
        "Entrypoint": _entrypoint(entrypoint if entrypoint is not None else service.entrypoint),
        "Labels": container_labels(project, service, number, oneoff=oneoff),
        "HostConfig": host,
    }
    if service.stop_signal:
        body["StopSignal"] = service.stop_signal
    if service.stop_grace_period_s is not None:
        body["StopTimeout"] = service.stop_grace_period_s
    if service.healthcheck is not None:
        check = service.healthcheck
        body["Healthcheck"] = {
            "Test": list(check.test),
            "Interval": check.interval_ns,
            "Timeout": check.timeout_ns,
            "StartPeriod": check.start_period_ns,
            "Retries": check.retries,
        }
    if not (network_mode or service.network_mode) and service.networks:
        primary = service.networks[0]
        engine_name = project.network(primary.key).name
        host["NetworkMode"] = engine_name
        body["NetworkingConfig"] = {
            "EndpointsConfig": {engine_name: endpoint(primary, name, service, aliases=not oneoff)}
        }
    return body


def knob_requests(service: Service) -> dict[str, Any]:
    """HostConfig's capabilities, kernel settings, devices and limits as docker compose
    v2.29's getCreateConfigs and getDeployResources fill them; only those the file sets, so
    a service without any asks for what it asked before."""
    host: dict[str, Any] = {}
    security_opt = [o for o in service.security_opt if o != _UNCONFINED_PATHS]
    if len(security_opt) != len(service.security_opt):
        # the docker CLI's client-side reading of systempaths=unconfined too
        host["MaskedPaths"], host["ReadonlyPaths"] = [], []
    lists = (
        ("CapAdd", service.cap_add),
        ("CapDrop", service.cap_drop),
        ("SecurityOpt", security_opt),
        ("DeviceCgroupRules", service.device_cgroup_rules),
    )
    host.update((key, list(value)) for key, value in lists if value)
    if service.privileged:
        host["Privileged"] = True
    if service.read_only:
        host["ReadonlyRootfs"] = True
    if service.sysctls:
        host["Sysctls"] = dict(service.sysctls)
    if service.ulimits:
        host["Ulimits"] = [
            {"Name": u.name, "Soft": u.soft, "Hard": u.hard} for u in service.ulimits
        ]
    if service.devices:
        host["Devices"] = [
            {
                "PathOnHost": d.source,
                "PathInContainer": d.target,
                "CgroupPermissions": d.permissions,
            }
            for d in service.devices
        ]
    limits = service.limits or Limits()
    numbers = (
        ("ShmSize", service.shm_size),
        ("OomScoreAdj", service.oom_score_adj),
        ("Memory", limits.memory or service.mem_limit),
        ("MemorySwap", service.memswap_limit),
        ("NanoCpus", _nano_cpus(limits.cpus or service.cpus)),
        ("CpuShares", service.cpu_shares),
        ("CpuQuota", service.cpu_quota),
        ("CpuPeriod", service.cpu_period),
        # a pids limit of deploy counts only when positive (docker compose's setLimits)
        ("PidsLimit", limits.pids if limits.pids > 0 else service.pids_limit),
    )
    host.update((key, value) for key, value in numbers if value)
    return host


def _nano_cpus(cpus: float) -> int:
    """compose-go keeps CPUs as a float32 and docker compose sends int64(cpus * 1e9) in
    float32 arithmetic: `1.1` is 1100000000, `0.123456789` is 123456792."""
    return int(float32(float32(cpus) * 1e9))


def mount_requests(
    project: Project, service: Service, inherited: Sequence[dict[str, Any]] = ()
) -> tuple[list[str], list[dict[str, Any]]]:
    """HostConfig.Binds and Mounts: the inherited mounts, then the file's (a file's mount
    replaces an inherited one at its target, but for the anonymous volume it inherited)."""
    binds: dict[str, str] = {}
    mounts = {m["Target"]: m for m in inherited}
    for mount in service.volumes:
        if mount.type == VOLUME and not mount.source and mount.target in mounts:
            continue
        mounts.pop(mount.target, None)
        if mount.type == BIND and mount.create_host_path:
            binds[mount.target] = _bind_string(mount)
        else:
            mounts[mount.target] = _mount_json(project, mount)
    return list(binds.values()), list(mounts.values())


def _bind_string(mount: Mount) -> str:
    """compose-go's ServiceVolumeConfig.String: `SOURCE:TARGET:rw|ro[,z][,propagation]`."""
    options = ["ro" if mount.read_only else "rw", mount.selinux, mount.propagation]
    return f"{mount.source}:{mount.target}:{','.join(o for o in options if o)}"


def _mount_json(project: Project, mount: Mount) -> dict[str, Any]:
    """Go's mount.Mount (HostConfig.Mounts)."""
    doc: dict[str, Any] = {"Type": mount.type, "Target": mount.target}
    if mount.type == BIND:
        doc["Source"] = mount.source
    elif mount.type == VOLUME and mount.source:
        doc["Source"] = project.volume(mount.source).name
    if mount.read_only:
        doc["ReadOnly"] = True
    if mount.consistency:
        doc["Consistency"] = mount.consistency
    if mount.propagation:
        doc["BindOptions"] = {"Propagation": mount.propagation}
    if mount.nocopy or mount.labels:
        doc["VolumeOptions"] = {"NoCopy": mount.nocopy, "Labels": dict(mount.labels)}
    if mount.type == TMPFS and (mount.size or mount.mode):
        doc["TmpfsOptions"] = {"SizeBytes": mount.size, "Mode": mount.mode}
    return doc


def volumes_from(service: Service, container_of: Callable[[str], str]) -> list[str]:
    """HostConfig.VolumesFrom: `SERVICE[:MODE]` as `<id of its first container>[:MODE]`
    (`container_of` gives it, or raises), `container:NAME[:MODE]` as `NAME[:MODE]`. The mode
    is kept, where docker compose drops it."""
    result = []
    for spec in service.volumes_from:
        if spec.startswith(CONTAINER_PREFIX):
            result.append(spec.removeprefix(CONTAINER_PREFIX))
            continue
        source, colon, mode = spec.partition(":")
        result.append(container_of(source) + colon + mode)
    return result


def _tmpfs_entry(entry: str) -> tuple[str, str]:
    """`/run:size=64m` → ("/run", "size=64m"), as HostConfig.Tmpfs takes it."""
    destination, _, options = entry.partition(":")
    return destination, options


def _entrypoint(value: tuple[str, ...] | None) -> list[str] | None:
    # an empty entrypoint in the file clears the image's: docker sends [""] for that
    if value is None:
        return None
    return list(value) or [""]


def connect_body(
    project: Project, service: Service, network: ServiceNetwork, name: str, container_id: str
) -> tuple[str, dict[str, Any]]:
    """The network name and body of POST /networks/{name}/connect for a secondary network."""
    return project.network(network.key).name, {
        "Container": container_id,
        "EndpointConfig": endpoint(network, name, service),
    }


def volume_body(project: Project, volume: Volume) -> dict[str, Any]:
    """POST /volumes/create, labelled as docker compose v2.29 labels a project's volume."""
    labels = dict(volume.labels)
    labels.update({VOLUME_KEY: volume.key, PROJECT: project.name, VERSION: COMPOSE_VERSION})
    return {
        "Name": volume.name,
        "Driver": volume.driver,
        "DriverOpts": dict(volume.driver_opts),
        "Labels": labels,
    }


def network_body(project: Project, network: Network) -> dict[str, Any]:
    labels = dict(network.labels)
    labels.update(
        {
            NETWORK: network.key,
            PROJECT: project.name,
            VERSION: COMPOSE_VERSION,
            CONFIG_HASH: network.config_hash,
        }
    )
    body: dict[str, Any] = {
        "Name": network.name,
        "CheckDuplicate": True,
        "Driver": network.driver,
        "Internal": network.internal,
        "EnableIPv6": network.enable_ipv6,
        "Options": dict(network.driver_opts),
        "Labels": labels,
    }
    if network.ipam:
        body["IPAM"] = {
            "Driver": "default",
            "Config": [
                {
                    key: value
                    for key, value in (
                        ("Subnet", pool.subnet),
                        ("Gateway", pool.gateway),
                        ("IPRange", pool.ip_range),
                    )
                    if value
                }
                for pool in network.ipam
            ],
        }
    return body
