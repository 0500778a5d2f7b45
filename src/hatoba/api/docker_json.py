"""Docker Engine API v1.41 JSON <-> model values; the only module that knows the field names."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from ipaddress import IPv4Address, IPv6Address, ip_address
from types import MappingProxyType
from typing import Any

from hatoba.api.execs import ExecSpec
from hatoba.api.json_body import Json
from hatoba.drivers import registry as drivers
from hatoba.engine import links
from hatoba.engine.containers import CreateRequest, EndpointRequest, UpdateRequest
from hatoba.engine.state import State
from hatoba.errors import InvalidArgument
from hatoba.ipam.addresses import parse_mac
from hatoba.ipam.pools import parse_address, parse_subnet
from hatoba.model import detach_keys
from hatoba.model.cluster import ClusterHost
from hatoba.model.container import (
    EXITED,
    RESTARTING,
    RUNNING,
    Container,
    ContainerConfig,
    Endpoint,
    EndpointConfig,
    joined_container,
)
from hatoba.model.health import Health, HealthConfig, config_from_json, status_suffix
from hatoba.model.humanize import parse_rfc3339, status_text
from hatoba.model.ids import ZERO_TIME, rfc3339
from hatoba.model.mounts import VOLUME, MountPoint, MountSpec, Volume
from hatoba.model.network import IPAddress, IpamPool, IpamRequest, Network, NetworkSpec
from hatoba.model.ports import PortMapping
from hatoba.model.portspec import mappings_from_api
from hatoba.model.resources import Resources, Ulimit
from hatoba.model.restart import RestartPolicy
from hatoba.model.security import (
    DEFAULT_MASKED_PATHS,
    DEFAULT_READONLY_PATHS,
    DeviceMapping,
    Security,
)
from hatoba.model.signals import signal_number
from hatoba.observe.usage import CgroupUsage, Sample

# --- networks ---------------------------------------------------------------------------------


def _refused_network_fields(body: Json) -> list[str]:
    """What a network create asks for that hatoba does not do (Docker's swarm and plugin
    settings): named rather than dropped. The docker CLI sends each one's zero value."""
    ipam = body["IPAM"]
    scope = drivers.named(body["Driver"].string() or "bridge").scope
    asked = {
        "IPAM.Driver": ipam["Driver"].string() not in ("", "default"),
        "IPAM.Options": bool(ipam["Options"].string_map()),
        "Scope": body["Scope"].string() not in ("", scope),
        "Ingress": body["Ingress"].boolean(),
        "ConfigOnly": body["ConfigOnly"].boolean(),
        "ConfigFrom": bool(body["ConfigFrom"]["Network"].string()),
    }
    return [name for name, given in asked.items() if given]


def network_spec(body: Json) -> NetworkSpec:
    refused = _refused_network_fields(body)
    if refused:
        raise InvalidArgument(f"hatoba does not support {', '.join(refused)} yet")
    name = body["Name"].string()
    return NetworkSpec(
        name=name,
        driver=body["Driver"].string() or "bridge",
        ipam=tuple(_ipam_request(cfg, name) for cfg in body["IPAM"]["Config"].array()),
        enable_ipv6=body["EnableIPv6"].boolean(),
        # API >= 1.47 (Docker 28) sends it; absent, IPv4 is on
        enable_ipv4=body["EnableIPv4"].boolean(True),
        internal=body["Internal"].boolean(),
        attachable=body["Attachable"].boolean(),
        labels=MappingProxyType(body["Labels"].string_map()),
        options=MappingProxyType(body["Options"].string_map()),
    )


def _ipam_request(cfg: Json, network: str) -> IpamRequest:
    """One IPAM.Config entry (the driver checks that its parts are of one family)."""
    subnet, gateway, ip_range = (cfg[key].string() for key in ("Subnet", "Gateway", "IPRange"))
    aux = {
        key: _aux_address(key, value, network)
        for key, value in cfg["AuxiliaryAddresses"].string_map().items()
    }
    return IpamRequest(
        subnet=parse_subnet(subnet) if subnet else None,
        gateway=parse_address(gateway, "gateway") if gateway else None,
        ip_range=parse_subnet(ip_range) if ip_range else None,
        aux_addresses=MappingProxyType(aux),
    )


def _aux_address(key: str, value: str, network: str) -> IPAddress:
    try:
        return ip_address(value)
    except ValueError:
        # libnetwork's text
        raise InvalidArgument(
            f"non parsable secondary ip address ({key}:{value}) passed for network {network}"
        ) from None


def _ipam_config_json(pool: IpamPool, network: Network) -> dict[str, Any]:
    """As Docker shows it: a subnet the user gave with what else they gave (no gateway unless
    they gave one), one from the default pools with its gateway; never the default bridge's
    gateway."""
    entry: dict[str, Any] = {"Subnet": str(pool.subnet)}
    if pool.ip_range is not None:
        entry["IPRange"] = str(pool.ip_range)
    if not network.predefined and (pool.user_gateway or not pool.user_subnet):
        entry["Gateway"] = str(pool.gateway)
    if pool.aux_addresses:
        entry["AuxiliaryAddresses"] = {k: str(v) for k, v in pool.aux_addresses.items()}
    return entry


def endpoint_request(network: str, endpoint: Json) -> EndpointRequest:
    """EndpointSettings, in a container create or a network connect."""
    ipam = endpoint["IPAMConfig"]
    ipv4 = requested_address(ipam["IPv4Address"].string(), 4)
    ipv6 = requested_address(ipam["IPv6Address"].string(), 6)
    assert not isinstance(ipv4, IPv6Address) and not isinstance(ipv6, IPv4Address)
    mac = endpoint["MacAddress"].string()
    return EndpointRequest(
        network=network,
        aliases=endpoint["Aliases"].strings(),
        ipv4=ipv4,
        links=endpoint["Links"].strings(),
        mac=parse_mac(mac) if mac else "",
        ipv6=ipv6,
        driver_opts=endpoint["DriverOpts"].string_map(),
        link_local_ips=_link_local_ips(ipam["LinkLocalIPs"].strings()),
    )


def _link_local_ips(texts: Sequence[str]) -> tuple[IPAddress, ...]:
    """IPAMConfig.LinkLocalIPs: addresses of either family, refused as a whole when one is
    not an address, in Docker 20.10's words (daemon/network.go buildCreateEndpointOptions:
    the list as Go prints it)."""
    addresses = []
    for text in texts:
        # Go's ParseIP knows no zone (`fe80::1%eth0`)
        address = None if "%" in text else _ip_or_none(text)
        if address is None:
            raise InvalidArgument(f"Invalid link-local IP address: [{' '.join(texts)}]")
        addresses.append(address)
    return tuple(addresses)


def _ip_or_none(text: str) -> IPAddress | None:
    try:
        return ip_address(text)
    except ValueError:
        return None


def requested_address(text: str, version: int) -> IPv4Address | IPv6Address | None:
    """`--ip` (IPAMConfig.IPv4Address) or `--ip6` (IPv6Address): an address of that family."""
    if not text:
        return None
    address = parse_address(text, f"IPv{version} address")
    if address.version != version:
        raise InvalidArgument(f"invalid IPv{version} address: {text}")
    return address


def connect_request(network: str, body: Json) -> tuple[str, EndpointRequest]:
    """The container and its endpoint on `network`, of a network connect."""
    return body["Container"].string(), endpoint_request(network, body["EndpointConfig"])


def disconnect_request(body: Json) -> tuple[str, bool]:
    """The container of a network disconnect, and whether it is forced."""
    return body["Container"].string(), body["Force"].boolean()


def network_json(
    network: Network,
    state: State,
    *,
    with_containers: bool,
    peers: Sequence[ClusterHost] = (),
) -> dict[str, Any]:
    """Docker's NetworkResource; `peers`, the hosts with endpoints on a cluster-scoped
    network, in inspect alone (Docker's `Peers`, omitted elsewhere)."""
    configs = [_ipam_config_json(pool, network) for pool in network.ipam]
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
                "IPv6Address": f"{ep.ipv6}/{ep.prefixlen6}" if ep.ipv6 else "",
            }
    document: dict[str, Any] = {
        "Name": network.name,
        "Id": network.id,
        "Created": network.created,
        "Scope": drivers.of(network).scope,
        "Driver": network.driver,
        "EnableIPv6": network.enable_ipv6,
        "IPAM": {
            "Driver": "default",
            "Options": None if network.predefined else {},
            "Config": configs,
        },
        "Internal": network.internal,
        # recorded from --attachable; containers join a cluster network by `run --network` or
        # `connect` alone (no swarm services here), so it always is
        "Attachable": network.attachable or drivers.of(network).cluster_scoped,
        "Ingress": False,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": False,
        "Containers": containers,
        "Options": dict(network.options),
        "Labels": dict(network.labels),
    }
    if with_containers and drivers.of(network).cluster_scoped:
        # a host's name as Docker's node name: its hostname (its id when it gave none)
        document["Peers"] = [
            {"Name": host.name or host.host_id, "IP": str(host.address)} for host in peers
        ]
    return document


# --- containers: create -------------------------------------------------------------------------


def _devices(value: Json) -> tuple[DeviceMapping, ...]:
    """HostConfig.Devices: a container path defaults to the host's, permissions to rwm."""
    found = []
    for device in value.array():
        host = device["PathOnHost"].string()
        if not host:
            raise InvalidArgument(f"{device.path}.PathOnHost is empty: no device to add")
        inside = device["PathInContainer"].string() or host
        found.append(DeviceMapping(host, inside, device["CgroupPermissions"].string() or "rwm"))
    return tuple(found)


def _paths(value: Json) -> tuple[str, ...] | None:
    """MaskedPaths and ReadonlyPaths: null is Docker's list, [] is none."""
    return None if value.value is None else value.strings()


def security_of(host: Json) -> Security:
    return Security(
        cap_add=host["CapAdd"].strings(one_or_many=True),
        cap_drop=host["CapDrop"].strings(one_or_many=True),
        privileged=host["Privileged"].boolean(),
        security_opt=host["SecurityOpt"].strings(),
        read_only=host["ReadonlyRootfs"].boolean(),
        sysctls=MappingProxyType(host["Sysctls"].string_map()),
        devices=_devices(host["Devices"]),
        device_cgroup_rules=host["DeviceCgroupRules"].strings(),
        masked_paths=_paths(host["MaskedPaths"]),
        readonly_paths=_paths(host["ReadonlyPaths"]),
        oom_score_adj=host["OomScoreAdj"].integer() or 0,
    )


def resources_of(host: Json) -> Resources:
    """HostConfig's limits; a PidsLimit of 0 or -1 is none."""
    return Resources(
        memory=host["Memory"].integer() or 0,
        memory_swap=host["MemorySwap"].integer() or 0,
        nano_cpus=host["NanoCpus"].integer() or 0,
        cpu_shares=host["CpuShares"].integer() or 0,
        cpu_period=host["CpuPeriod"].integer() or 0,
        cpu_quota=host["CpuQuota"].integer() or 0,
        pids_limit=max(host["PidsLimit"].integer() or 0, 0),
        ulimits=tuple(
            Ulimit(u["Name"].string(), u["Soft"].integer() or 0, u["Hard"].integer() or 0)
            for u in host["Ulimits"].array()
        ),
        shm_size=host["ShmSize"].integer() or 0,
    )


def update_request(body: Json) -> UpdateRequest:
    """POST /containers/{id}/update: Resources and RestartPolicy (null: unchanged)."""
    limits = resources_of(body)
    return UpdateRequest(
        resources=dataclasses.replace(limits, pids_limit=0),
        pids_limit=body["PidsLimit"].integer(),
        restart_policy=_restart_policy(body["RestartPolicy"]) if "RestartPolicy" in body else None,
    )


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


def _restart_policy(policy: Json) -> RestartPolicy:
    return RestartPolicy(
        name=policy["Name"].string(),
        maximum_retry_count=policy["MaximumRetryCount"].integer() or 0,
    )


def optional_string_map(value: Json) -> MappingProxyType[str, str] | None:
    """An object of strings where null (which Docker echoes) is not {}."""
    return None if value.value is None else MappingProxyType(value.string_map())


def mount_spec(doc: Json) -> MountSpec:
    """One entry of HostConfig.Mounts (Go's mount.Mount); a null option struct is absent."""
    binds, volumes, tmpfs = doc["BindOptions"], doc["VolumeOptions"], doc["TmpfsOptions"]
    driver = volumes["DriverConfig"]
    return MountSpec(
        type=doc["Type"].string(),
        source=doc["Source"].string(),
        target=doc["Target"].string(),
        read_only=doc["ReadOnly"].boolean(),
        consistency=doc["Consistency"].string(),
        bind_propagation=None if binds.value is None else binds["Propagation"].string(),
        bind_non_recursive=binds["NonRecursive"].boolean(),
        volume_no_copy=None if volumes.value is None else volumes["NoCopy"].boolean(),
        volume_labels=MappingProxyType(volumes["Labels"].string_map()),
        volume_driver=driver["Name"].string(),
        volume_driver_options=MappingProxyType(driver["Options"].string_map()),
        tmpfs_size=None if tmpfs.value is None else tmpfs["SizeBytes"].integer() or 0,
        tmpfs_mode=tmpfs["Mode"].integer() or 0,
    )


def mount_spec_json(spec: MountSpec) -> dict[str, Any]:
    """Go's mount.Mount, every field `omitempty`."""
    doc: dict[str, Any] = {"Type": spec.type, "Source": spec.source, "Target": spec.target}
    doc.update(ReadOnly=spec.read_only, Consistency=spec.consistency)
    if spec.has_bind_options:
        doc["BindOptions"] = {
            "Propagation": spec.bind_propagation,
            "NonRecursive": spec.bind_non_recursive,
        }
    if spec.has_volume_options:
        driver = {"Name": spec.volume_driver, "Options": dict(spec.volume_driver_options)}
        doc["VolumeOptions"] = {
            "NoCopy": spec.volume_no_copy,
            "Labels": dict(spec.volume_labels),
            "DriverConfig": {k: v for k, v in driver.items() if v} or None,
        }
    if spec.has_tmpfs_options:
        doc["TmpfsOptions"] = {"SizeBytes": spec.tmpfs_size, "Mode": spec.tmpfs_mode}
    return _omit_empty(doc)


def _omit_empty(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        k: _omit_empty(v) if isinstance(v, dict) else v
        for k, v in doc.items()
        if v not in (None, "", False, 0, {}, [])
    }


def mount_point_json(point: MountPoint, volume_path: str) -> dict[str, Any]:
    """Docker's types.MountPoint (inspect's and the list's `Mounts`)."""
    doc: dict[str, Any] = {"Type": point.type}
    if point.name:
        doc["Name"] = point.name
    doc["Source"] = volume_path if point.type == VOLUME else point.source
    doc["Destination"] = point.destination
    if point.driver:
        doc["Driver"] = point.driver
    doc.update(Mode=point.mode, RW=point.rw, Propagation=point.propagation)
    return doc


def volume_json(volume: Volume, mountpoint: str) -> dict[str, Any]:
    return {
        "CreatedAt": volume.created,
        "Driver": volume.driver,
        "Labels": None if volume.labels is None else dict(volume.labels),
        "Mountpoint": mountpoint,
        "Name": volume.name,
        "Options": None if volume.options is None else dict(volume.options),
        "Scope": "local",
    }


def create_request(body: Json, name: str, run_pending: bool = False) -> CreateRequest:
    host = body["HostConfig"]
    image = body["Image"].string()
    if not image:
        raise InvalidArgument("No image specified")
    stop_signal = body["StopSignal"].string() or "SIGTERM"
    signal_number(stop_signal)  # refused now, as Docker does, not at the first stop
    exposed = body["ExposedPorts"].entries()
    for value in exposed.values():
        value.entries()  # Docker's struct{}: an object or null
    bindings = {
        port: [
            {"HostIp": b["HostIp"].string(), "HostPort": b["HostPort"].string()}
            for b in value.array()
        ]
        for port, value in host["PortBindings"].entries().items()
    }
    # -P is decided at start, when the image's exposed ports are known
    ports = mappings_from_api(bindings, exposed, False)
    mac = body["MacAddress"].string()
    config = ContainerConfig(
        image=image,
        cmd=body["Cmd"].strings(one_or_many=True),
        entrypoint=body["Entrypoint"].strings(one_or_many=True),
        env=body["Env"].strings(),
        workdir=body["WorkingDir"].string(),
        hostname=body["Hostname"].string(),
        domainname=body["Domainname"].string(),
        tty=body["Tty"].boolean(),
        open_stdin=body["OpenStdin"].boolean(),
        stdin_once=body["StdinOnce"].boolean(),
        network_mode=host["NetworkMode"].string() or "default",
        network_disabled=body["NetworkDisabled"].boolean(),
        dns=host["Dns"].strings(),
        dns_search=host["DnsSearch"].strings(),
        dns_options=host["DnsOptions"].strings(),
        extra_hosts=host["ExtraHosts"].strings(),
        auto_remove=host["AutoRemove"].boolean(),
        labels=MappingProxyType(body["Labels"].string_map()),
        ports=ports,
        publish_all=host["PublishAllPorts"].boolean(),
        exposed_ports=tuple(sorted(exposed)),
        stop_signal=stop_signal,
        stop_timeout=body["StopTimeout"].integer(),
        user=body["User"].string(),
        group_add=host["GroupAdd"].strings(),
        init=host["Init"].boolean() if "Init" in host else None,
        healthcheck=config_from_json(body["Healthcheck"].value),
        restart_policy=_restart_policy(host["RestartPolicy"]),
        mac_address=parse_mac(mac) if mac else "",
        binds=host["Binds"].strings(),
        mount_specs=tuple(mount_spec(m) for m in host["Mounts"].array()),
        tmpfs=MappingProxyType(host["Tmpfs"].string_map()),
        volumes_from=host["VolumesFrom"].strings(),
        volume_driver=host["VolumeDriver"].string(),
        volumes=tuple(body["Volumes"].entries()),
        security=security_of(host),
        resources=resources_of(host),
    )
    networking = body["NetworkingConfig"]["EndpointsConfig"].entries()
    endpoints = tuple(endpoint_request(net, ep) for net, ep in networking.items())
    return CreateRequest(
        config=config,
        name=name or None,
        endpoints=endpoints,
        links=host["Links"].strings(),
        run_pending=run_pending,
    )


def exec_spec(body: Json) -> ExecSpec:
    keys = body["DetachKeys"].string()
    return ExecSpec(
        detach_keys=detach_keys.from_request(keys, "escape") if keys else b"",
        argv=body["Cmd"].strings(),
        env=body["Env"].strings(),
        workdir=body["WorkingDir"].string(),
        tty=body["Tty"].boolean(),
        user=body["User"].string(),
        privileged=body["Privileged"].boolean(),
        attach_stdin=body["AttachStdin"].boolean(),
        attach_stdout=body["AttachStdout"].boolean(True),
        attach_stderr=body["AttachStderr"].boolean(True),
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
    ipam_config: dict[str, Any] | None = None
    if cfg is not None and (cfg.joined_later or cfg.requested_addresses or cfg.link_local_ips):
        asked = (("IPv4Address", cfg.ipv4), ("IPv6Address", cfg.ipv6))
        ipam_config = {key: str(address) for key, address in asked if address is not None}
        if cfg.link_local_ips:
            ipam_config["LinkLocalIPs"] = [str(address) for address in cfg.link_local_ips]
    return {
        "IPAMConfig": ipam_config,
        "Links": list(cfg.links) if cfg is not None and cfg.links else None,
        "Aliases": aliases,
        "NetworkID": network_id,
        "EndpointID": ep.endpoint_id if ep else "",
        "Gateway": str(ep.gateway) if ep and ep.gateway and ep.ipv4 else "",
        "IPAddress": str(ep.ipv4) if ep and ep.ipv4 else "",
        "IPPrefixLen": ep.prefixlen if ep and ep.ipv4 else 0,
        "IPv6Gateway": str(ep.gateway6) if ep and ep.gateway6 and ep.ipv6 else "",
        "GlobalIPv6Address": str(ep.ipv6) if ep and ep.ipv6 else "",
        "GlobalIPv6PrefixLen": ep.prefixlen6 if ep and ep.ipv6 else 0,
        "MacAddress": ep.mac if ep else (cfg.mac if cfg is not None else ""),
        "DriverOpts": _driver_opts_json(cfg),
    }


def _host_ips(mapping: PortMapping) -> tuple[str, ...]:
    """Where a held port is, as Docker shows it: no host address is 0.0.0.0 and `::`."""
    return ("0.0.0.0", "::") if mapping.host_ip is None else (str(mapping.host_ip),)


def _driver_opts_json(cfg: EndpointConfig | None) -> dict[str, str] | None:
    """As asked; Docker shows null for a network given at create without any, {} for one
    joined later."""
    if cfg is None:
        return None
    if cfg.driver_opts:
        return dict(cfg.driver_opts)
    return {} if cfg.joined_later else None


def ports_json(container: Container, published: Sequence[PortMapping]) -> dict[str, Any]:
    ports: dict[str, Any] = dict.fromkeys(container.config.exposed_ports)
    for mapping in published:
        if ports.get(mapping.key) is None:
            ports[mapping.key] = []
        ports[mapping.key] += [
            {"HostIp": ip, "HostPort": str(mapping.host_port)} for ip in _host_ips(mapping)
        ]
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


def mounts_json(container: Container, volume_path: Callable[[str], str]) -> list[dict[str, Any]]:
    points = sorted(container.mounts, key=lambda p: p.destination)
    return [mount_point_json(p, volume_path(p.name)) for p in points]


def container_config_json(container: Container) -> dict[str, Any]:
    """The container's Config as inspect shows it (and `commit` starts from)."""
    cfg = container.config
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
        "Volumes": {path: {} for path in cfg.volumes} or None,
    }
    if cfg.healthcheck is not None:
        config["Healthcheck"] = health_config_json(cfg.healthcheck)
    if cfg.mac_address:
        config["MacAddress"] = cfg.mac_address
    if cfg.network_disabled:
        config["NetworkDisabled"] = True  # omitempty in Docker's container.Config
    return config


def container_json(
    container: Container,
    state: State,
    *,
    log_path: str,
    files_dir: str,
    sandbox_dir: str,
    volume_path: Callable[[str], str],
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
    # `--net container:` and Config.NetworkDisabled make no sandbox: Docker shows none, no
    # ports and (NetworkDisabled) no hosts or resolv.conf file of its own
    sandboxed = run.status == RUNNING and not joins and not cfg.network_disabled
    sandbox_key = ""
    if sandboxed:
        sandbox_key = f"{sandbox_dir}/default" if host_mode else container.netns
    sandbox_id = container.id if sandboxed else ""
    own_files = not cfg.network_disabled
    argv = cfg.argv
    state_json: dict[str, Any] = {
        "Status": run.shown_status,
        # Docker counts a container waiting for its restart as running (stop, rm, wait)
        "Running": run.status in (RUNNING, RESTARTING),
        "Paused": run.paused,
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
    config = container_config_json(container)
    return {
        "Id": container.id,
        "Created": container.created,
        "Path": argv[0] if argv else "",
        "Args": list(argv[1:]),
        "State": state_json,
        "Image": cfg.image_id or cfg.image,
        "ResolvConfPath": f"{files_dir}/resolv.conf" if own_files else "",
        "HostnamePath": f"{files_dir}/hostname",
        "HostsPath": f"{files_dir}/hosts" if own_files else "",
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
            "Links": links.shown(state, container) or None,
            "RestartPolicy": {
                "Name": cfg.restart_policy.name,
                "MaximumRetryCount": cfg.restart_policy.maximum_retry_count,
            },
            "LogConfig": {"Type": "json-file", "Config": {}},
            "IpcMode": "private",
            "GroupAdd": list(cfg.group_add) or None,
            "Init": cfg.init,
            "Binds": list(cfg.binds) or None,
            "VolumeDriver": cfg.volume_driver,
            "VolumesFrom": list(cfg.volumes_from) or None,
            "Mounts": [mount_spec_json(m) for m in cfg.mount_specs] or None,
            "Tmpfs": dict(cfg.tmpfs) or None,
            **_security_json(cfg.security),
            **_resources_json(cfg.resources),
        },
        "Mounts": mounts_json(container, volume_path),
        "Config": config,
        "NetworkSettings": {
            "Bridge": "",
            "SandboxID": sandbox_id,
            "HairpinMode": False,
            "LinkLocalIPv6Address": "",
            "LinkLocalIPv6PrefixLen": 0,
            "Ports": {} if joins or cfg.network_disabled else ports_json(container, published),
            "SandboxKey": sandbox_key,
            "SecondaryIPAddresses": None,
            "SecondaryIPv6Addresses": None,
            "EndpointID": top["EndpointID"] if top else "",
            "Gateway": top["Gateway"] if top else "",
            "GlobalIPv6Address": top["GlobalIPv6Address"] if top else "",
            "GlobalIPv6PrefixLen": top["GlobalIPv6PrefixLen"] if top else 0,
            "IPAddress": top["IPAddress"] if top else "",
            "IPPrefixLen": top["IPPrefixLen"] if top else 0,
            "IPv6Gateway": top["IPv6Gateway"] if top else "",
            "MacAddress": top["MacAddress"] if top else "",
            "Networks": networks,
        },
    }


def _security_json(security: Security) -> dict[str, Any]:
    """As asked; the masked and read-only paths as they apply (Docker's lists by default,
    none for a privileged container)."""
    privileged = security.privileged
    masked, readonly = security.masked_paths, security.readonly_paths
    if masked is None and not privileged:
        masked = DEFAULT_MASKED_PATHS
    if readonly is None and not privileged:
        readonly = DEFAULT_READONLY_PATHS
    doc: dict[str, Any] = {
        "CapAdd": list(security.cap_add) or None,
        "CapDrop": list(security.cap_drop) or None,
        "Privileged": privileged,
        "SecurityOpt": list(security.security_opt) or None,
        "ReadonlyRootfs": security.read_only,
        "Devices": [
            {
                "PathOnHost": d.path_on_host,
                "PathInContainer": d.path_in_container,
                "CgroupPermissions": d.permissions,
            }
            for d in security.devices
        ],
        "DeviceCgroupRules": list(security.device_cgroup_rules) or None,
        "OomScoreAdj": security.oom_score_adj,
        "MaskedPaths": None if masked is None else list(masked),
        "ReadonlyPaths": None if readonly is None else list(readonly),
    }
    if security.sysctls:
        doc["Sysctls"] = dict(security.sysctls)
    return doc


def _resources_json(resources: Resources) -> dict[str, Any]:
    return {
        "Memory": resources.memory,
        "MemorySwap": resources.memory_swap,
        "NanoCpus": resources.nano_cpus,
        "CpuShares": resources.cpu_shares,
        "CpuPeriod": resources.cpu_period,
        "CpuQuota": resources.cpu_quota,
        "PidsLimit": resources.pids_limit or None,
        "Ulimits": [{"Name": u.name, "Hard": u.hard, "Soft": u.soft} for u in resources.ulimits]
        or None,
        "ShmSize": resources.shm_size,
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
    container: Container,
    state: State,
    volume_path: Callable[[str], str],
    published: Sequence[PortMapping] = (),
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
        "Names": ["/" + container.name, *links.names_of(state, container)],
        "Image": cfg.image,
        "ImageID": cfg.image_id,
        "Command": " ".join(cfg.argv),
        "Created": int(parse_rfc3339(container.created)),
        "Ports": [
            {
                "IP": ip,
                "PrivatePort": m.container_port,
                "PublicPort": m.host_port,
                "Type": m.protocol,
            }
            for m in published
            for ip in _host_ips(m)
        ],
        "Labels": dict(cfg.labels),
        "State": container.state.shown_status,
        "Status": _status(container),
        "StartedAt": container.state.started_at,
        "FinishedAt": container.state.finished_at,
        "ExitCode": container.state.exit_code,
        "HostConfig": {"NetworkMode": cfg.network_mode},
        "NetworkSettings": {"Networks": networks},
        "Mounts": mounts_json(container, volume_path),
    }


def _status(container: Container) -> str:
    """`Up 5 minutes (healthy)`, `Restarting (1) 2 seconds ago`, `Exited (0) …`."""
    run = container.state
    text = status_text(run.status, run.started_at, run.finished_at, run.exit_code, time.time())
    if not run.running:
        return text
    if run.paused:
        return text + " (Paused)"
    # a running container whose network could not be repaired (engine/repair.py)
    damaged = " (network damaged)" if run.error else ""
    return text + status_suffix(run.health) + damaged


# --- containers: stats ----------------------------------------------------------------------

_BLKIO_KEYS = (
    "io_service_bytes_recursive",
    "io_serviced_recursive",
    "io_queue_recursive",
    "io_service_time_recursive",
    "io_wait_time_recursive",
    "io_merged_recursive",
    "io_time_recursive",
    "sectors_recursive",
)


def stats_json(
    container: Container, sample: Sample | None, previous: Sample | None
) -> dict[str, Any]:
    """Docker's stats document (types.StatsJSON) of `sample`, `previous` being the sample before
    it (precpu_stats); without a sample, the empty one Docker answers for a container that is
    not running. Fields Go leaves out when empty are left out."""
    cgroup = sample.cgroup if sample is not None else None
    pids = sample.processes if sample is not None else 0
    if cgroup is not None and cgroup.pids is not None:
        pids = cgroup.pids
    io = cgroup.io if cgroup is not None else ()
    doc: dict[str, Any] = {
        "read": rfc3339(sample.read_ns) if sample is not None else ZERO_TIME,
        "preread": rfc3339(previous.read_ns) if previous is not None else ZERO_TIME,
        "pids_stats": {"current": pids} if pids else {},
        "blkio_stats": {
            **dict.fromkeys(_BLKIO_KEYS),
            "io_service_bytes_recursive": [
                {"major": b.major, "minor": b.minor, "op": b.op, "value": b.value} for b in io
            ]
            or None,
        },
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": _cpu_json(sample),
        "precpu_stats": _cpu_json(previous),
        "memory_stats": _memory_json(cgroup),
        "name": "/" + container.name,
        "id": container.id,
    }
    if sample is not None and sample.networks:
        doc["networks"] = {name: dict(vars(counters)) for name, counters in sample.networks.items()}
    return doc


def _cpu_json(sample: Sample | None) -> dict[str, Any]:
    cgroup = (sample.cgroup if sample is not None else None) or CgroupUsage()
    usage: dict[str, Any] = {"total_usage": cgroup.cpu_total_ns}
    if cgroup.percpu_ns:
        usage["percpu_usage"] = list(cgroup.percpu_ns)
    usage["usage_in_kernelmode"] = cgroup.cpu_kernel_ns
    usage["usage_in_usermode"] = cgroup.cpu_user_ns
    doc: dict[str, Any] = {"cpu_usage": usage}
    if sample is not None:
        doc["system_cpu_usage"] = sample.system_cpu_ns
        doc["online_cpus"] = sample.online_cpus
    periods, throttled, throttled_ns = cgroup.throttling
    doc["throttling_data"] = {
        "periods": periods,
        "throttled_periods": throttled,
        "throttled_time": throttled_ns,
    }
    return doc


def _memory_json(cgroup: CgroupUsage | None) -> dict[str, Any]:
    memory = cgroup.memory if cgroup is not None else None
    if memory is None:
        return {}
    doc: dict[str, Any] = {"usage": memory.usage}
    if memory.max_usage:
        doc["max_usage"] = memory.max_usage
    doc["stats"] = dict(memory.stats)
    if memory.failcnt:
        doc["failcnt"] = memory.failcnt
    doc["limit"] = memory.limit
    return doc
