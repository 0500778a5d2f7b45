"""Docker Engine API v1.41 JSON <-> model values; the only module that knows the field names."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from hatoba.drivers import registry as drivers
from hatoba.engine.containers import CreateRequest, EndpointRequest
from hatoba.engine.state import State
from hatoba.errors import InvalidArgument
from hatoba.ipam.addresses import parse_mac
from hatoba.ipam.pools import parse_address, parse_subnet
from hatoba.model.container import (
    EXITED,
    RESTARTING,
    RUNNING,
    Container,
    ContainerConfig,
    Endpoint,
    joined_container,
)
from hatoba.model.health import Health, HealthConfig, config_from_json, status_suffix
from hatoba.model.humanize import parse_rfc3339, status_text
from hatoba.model.ids import ZERO_TIME
from hatoba.model.network import Network, NetworkSpec
from hatoba.model.ports import PortMapping
from hatoba.model.restart import RestartPolicy

# --- networks ---------------------------------------------------------------------------------


def network_spec(body: Mapping[str, Any]) -> NetworkSpec:
    name = body.get("Name") or ""
    ipam = body.get("IPAM") or {}
    configs = ipam.get("Config") or []
    if len(configs) > 1:
        raise InvalidArgument("only one IPv4 subnet per network is supported")
    if body.get("EnableIPv6"):
        raise InvalidArgument(
            "could not find an available, non-overlapping IPv6 address pool among the "
            "defaults to assign to the network"
        )
    cfg = configs[0] if configs else {}
    subnet = parse_subnet(cfg["Subnet"]) if cfg.get("Subnet") else None
    gateway = parse_address(cfg["Gateway"], "gateway") if cfg.get("Gateway") else None
    ip_range = parse_subnet(cfg["IPRange"]) if cfg.get("IPRange") else None
    return NetworkSpec(
        name=name,
        driver=body.get("Driver") or "bridge",
        subnet=subnet,
        gateway=gateway,
        ip_range=ip_range,
        internal=bool(body.get("Internal")),
        labels=MappingProxyType(dict(body.get("Labels") or {})),
        options=MappingProxyType({k: str(v) for k, v in (body.get("Options") or {}).items()}),
    )


def network_json(network: Network, state: State, *, with_containers: bool) -> dict[str, Any]:
    pool = network.pool
    configs: list[dict[str, str]] = []
    if pool is not None:
        entry = {"Subnet": str(pool.subnet)}
        if pool.ip_range is not None:
            entry["IPRange"] = str(pool.ip_range)
        # Docker omits the gateway of the default bridge (it was never asked for)
        if not network.predefined:
            entry["Gateway"] = str(pool.gateway)
        configs.append(entry)
    containers: dict[str, Any] = {}
    if with_containers:
        for c in state.attached(network.id):
            ep = c.endpoint_on(network.id)
            assert ep is not None
            containers[c.id] = {
                "Name": c.name,
                "EndpointID": ep.endpoint_id,
                "MacAddress": ep.mac,
                "IPv4Address": f"{ep.ipv4}/{ep.prefixlen}" if ep.ipv4 else "",
                "IPv6Address": "",
            }
    return {
        "Name": network.name,
        "Id": network.id,
        "Created": network.created,
        "Scope": "local",
        "Driver": network.driver,
        "EnableIPv6": False,
        "IPAM": {
            "Driver": "default",
            "Options": None if network.predefined else {},
            "Config": configs,
        },
        "Internal": network.internal,
        "Attachable": False,
        "Ingress": False,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": False,
        "Containers": containers,
        "Options": dict(network.options),
        "Labels": dict(network.labels),
    }


# --- containers: create -------------------------------------------------------------------------


def _strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


def _integer(value: Any, field: str) -> int:
    if value is None:
        return 0
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidArgument(f"{field} must be an integer")
    return value


def health_config_json(config: HealthConfig) -> dict[str, Any]:
    """Go's HealthConfig, whose fields are all `omitempty`."""
    fields = {
        "Test": list(config.test),
        "Interval": config.interval,
        "Timeout": config.timeout,
        "StartPeriod": config.start_period,
        "Retries": config.retries,
    }
    return {key: value for key, value in fields.items() if value}


def _restart_policy(value: Any) -> RestartPolicy:
    if not value:
        return RestartPolicy()
    if not isinstance(value, dict):
        raise InvalidArgument("RestartPolicy must be an object")
    return RestartPolicy(
        name=str(value.get("Name") or ""),
        maximum_retry_count=_integer(value.get("MaximumRetryCount"), "MaximumRetryCount"),
    )


def create_request(
    body: Mapping[str, Any], name: str, ports: tuple[PortMapping, ...], run_pending: bool = False
) -> CreateRequest:
    host = body.get("HostConfig") or {}
    networking = (body.get("NetworkingConfig") or {}).get("EndpointsConfig") or {}
    image = body.get("Image") or ""
    if not image:
        raise InvalidArgument("No image specified")
    stop_timeout = body.get("StopTimeout")
    mac = body.get("MacAddress")
    config = ContainerConfig(
        image=image,
        cmd=_strings(body.get("Cmd")),
        entrypoint=_strings(body.get("Entrypoint")),
        env=_strings(body.get("Env")),
        workdir=body.get("WorkingDir") or "",
        hostname=body.get("Hostname") or "",
        domainname=body.get("Domainname") or "",
        tty=bool(body.get("Tty")),
        open_stdin=bool(body.get("OpenStdin")),
        stdin_once=bool(body.get("StdinOnce")),
        network_mode=host.get("NetworkMode") or "default",
        dns=_strings(host.get("Dns")),
        dns_search=_strings(host.get("DnsSearch")),
        dns_options=_strings(host.get("DnsOptions")),
        extra_hosts=_strings(host.get("ExtraHosts")),
        auto_remove=bool(host.get("AutoRemove")),
        labels=MappingProxyType(dict(body.get("Labels") or {})),
        ports=ports,
        publish_all=bool(host.get("PublishAllPorts")),
        exposed_ports=tuple(sorted((body.get("ExposedPorts") or {}).keys())),
        stop_signal=body.get("StopSignal") or "SIGTERM",
        stop_timeout=int(stop_timeout) if stop_timeout is not None else None,
        user=body.get("User") or "",
        group_add=_strings(host.get("GroupAdd")),
        init=None if host.get("Init") is None else bool(host.get("Init")),
        healthcheck=config_from_json(body.get("Healthcheck")),
        restart_policy=_restart_policy(host.get("RestartPolicy")),
        mac_address=parse_mac(mac) if mac else "",
    )
    endpoints = []
    for net, ep in networking.items():
        ep = ep or {}
        ipam = ep.get("IPAMConfig") or {}
        ipv4 = ipam.get("IPv4Address")
        endpoints.append(
            EndpointRequest(
                network=net,
                aliases=_strings(ep.get("Aliases")),
                ipv4=parse_address(ipv4, "IPv4 address") if ipv4 else None,
                links=_strings(ep.get("Links")),
            )
        )
    return CreateRequest(
        config=config,
        name=name or None,
        endpoints=tuple(endpoints),
        run_pending=run_pending,
    )


# --- containers: inspect and list ---------------------------------------------------------------


def _endpoint_json(
    container: Container, network: Network | None, network_id: str, ep: Endpoint | None
) -> dict[str, Any]:
    cfg = container.config_on(network_id)
    user_defined = network is not None and network.user_defined
    aliases: list[str] | None = None
    if user_defined and cfg is not None:
        aliases = list(dict.fromkeys(cfg.aliases)) or None
        # Docker (API <= 1.44) adds the short id and the hostname to the aliases when the
        # endpoint is connected: at the first start, or by a network connect. Clients read
        # that: docker-compose reconnects a new container whose aliases lack its short id.
        if cfg.joined_later or container.state.started_at != ZERO_TIME:
            extras = (container.short_id, container.config.hostname)
            aliases = list(dict.fromkeys([*(aliases or ()), *filter(None, extras)]))
    ipam_config: dict[str, str] | None = None
    if cfg is not None and (cfg.joined_later or cfg.ipv4 is not None):
        ipam_config = {"IPv4Address": str(cfg.ipv4)} if cfg.ipv4 else {}
    return {
        "IPAMConfig": ipam_config,
        "Links": list(cfg.links) if cfg is not None and cfg.links else None,
        "Aliases": aliases,
        "NetworkID": network_id,
        "EndpointID": ep.endpoint_id if ep else "",
        "Gateway": str(ep.gateway) if ep and ep.gateway and ep.ipv4 else "",
        "IPAddress": str(ep.ipv4) if ep and ep.ipv4 else "",
        "IPPrefixLen": ep.prefixlen if ep and ep.ipv4 else 0,
        "IPv6Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "MacAddress": ep.mac if ep else "",
        "DriverOpts": {} if cfg is not None and cfg.joined_later else None,
    }


def ports_json(container: Container, published: Sequence[PortMapping]) -> dict[str, Any]:
    ports: dict[str, Any] = dict.fromkeys(container.config.exposed_ports)
    for mapping in published:
        if ports.get(mapping.key) is None:
            ports[mapping.key] = []
        ports[mapping.key].append(
            {"HostIp": str(mapping.host_ip or "0.0.0.0"), "HostPort": str(mapping.host_port)}
        )
    return ports


def port_bindings_json(ports: Sequence[PortMapping]) -> dict[str, list[dict[str, str]]]:
    """HostConfig.PortBindings as asked (a port may be bound more than once, a range kept)."""
    bindings: dict[str, list[dict[str, str]]] = {}
    for m in ports:
        host_port = str(m.host_port or "") + (f"-{m.host_port_end}" if m.host_port_end else "")
        bindings.setdefault(m.key, []).append(
            {"HostIp": str(m.host_ip or ""), "HostPort": host_port}
        )
    return bindings


def container_json(
    container: Container,
    state: State,
    *,
    log_path: str,
    files_dir: str,
    sandbox_dir: str,
    published: Sequence[PortMapping] = (),
) -> dict[str, Any]:
    cfg = container.config
    run = container.state
    networks: dict[str, Any] = {}
    for nc in container.networks:
        network = state.networks.get(nc.network_id)
        name = network.name if network else nc.network_id
        networks[name] = _endpoint_json(
            container, network, nc.network_id, container.endpoint_on(nc.network_id)
        )
    first = next(iter(networks.values()), None)
    default_bridge = next(
        (
            n
            for n in (state.networks.get(nc.network_id) for nc in container.networks)
            # Docker reads these from the endpoint on the network named bridge
            if n is not None and n.predefined and n.name == "bridge"
        ),
        None,
    )
    top = first if default_bridge is not None and first is not None else None
    host_mode = any(
        (n := state.networks.get(nc.network_id)) is not None and drivers.of(n).shares_host_namespace
        for nc in container.networks
    )
    joins = joined_container(cfg.network_mode) is not None
    sandbox_key = ""
    if run.status == RUNNING:
        sandbox_key = f"{sandbox_dir}/default" if host_mode else container.netns
    # `--net container:` makes no sandbox of its own: Docker shows none, and no ports
    sandbox_id = container.id if run.status == RUNNING and not joins else ""
    argv = cfg.argv
    state_json: dict[str, Any] = {
        "Status": run.status,
        # Docker counts a container waiting for its restart as running (stop, rm, wait)
        "Running": run.status in (RUNNING, RESTARTING),
        "Paused": False,
        "Restarting": run.status == RESTARTING,
        "OOMKilled": False,
        "Dead": False,
        "Pid": run.pid if run.status == RUNNING else 0,
        "ExitCode": run.exit_code,
        "Error": run.error,
        "StartedAt": run.started_at,
        "FinishedAt": run.finished_at if run.status in (EXITED, RESTARTING) else ZERO_TIME,
    }
    if run.health is not None:
        state_json["Health"] = health_json(run.health)
    config: dict[str, Any] = {
        "Hostname": container.hostname,
        "Domainname": cfg.domainname,
        "User": cfg.user,
        "AttachStdin": False,
        "AttachStdout": False,
        "AttachStderr": False,
        "ExposedPorts": {p: {} for p in cfg.exposed_ports} or None,
        "Tty": cfg.tty,
        "OpenStdin": cfg.open_stdin,
        "StdinOnce": cfg.stdin_once,
        "Env": list(cfg.env) or None,
        "Cmd": list(cfg.cmd) or None,
        "Image": cfg.image,
        "WorkingDir": cfg.workdir,
        "Entrypoint": list(cfg.entrypoint) or None,
        "Labels": dict(cfg.labels),
        "StopSignal": cfg.stop_signal,
        "StopTimeout": cfg.stop_timeout,
    }
    if cfg.healthcheck is not None:
        config["Healthcheck"] = health_config_json(cfg.healthcheck)
    if cfg.mac_address:
        config["MacAddress"] = cfg.mac_address
    return {
        "Id": container.id,
        "Created": container.created,
        "Path": argv[0] if argv else "",
        "Args": list(argv[1:]),
        "State": state_json,
        "Image": cfg.image_id or cfg.image,
        "ResolvConfPath": f"{files_dir}/resolv.conf",
        "HostnamePath": f"{files_dir}/hostname",
        "HostsPath": f"{files_dir}/hosts",
        "LogPath": log_path,
        "Name": "/" + container.name,
        "RestartCount": run.restart_count,
        "Driver": "overlay",
        "Platform": "linux",
        "HostConfig": {
            "NetworkMode": cfg.network_mode,
            "PortBindings": port_bindings_json(cfg.ports),
            "AutoRemove": cfg.auto_remove,
            "PublishAllPorts": cfg.publish_all,
            "Dns": list(cfg.dns),
            "DnsOptions": list(cfg.dns_options),
            "DnsSearch": list(cfg.dns_search),
            "ExtraHosts": list(cfg.extra_hosts) or None,
            "RestartPolicy": {
                "Name": cfg.restart_policy.name,
                "MaximumRetryCount": cfg.restart_policy.maximum_retry_count,
            },
            "LogConfig": {"Type": "json-file", "Config": {}},
            "IpcMode": "private",
            "Privileged": False,
            "GroupAdd": list(cfg.group_add) or None,
            "Init": cfg.init,
        },
        "Config": config,
        "NetworkSettings": {
            "Bridge": "",
            "SandboxID": sandbox_id,
            "HairpinMode": False,
            "LinkLocalIPv6Address": "",
            "LinkLocalIPv6PrefixLen": 0,
            "Ports": {} if joins else ports_json(container, published),
            "SandboxKey": sandbox_key,
            "SecondaryIPAddresses": None,
            "SecondaryIPv6Addresses": None,
            "EndpointID": top["EndpointID"] if top else "",
            "Gateway": top["Gateway"] if top else "",
            "GlobalIPv6Address": "",
            "GlobalIPv6PrefixLen": 0,
            "IPAddress": top["IPAddress"] if top else "",
            "IPPrefixLen": top["IPPrefixLen"] if top else 0,
            "IPv6Gateway": "",
            "MacAddress": top["MacAddress"] if top else "",
            "Networks": networks,
        },
    }


def health_json(health: Health) -> dict[str, Any]:
    return {
        "Status": health.status,
        "FailingStreak": health.failing_streak,
        "Log": [
            {"Start": r.start, "End": r.end, "ExitCode": r.exit_code, "Output": r.output}
            for r in health.log
        ],
    }


def container_summary(
    container: Container, state: State, published: Sequence[PortMapping] = ()
) -> dict[str, Any]:
    cfg = container.config
    networks = {}
    for nc in container.networks:
        network = state.networks.get(nc.network_id)
        name = network.name if network else nc.network_id
        networks[name] = _endpoint_json(
            container, network, nc.network_id, container.endpoint_on(nc.network_id)
        )
    return {
        "Id": container.id,
        "Names": ["/" + container.name],
        "Image": cfg.image,
        "ImageID": cfg.image_id,
        "Command": " ".join(cfg.argv),
        "Created": int(parse_rfc3339(container.created)),
        "Ports": [
            {
                "IP": str(m.host_ip or "0.0.0.0"),
                "PrivatePort": m.container_port,
                "PublicPort": m.host_port,
                "Type": m.protocol,
            }
            for m in published
        ],
        "Labels": dict(cfg.labels),
        "State": container.state.status,
        "Status": _status(container),
        "StartedAt": container.state.started_at,
        "FinishedAt": container.state.finished_at,
        "ExitCode": container.state.exit_code,
        "HostConfig": {"NetworkMode": cfg.network_mode},
        "NetworkSettings": {"Networks": networks},
        "Mounts": [],
    }


def _status(container: Container) -> str:
    """`Up 5 minutes (healthy)`, `Restarting (1) 2 seconds ago`, `Exited (0) …`."""
    run = container.state
    text = status_text(run.status, run.started_at, run.finished_at, run.exit_code, time.time())
    if not run.running:
        return text
    # a running container whose network could not be repaired (engine/repair.py)
    damaged = " (network damaged)" if run.error else ""
    return text + status_suffix(run.health) + damaged
