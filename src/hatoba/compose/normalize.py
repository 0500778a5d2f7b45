"""A validated tree → the Project (model.py): hatoba's own checks, and what it does not support.

The schema has already said what is malformed; this module turns every value into its typed
form (and reports values the schema lets through but docker compose refuses: `'eighty' is not
a valid port`, `'5 sekunden' is not a duration`), checks references between services and
networks, orders services by their dependencies, and reports every key that the schema allows
but hatoba does not support, naming the key and the service: nothing is silently ignored.
It keeps going after a problem, so that one run reports all of them.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from hatoba.compose.errors import Path, Problems, Where
from hatoba.compose.model import (
    BIND,
    COMPLETED,
    CONTAINER_PREFIX,
    HEALTHY,
    STARTED,
    TMPFS,
    VOLUME,
    Dependency,
    Device,
    Healthcheck,
    IpamPool,
    Limits,
    Mount,
    Network,
    Pairs,
    Port,
    Project,
    RestartPolicy,
    Service,
    ServiceNetwork,
    Ulimit,
    Volume,
    float32,
)
from hatoba.compose.source import Map, Seq, place
from hatoba.compose.volumes import CONSISTENCIES, clean_target, host_path, parse_short
from hatoba.errors import InvalidArgument
from hatoba.model.knobs import ULIMIT_TYPES, check_ulimit, device_mode, ram_in_bytes
from hatoba.model.mounts import (
    PROPAGATIONS,
    check_destination,
    parse_volumes_from,
    tmpfs_mount_options,
)

# keys hatoba reads; any other key the schema allows is reported as not supported
_TOP_KEYS = {"version", "name", "services", "networks", "volumes"}
_SERVICE_KEYS = {
    "image", "build", "command", "entrypoint", "environment", "env_file", "hostname",
    "domainname", "extra_hosts", "dns", "dns_search", "dns_opt", "ports", "expose",
    "depends_on", "healthcheck", "restart", "deploy", "scale", "container_name", "labels",
    "init", "stop_signal", "stop_grace_period", "working_dir", "user", "tty", "stdin_open",
    "profiles", "networks", "network_mode", "pull_policy", "volumes", "tmpfs", "volumes_from",
    "cap_add", "cap_drop", "privileged", "sysctls", "read_only", "security_opt", "ulimits",
    "shm_size", "devices", "device_cgroup_rules", "oom_score_adj", "mem_limit",
    "memswap_limit", "cpus", "cpu_shares", "cpu_quota", "cpu_period", "pids_limit",
}  # fmt: skip
# keys whose HostConfig field the engine refuses: named with it, so the reason is plain
_ENGINE_REFUSED = {
    "cpuset": "HostConfig.CpusetCpus",
    "mem_reservation": "HostConfig.MemoryReservation",
    "mem_swappiness": "HostConfig.MemorySwappiness",
    "oom_kill_disable": "HostConfig.OomKillDisable",
    "cpu_count": "HostConfig.CpuCount",
    "cpu_percent": "HostConfig.CpuPercent",
    "cpu_rt_period": "HostConfig.CpuRealtimePeriod",
    "cpu_rt_runtime": "HostConfig.CpuRealtimeRuntime",
    "blkio_config": "HostConfig.Blkio*",
}
_DEPLOY_KEYS = {"replicas", "restart_policy", "resources"}
_RESOURCES_KEYS = {"limits", "reservations"}
# a limit of `deploy.resources.limits` and the service key that means the same (compose-go
# checks that both say the same)
_SERVICE_KEY_OF_LIMIT = {"cpus": "cpus", "memory": "mem_limit", "pids": "pids_limit"}
# docker compose sends only a memory reservation (the rest is swarm's): the engine refuses it
_RESERVATIONS_REFUSED = {"memory": "HostConfig.MemoryReservation"}
_INT64 = -(2**63)
_RESTART_POLICY_KEYS = {"condition", "max_attempts"}
_HEALTHCHECK_KEYS = {"test", "interval", "timeout", "retries", "start_period", "disable"}
_SERVICE_NETWORK_KEYS = {"aliases", "ipv4_address", "ipv6_address", "link_local_ips", "priority"}
_NETWORK_KEYS = {
    "name", "driver", "driver_opts", "ipam", "external", "internal", "labels", "enable_ipv6",
}  # fmt: skip
_IPAM_KEYS = {"driver", "config"}
_IPAM_CONFIG_KEYS = {"subnet", "gateway", "ip_range"}
_PORT_KEYS = {"target", "published", "host_ip", "protocol", "mode", "name", "app_protocol"}
_ENV_FILE_KEYS = {"path", "required"}
_MOUNT_KEYS = {"type", "source", "target", "read_only", "consistency", "bind", "volume", "tmpfs"}
_MOUNT_OPTION_KEYS = {
    BIND: {"propagation", "create_host_path", "selinux"},
    VOLUME: {"nocopy", "labels"},
    TMPFS: {"size", "mode"},
}
_VOLUME_KEYS = {"name", "driver", "driver_opts", "external", "labels"}

# pull policies that need no registry: the image is there, or the up fails saying so
_LOCAL_PULL_POLICIES = ("missing", "never", "if_not_present")
_PREDEFINED_DRIVERS = {"host": "host", "none": "none", "null": "none"}
# the drivers a project's own networks may have (their driver_opts are the engine's to check)
_NETWORK_DRIVERS = ("bridge", "macvlan")

_DURATION = re.compile(r"([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)")
_UNIT_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000}
_UNIT_NS |= {"s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
_TRUE = ("true", "yes", "on", "1", "y")
_FALSE = ("false", "no", "off", "0", "n")

# reads an env_file: (path relative to the project directory) → text, None if missing
ReadFile = Callable[[str], "str | None"]
Lookup = Callable[[str], "str | None"]


@dataclass
class Context:
    project_name: str
    working_dir: str
    config_files: tuple[str, ...]
    # values for `environment: [NAME]` without a value (the shell, then .env)
    lookup: Lookup
    read_env_file: Callable[[str, Where, Path, Problems], dict[str, str] | None]
    profiles: tuple[str, ...] = ()
    # services named on the command line: enabled whatever their profiles
    requested: tuple[str, ...] = ()
    warnings: list[str] = field(default_factory=list)
    # $HOME, for `~/…` host paths (read only when a file has one)
    home: Callable[[], str | None] = lambda: None


def normalize(tree: Map, ctx: Context, problems: Problems) -> Project:
    n = _Normalizer(tree, ctx, problems)
    return n.project()


class _Normalizer:
    def __init__(self, tree: Map, ctx: Context, problems: Problems) -> None:
        self.tree = tree
        self.ctx = ctx
        self.problems = problems

    # --- helpers --------------------------------------------------------------------------

    def bad(self, path: Path, message: str) -> None:
        self.problems.add(place(self.tree, path), path, message)

    def unsupported(
        self,
        value: dict[str, Any],
        path: Path,
        allowed: Iterable[str],
        owner: str,
        engine_refused: dict[str, str] = _ENGINE_REFUSED,
    ) -> None:
        """Report the keys hatoba does not read; one whose HostConfig field the engine
        refuses names that field."""
        for key in value:
            if key in allowed or key.startswith("x-"):
                continue
            message = f"`{key}` is not supported by hatoba{owner}"
            if key in engine_refused:
                message += f": its engine does not apply {engine_refused[key]} yet"
            self.bad((*path, key), message)

    def boolean(self, value: Any, path: Path, default: bool = False) -> bool:
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        self.bad(path, f"{value!r} is not a boolean")
        return default

    def integer(self, value: Any, path: Path, default: int = 0, minimum: int = 0) -> int:
        if value is None:
            return default
        try:
            number = value if isinstance(value, int) and not isinstance(value, bool) else None
            if number is None:
                number = int(str(value).strip())
        except ValueError:
            self.bad(path, f"{value!r} is not an integer")
            return default
        if number < minimum:
            self.bad(path, f"{number} must be at least {minimum}")
            return default
        return number

    def duration_ns(self, value: Any, path: Path) -> int:
        """Go's time.ParseDuration, as compose reads `30s`, `1m30s`, `1.5s`, `100ms`."""
        if value is None:
            return 0
        text = str(value).strip()
        total = 0.0
        pos = 0
        for match in _DURATION.finditer(text):
            if match.start() != pos or match.group(1) in ("", "."):
                break
            total += float(match.group(1)) * _UNIT_NS[match.group(2)]
            pos = match.end()
        if pos != len(text) or not text:
            if text == "0":
                return 0
            self.bad(path, f"{value!r} is not a duration (e.g. 30s, 1m30s, 500ms)")
            return 0
        return int(total)

    def strings(self, value: Any) -> tuple[str, ...]:
        """A string or a list of strings, as a tuple."""
        if value is None:
            return ()
        if isinstance(value, list):
            return tuple(_text(v) for v in value)
        return (_text(value),)

    def pairs(self, value: Any) -> dict[str, str | None]:
        """list_or_dict: `["K=V", "K"]` or `{K: V}`; None for a name with no value."""
        result: dict[str, str | None] = {}
        if isinstance(value, dict):
            for key, item in value.items():
                result[key] = None if item is None else _text(item)
        elif isinstance(value, list):
            for item in value:
                key, equals, text = _text(item).partition("=")
                result[key] = text if equals else None
        return result

    # --- the project ----------------------------------------------------------------------

    def project(self) -> Project:
        tree = self.tree
        self.unsupported(tree, (), _TOP_KEYS, "")
        if "version" in tree:
            self.ctx.warnings.append("the attribute `version` is obsolete, it will be ignored")
        raw_services = tree.get("services")
        if not isinstance(raw_services, dict) or not raw_services:
            self.bad(("services",), "no service is defined")
            raw_services = {}
        raw_networks = tree.get("networks") if isinstance(tree.get("networks"), dict) else {}
        assert isinstance(raw_networks, dict)
        raw_volumes = tree.get("volumes") if isinstance(tree.get("volumes"), dict) else {}
        assert isinstance(raw_volumes, dict)
        volumes = {key: self.volume(key, raw) for key, raw in raw_volumes.items()}
        services = {
            name: self.service(name, raw, raw_networks, volumes)
            for name, raw in raw_services.items()
            if isinstance(raw, dict)
        }
        enabled = self.enabled(services)
        self.check_references(services, enabled)
        ordered = self.dependency_order(services, enabled)
        used_keys = dict.fromkeys(n.key for s in ordered for n in s.networks)
        networks = tuple(self.network(key, raw_networks.get(key)) for key in used_keys)
        mounted = dict.fromkeys(m.source for s in ordered for m in s.volumes if m.name)
        return Project(
            name=self.ctx.project_name,
            working_dir=self.ctx.working_dir,
            config_files=self.ctx.config_files,
            services=tuple(ordered),
            networks=networks,
            volumes=tuple(volumes[key] for key in mounted),
            disabled=tuple(name for name in services if name not in enabled),
            warnings=tuple(self.ctx.warnings),
        )

    def enabled(self, services: dict[str, Service]) -> set[str]:
        active = set(self.ctx.profiles)
        wanted = {
            name
            for name, s in services.items()
            if not s.profiles
            or "*" in active
            or active & set(s.profiles)
            or name in self.ctx.requested
        }
        # what an enabled service needs is enabled too, whatever its profiles
        todo = list(wanted)
        while todo:
            service = services[todo.pop()]
            needs = [d.service for d in service.depends_on]
            if service.shares_network_of:
                needs.append(service.shares_network_of)
            for name in needs:
                if name in services and name not in wanted:
                    wanted.add(name)
                    todo.append(name)
        return wanted

    def check_references(self, services: dict[str, Service], enabled: set[str]) -> None:
        for name in sorted(enabled):
            service = services[name]
            shares_volumes = set()
            for i, spec in enumerate(service.volumes_from):
                source = _volumes_source(spec)
                shares_volumes.add(source)
                if source and source not in services:
                    self.bad(
                        ("services", name, "volumes_from", i),
                        f"service {name!r} mounts the volumes of undefined service {source!r}",
                    )
            for dep in service.depends_on:
                if dep.service not in services and dep.service not in shares_volumes:
                    self.bad(
                        ("services", name, "depends_on", dep.service),
                        f"service {name!r} depends on undefined service {dep.service!r}",
                    )
            shared = service.shares_network_of
            if shared and shared not in services:
                self.bad(
                    ("services", name, "network_mode"),
                    f"service {name!r} shares the network of undefined service {shared!r}",
                )
            if service.container_name and service.replicas > 1:
                self.bad(
                    ("services", name, "container_name"),
                    f"service {name!r} has the container name {service.container_name!r} and "
                    f"{service.replicas} replicas: a name is unique, remove it to scale",
                )

    def dependency_order(self, services: dict[str, Service], enabled: set[str]) -> list[Service]:
        ordered: list[Service] = []
        state: dict[str, str] = {}

        def visit(name: str, trail: list[str]) -> None:
            if state.get(name) == "done" or name not in services:
                return
            if state.get(name) == "visiting":
                cycle = " -> ".join([*trail[trail.index(name) :], name])
                self.bad(("services", name), f"dependency cycle detected: {cycle}")
                return
            state[name] = "visiting"
            service = services[name]
            needs = [d.service for d in service.depends_on]
            if service.shares_network_of:
                needs.append(service.shares_network_of)
            for dep in needs:
                visit(dep, [*trail, name])
            state[name] = "done"
            if name in enabled:
                ordered.append(service)

        for name in services:
            visit(name, [])
        return ordered

    # --- services -------------------------------------------------------------------------

    def service(
        self,
        name: str,
        raw: dict[str, Any],
        raw_networks: dict[str, Any],
        volumes: dict[str, Volume],
    ) -> Service:
        path: Path = ("services", name)
        owner = f" (service {name})"
        self.unsupported(raw, path, _SERVICE_KEYS, owner)
        image = _text(raw.get("image") or "")
        build = "build" in raw and raw.get("build") is not None
        if not image:
            if build:
                # the name docker compose gives the image it builds
                image = f"{self.ctx.project_name}-{name}"
            else:
                self.bad(path, f"service {name!r} has neither an image nor a build context")
        policy = raw.get("pull_policy")
        if policy is not None and policy not in _LOCAL_PULL_POLICIES:
            self.bad(
                (*path, "pull_policy"),
                f"pull_policy {policy!r} needs a registry, which hatoba has none of{owner}",
            )
        network_mode, networks = self.service_networks(name, raw, raw_networks)
        replicas, restart = self.deploy(raw, path, owner)
        volumes_from = self.volumes_from(raw.get("volumes_from"), (*path, "volumes_from"))
        depends_on = self.depends_on(raw.get("depends_on"), (*path, "depends_on"), owner)
        # the services whose volumes it mounts start first (compose-go adds the dependency)
        needed = [_volumes_source(spec) for spec in volumes_from]
        depends_on += tuple(
            Dependency(source, STARTED, required=True, restart=False)
            for source in dict.fromkeys(needed)
            if source and source not in {d.service for d in depends_on}
        )
        return Service(
            name=name,
            image=image,
            build=build,
            command=self.command(raw, (*path, "command")),
            entrypoint=self.command(raw, (*path, "entrypoint")),
            environment=self.environment(raw, path),
            hostname=_text(raw.get("hostname") or ""),
            domainname=_text(raw.get("domainname") or ""),
            extra_hosts=self.extra_hosts(raw.get("extra_hosts"), (*path, "extra_hosts")),
            dns=self.strings(raw.get("dns")),
            dns_search=self.strings(raw.get("dns_search")),
            dns_opt=self.strings(raw.get("dns_opt")),
            ports=self.ports(raw.get("ports"), (*path, "ports"), owner),
            expose=self.expose(raw.get("expose"), (*path, "expose")),
            depends_on=depends_on,
            healthcheck=self.healthcheck(raw.get("healthcheck"), (*path, "healthcheck"), owner),
            restart=restart,
            replicas=replicas,
            container_name=_text(raw.get("container_name") or ""),
            labels=tuple((k, v or "") for k, v in self.pairs(raw.get("labels")).items()),
            init=None if raw.get("init") is None else self.boolean(raw["init"], (*path, "init")),
            stop_signal=_text(raw.get("stop_signal") or ""),
            stop_grace_period_s=(
                None
                if raw.get("stop_grace_period") is None
                else self.duration_ns(raw["stop_grace_period"], (*path, "stop_grace_period"))
                // 10**9
            ),
            working_dir=_text(raw.get("working_dir") or ""),
            user=_text(raw.get("user") or ""),
            tty=self.boolean(raw.get("tty"), (*path, "tty")),
            stdin_open=self.boolean(raw.get("stdin_open"), (*path, "stdin_open")),
            profiles=self.strings(raw.get("profiles")),
            networks=networks,
            network_mode=network_mode,
            volumes=self.mounts(name, raw.get("volumes"), (*path, "volumes"), volumes),
            tmpfs=self.tmpfs(raw.get("tmpfs"), (*path, "tmpfs")),
            volumes_from=volumes_from,
            **self.knobs(raw, path, owner),
        )

    def knobs(self, raw: dict[str, Any], path: Path, owner: str) -> dict[str, Any]:
        """Service fields for capabilities, kernel settings, devices and limits, read as
        compose-go reads them (the engine checks names and ranges at create)."""
        sysctls = self.pairs(raw.get("sysctls"))
        fields: dict[str, Any] = {
            "cap_add": tuple(dict.fromkeys(self.strings(raw.get("cap_add")))),
            "cap_drop": tuple(dict.fromkeys(self.strings(raw.get("cap_drop")))),
            "privileged": self.boolean(raw.get("privileged"), (*path, "privileged")),
            "sysctls": tuple((k, v or "") for k, v in sysctls.items()),
            "read_only": self.boolean(raw.get("read_only"), (*path, "read_only")),
            "security_opt": self.security_opt(raw.get("security_opt"), (*path, "security_opt")),
            "ulimits": self.ulimits(raw.get("ulimits"), (*path, "ulimits")),
            "devices": self.devices(raw.get("devices"), (*path, "devices")),
            "device_cgroup_rules": self.strings(raw.get("device_cgroup_rules")),
            "cpus": self.cpus(raw.get("cpus"), (*path, "cpus")),
            "limits": self.limits(raw.get("deploy"), (*path, "deploy"), owner),
        }
        for key in ("shm_size", "mem_limit", "memswap_limit"):
            fields[key] = self.size(raw.get(key), (*path, key))
        for key in ("oom_score_adj", "cpu_shares", "cpu_quota", "cpu_period", "pids_limit"):
            fields[key] = self.integer(raw.get(key), (*path, key), minimum=_INT64)
        limits = fields["limits"]
        for limit_key, key in _SERVICE_KEY_OF_LIMIT.items():
            # compose-go compares them when the service sets its key and deploy has limits
            # (its cpus as float32s): a limit deploy leaves out is 0, and differs
            mine, deployed = fields[key], getattr(limits, limit_key, None)
            if key == "cpus" and deployed is not None:
                mine, deployed = float32(mine), float32(deployed)
            if mine and deployed is not None and mine != deployed:
                self.bad(
                    (*path, key),
                    f"can't set distinct values on '{key}' and "
                    f"'deploy.resources.limits.{limit_key}'",
                )
        return fields

    def security_opt(self, value: Any, path: Path) -> tuple[str, ...]:
        """docker compose's parseSecurityOpts: `NAME=VALUE`, `NAME:VALUE` or
        no-new-privileges (the engine reads what each asks)."""
        entries = self.strings(value)
        for i, entry in enumerate(entries):
            if "=" not in entry and ":" not in entry and entry != "no-new-privileges":
                self.bad((*path, i), f'invalid security-opt: "{entry}"')
        return entries

    def ulimits(self, value: Any, path: Path) -> tuple[Ulimit, ...]:
        """A number is both limits; `{soft, hard}` each (one left out is 0, as compose-go)."""
        result = []
        for name, limit in sorted(value.items()) if isinstance(value, dict) else ():
            entry_path: Path = (*path, name)
            if isinstance(limit, dict):
                soft = self.integer(limit.get("soft"), (*entry_path, "soft"), minimum=-1)
                hard = self.integer(limit.get("hard"), (*entry_path, "hard"), minimum=-1)
            else:
                soft = hard = self.integer(limit, entry_path, minimum=-1)
            try:
                if name not in ULIMIT_TYPES:
                    raise ValueError(f"invalid ulimit type: {name}")
                check_ulimit(soft, hard)
            except ValueError as exc:
                self.bad(entry_path, str(exc))
                continue
            result.append(Ulimit(name, soft, hard))
        return tuple(result)

    def devices(self, value: Any, path: Path) -> tuple[Device, ...]:
        """`HOST[:CONTAINER[:PERMISSIONS]]` split as docker compose 2.29 splits it, or
        `{source, target, permissions}`; the engine checks the paths."""
        result = []
        for i, item in enumerate(value if isinstance(value, list) else []):
            if isinstance(item, dict):
                source = _text(item.get("source") or "")
                target = _text(item.get("target") or "")
                permissions = _text(item.get("permissions") or "rwm")
            else:
                parts = _text(item).split(":")
                if len(parts) > 3 or not parts[0]:
                    self.bad((*path, i), f"{_text(item)!r} is not HOST[:CONTAINER[:PERMISSIONS]]")
                    continue
                source, target, permissions = [*parts, *("", "rwm")[len(parts) - 1 :]]
            if not device_mode(permissions):
                self.bad((*path, i), f"{permissions!r} is not device permissions (some of rwm)")
                continue
            result.append(Device(source, target or source, permissions))
        return tuple(dict.fromkeys(result))

    def cpus(self, value: Any, path: Path) -> float:
        """A number of CPUs (compose-go's float32, so `0.5` and `"0.5"` are the same)."""
        if value is None:
            return 0.0
        try:
            cpus = float(_text(value))
        except ValueError:
            self.bad(path, f"{value!r} is not a number of CPUs (e.g. 0.5, 2)")
            return 0.0
        if cpus < 0:
            self.bad(path, f"{cpus:g} CPUs: the number may not be negative")
            return 0.0
        return cpus

    def limits(self, deploy: Any, path: Path, owner: str) -> Limits | None:
        resources = deploy.get("resources") if isinstance(deploy, dict) else None
        if not isinstance(resources, dict):
            return None
        resources_path: Path = (*path, "resources")
        self.unsupported(resources, resources_path, _RESOURCES_KEYS, owner)
        reservations = resources.get("reservations")
        if isinstance(reservations, dict):
            reservations_path: Path = (*resources_path, "reservations")
            self.unsupported(reservations, reservations_path, (), owner, _RESERVATIONS_REFUSED)
        limits = resources.get("limits")
        if not isinstance(limits, dict):
            return None
        limits_path: Path = (*resources_path, "limits")
        self.unsupported(limits, limits_path, _SERVICE_KEY_OF_LIMIT, owner)
        return Limits(
            cpus=self.cpus(limits.get("cpus"), (*limits_path, "cpus")),
            memory=self.size(limits.get("memory"), (*limits_path, "memory")),
            pids=self.integer(limits.get("pids"), (*limits_path, "pids"), minimum=_INT64),
        )

    def command(self, raw: dict[str, Any], path: Path) -> tuple[str, ...] | None:
        value = raw.get(str(path[-1]))
        if value is None:
            return None
        if isinstance(value, list):
            return tuple(_text(v) for v in value)
        try:
            return tuple(shlex.split(_text(value)))
        except ValueError as exc:
            self.bad(path, f"{value!r} cannot be split into words: {exc}")
            return None

    def environment(self, raw: dict[str, Any], path: Path) -> Pairs:
        values: dict[str, str] = {}
        files = raw.get("env_file")
        items = files if isinstance(files, list) else ([files] if files is not None else [])
        for i, item in enumerate(items):
            item_path: Path = (
                (*path, "env_file", i) if isinstance(files, list) else (*path, "env_file")
            )
            file, required = item, True
            if isinstance(item, dict):
                self.unsupported(item, item_path, _ENV_FILE_KEYS, f" (service {path[-1]})")
                file = item.get("path")
                required = self.boolean(item.get("required"), (*item_path, "required"), True)
            found = self.ctx.read_env_file(
                _text(file), place(self.tree, item_path), item_path, self.problems
            )
            if found is None and required:
                self.bad(item_path, f"env file {file} not found")
            values.update(found or {})
        for key, value in self.pairs(raw.get("environment")).items():
            if value is None:
                value = self.ctx.lookup(key)
                if value is None:
                    values.pop(key, None)
                    continue
            values[key] = value
        return tuple(values.items())

    def extra_hosts(self, value: Any, path: Path) -> tuple[str, ...]:
        items: list[str] = []
        if isinstance(value, dict):
            for host, address in value.items():
                items += [f"{host}:{_text(a)}" for a in _listed(address)]
        elif isinstance(value, list):
            items = [_text(v) for v in value]
        result = []
        for i, item in enumerate(items):
            host, address = _split_host(item)
            if not host or not (address == "host-gateway" or _is_ip(address)):
                self.bad((*path, i), f"{item!r} is not HOST:IP (or HOST:host-gateway)")
                continue
            result.append(f"{host}:{address}")
        return tuple(dict.fromkeys(result))

    def ports(self, value: Any, path: Path, owner: str) -> tuple[Port, ...]:
        from hatoba.model.portspec import parse_publish

        result: list[Port] = []
        for i, item in enumerate(value if isinstance(value, list) else []):
            if isinstance(item, dict):
                port = self.long_port(item, (*path, i), owner)
                if port is not None:
                    result.append(port)
                continue
            spec = _text(item)
            try:
                _, bindings = parse_publish([spec])
            except InvalidArgument as exc:
                self.bad((*path, i), f"{spec!r} is not a valid port: {exc.message}")
                continue
            for key, binds in bindings.items():
                number, _, protocol = key.partition("/")
                result += (Port(int(number), protocol, b["HostIp"], b["HostPort"]) for b in binds)
        return tuple(dict.fromkeys(result))

    def long_port(self, item: dict[str, Any], path: Path, owner: str) -> Port | None:
        from hatoba.model.portspec import PROTOCOLS, parse_port_range

        self.unsupported(item, path, _PORT_KEYS, owner)
        target = _text(item.get("target", ""))
        published = _text(item.get("published") or "")
        protocol = _text(item.get("protocol") or "tcp").lower()
        host_ip = _text(item.get("host_ip") or "")
        try:
            start, end = parse_port_range(target)
            if start != end or start == 0:
                raise ValueError(target)
            if published:
                parse_port_range(published)
        except ValueError:
            self.bad(path, f"{target or published!r} is not a valid port")
            return None
        if protocol not in PROTOCOLS:
            self.bad((*path, "protocol"), f"{protocol!r} is not a protocol (tcp, udp, sctp)")
        if host_ip and not _is_ip(host_ip):
            self.bad((*path, "host_ip"), f"{host_ip!r} is not an IP address")
        return Port(start, protocol, host_ip, published)

    def expose(self, value: Any, path: Path) -> tuple[str, ...]:
        from hatoba.model.portspec import parse_expose

        result: list[str] = []
        for i, item in enumerate(value if isinstance(value, list) else []):
            try:
                result += parse_expose([_text(item)])
            except InvalidArgument as exc:
                self.bad((*path, i), f"{item!r} is not a valid port: {exc.message}")
        return tuple(dict.fromkeys(result))

    def depends_on(self, value: Any, path: Path, owner: str) -> tuple[Dependency, ...]:
        if isinstance(value, list):
            return tuple(Dependency(_text(v)) for v in value)
        result = []
        for name, cfg in (value or {}).items() if isinstance(value, dict) else ():
            cfg = cfg if isinstance(cfg, dict) else {}
            condition = _text(cfg.get("condition") or STARTED)
            if condition not in (STARTED, HEALTHY, COMPLETED):
                continue  # the schema reported it
            result.append(
                Dependency(
                    name,
                    condition,
                    required=self.boolean(cfg.get("required"), (*path, name, "required"), True),
                    restart=self.boolean(cfg.get("restart"), (*path, name, "restart")),
                )
            )
        return tuple(result)

    def healthcheck(self, value: Any, path: Path, owner: str) -> Healthcheck | None:
        if not isinstance(value, dict):
            return None
        self.unsupported(value, path, _HEALTHCHECK_KEYS, owner)
        if self.boolean(value.get("disable"), (*path, "disable")):
            return Healthcheck(test=("NONE",))
        raw_test = value.get("test")
        test: tuple[str, ...] = ()
        if isinstance(raw_test, str):
            test = ("CMD-SHELL", raw_test)
        elif isinstance(raw_test, list):
            test = tuple(_text(t) for t in raw_test)
            if test and test[0] not in ("NONE", "CMD", "CMD-SHELL"):
                self.bad((*path, "test"), "a test list starts with NONE, CMD or CMD-SHELL")
        return Healthcheck(
            test=test,
            interval_ns=self.duration_ns(value.get("interval"), (*path, "interval")),
            timeout_ns=self.duration_ns(value.get("timeout"), (*path, "timeout")),
            start_period_ns=self.duration_ns(value.get("start_period"), (*path, "start_period")),
            retries=self.integer(value.get("retries"), (*path, "retries")),
        )

    def deploy(self, raw: dict[str, Any], path: Path, owner: str) -> tuple[int, RestartPolicy]:
        deploy = raw.get("deploy") if isinstance(raw.get("deploy"), dict) else {}
        assert isinstance(deploy, dict)
        if isinstance(deploy, Map):
            self.unsupported(deploy, (*path, "deploy"), _DEPLOY_KEYS, owner)
        replicas = self.integer(raw.get("scale"), (*path, "scale"), 1)
        if deploy.get("replicas") is not None:
            replicas = self.integer(deploy["replicas"], (*path, "deploy", "replicas"), 1)
        restart = self.restart(raw.get("restart"), (*path, "restart"))
        policy = deploy.get("restart_policy")
        if isinstance(policy, Map):
            policy_path: Path = (*path, "deploy", "restart_policy")
            self.unsupported(policy, policy_path, _RESTART_POLICY_KEYS, owner)
            condition = _text(policy.get("condition") or "any")
            names = {"none": "no", "on-failure": "on-failure", "any": "always"}
            if condition not in names:
                self.bad(
                    (*policy_path, "condition"), f"{condition!r} must be none, on-failure or any"
                )
            restart = RestartPolicy(
                names.get(condition, "no"),
                self.integer(policy.get("max_attempts"), (*policy_path, "max_attempts")),
            )
        return replicas, restart

    def restart(self, value: Any, path: Path) -> RestartPolicy:
        if value is None:
            return RestartPolicy()
        text = _text(value)
        name, _, count = text.partition(":")
        if name not in ("no", "always", "on-failure", "unless-stopped") or (
            count and (name != "on-failure" or not count.isdigit())
        ):
            self.bad(path, f"{text!r} must be no, always, on-failure[:N] or unless-stopped")
            return RestartPolicy()
        return RestartPolicy(name, int(count or 0))

    def mounts(
        self, name: str, value: Any, path: Path, volumes: dict[str, Volume]
    ) -> tuple[Mount, ...]:
        by_target: dict[str, Mount] = {}
        for i, item in enumerate(value if isinstance(value, list) else []):
            item_path: Path = (*path, i)
            mount: Mount | None
            if isinstance(item, dict):
                mount = self.long_mount(item, item_path, f" (service {name})")
            else:
                try:
                    mount = parse_short(_text(item))
                except ValueError as exc:
                    self.bad(item_path, f"{_text(item)!r} is not a valid volume: {exc}")
                    continue
            if mount is not None:
                mount = self.resolved(mount, name, item_path, volumes)
            if mount is not None:
                # a later entry for the same target replaces the earlier one (compose-go's
                # EnforceUnicity: so an override file changes a mount)
                by_target[mount.target] = mount
        return tuple(by_target.values())

    def long_mount(self, item: dict[str, Any], path: Path, owner: str) -> Mount | None:
        self.unsupported(item, path, _MOUNT_KEYS, owner)
        kind = _text(item.get("type"))
        if kind not in _MOUNT_OPTION_KEYS:
            self.bad((*path, "type"), f"mount type {kind!r} is not supported by hatoba{owner}")
            return None
        target = _text(item.get("target") or "")
        source = _text(item.get("source") or "")
        if not target:
            self.bad(path, "service volume is missing a mount target")
            return None
        if kind == BIND and not source:
            self.bad(path, 'invalid mount config for type "bind": field Source must not be empty')
        if kind == TMPFS and source:
            self.bad(
                (*path, "source"),
                'invalid mount config for type "tmpfs": field Source must not be specified',
            )
        consistency = _text(item.get("consistency") or "")
        if consistency and consistency not in CONSISTENCIES:
            self.bad(
                (*path, "consistency"),
                f"{consistency!r} is not a consistency ({', '.join(CONSISTENCIES)})",
            )
        mount = Mount(
            kind,
            clean_target(target),
            source,
            read_only=self.boolean(item.get("read_only"), (*path, "read_only")),
            consistency=consistency,
        )
        for section, keys in _MOUNT_OPTION_KEYS.items():
            options = item.get(section)
            if not isinstance(options, dict):
                continue
            self.unsupported(options, (*path, section), keys, owner)
            if section != kind:
                self.ctx.warnings.append(
                    f"mount of type `{kind}` should not define `{section}` option"
                )
        own = item.get(kind) if isinstance(item.get(kind), dict) else {}
        assert isinstance(own, dict)
        own_path: Path = (*path, kind)
        if kind == BIND:
            propagation = _text(own.get("propagation") or "")
            if propagation and propagation not in PROPAGATIONS:
                self.bad(
                    (*own_path, "propagation"),
                    f"{propagation!r} is not a propagation ({', '.join(PROPAGATIONS)})",
                )
            create = self.boolean(own.get("create_host_path"), (*own_path, "create_host_path"))
            return replace(
                mount,
                propagation=propagation,
                selinux=_text(own.get("selinux") or ""),
                create_host_path=create,
            )
        if kind == VOLUME:
            return replace(
                mount,
                nocopy=self.boolean(own.get("nocopy"), (*own_path, "nocopy")),
                labels=tuple((k, v or "") for k, v in self.pairs(own.get("labels")).items()),
            )
        return replace(
            mount,
            size=self.size(own.get("size"), (*own_path, "size")),
            mode=self.file_mode(own.get("mode"), (*own_path, "mode")),
        )

    def resolved(
        self, mount: Mount, service: str, path: Path, volumes: dict[str, Volume]
    ) -> Mount | None:
        """A mount with its target checked, its host path made absolute and its volume
        named as the engine knows it."""
        try:
            check_destination(mount.target)
        except InvalidArgument as exc:
            self.bad(path, exc.message)
            return None
        if mount.type == BIND and mount.source:
            source = host_path(mount.source, self.ctx.working_dir, self.ctx.home())
            return replace(mount, source=source)
        if mount.type == VOLUME and mount.source:
            volume = volumes.get(mount.source)
            if volume is None:
                self.bad(
                    path,
                    f'service "{service}" refers to undefined volume {mount.source}: '
                    "invalid compose project",
                )
                return None
            return replace(mount, name=volume.name)
        return mount

    def size(self, value: Any, path: Path) -> int:
        """Bytes: a number, or go-units' `64m`, `1g`."""
        if value is None or isinstance(value, int):
            return value or 0
        try:
            return ram_in_bytes(_text(value))
        except ValueError:
            self.bad(path, f"{value!r} is not a size (e.g. 65536, 64m, 1g)")
            return 0

    def file_mode(self, value: Any, path: Path) -> int:
        """A number as it is, a string in octal (`"1777"`)."""
        if value is None or isinstance(value, int):
            return value or 0
        try:
            return int(_text(value), 8)
        except ValueError:
            self.bad(path, f"{value!r} is not a file mode in octal (e.g. 1777)")
            return 0

    def tmpfs(self, value: Any, path: Path) -> tuple[str, ...]:
        entries = self.strings(value)
        for i, entry in enumerate(entries):
            entry_path: Path = (*path, i) if isinstance(value, list) else path
            destination, _, options = entry.partition(":")
            try:
                check_destination(destination)
                tmpfs_mount_options(options)
            except InvalidArgument as exc:
                self.bad(entry_path, f"{entry!r} is not a valid tmpfs: {exc.message}")
        return tuple(dict.fromkeys(entries))

    def volumes_from(self, value: Any, path: Path) -> tuple[str, ...]:
        entries = self.strings(value)
        for i, entry in enumerate(entries):
            try:
                parse_volumes_from(entry.removeprefix(CONTAINER_PREFIX))
            except InvalidArgument as exc:
                self.bad((*path, i), f"{entry!r}: {exc.message}")
        return entries

    def service_networks(
        self, name: str, raw: dict[str, Any], raw_networks: dict[str, Any]
    ) -> tuple[str, tuple[ServiceNetwork, ...]]:
        path: Path = ("services", name)
        mode = _text(raw.get("network_mode") or "")
        value = raw.get("networks")
        if mode:
            if value is not None:
                self.bad(
                    (*path, "network_mode"),
                    f"service {name!r} declares both network_mode and networks",
                )
            kind, _, target = mode.partition(":")
            if mode not in ("host", "none", "bridge") and not (
                kind in ("service", "container") and target
            ):
                self.bad(
                    (*path, "network_mode"),
                    f"{mode!r} must be host, none, bridge, service:NAME or container:NAME",
                )
            return mode, ()
        entries: dict[str, Any] = {}
        if isinstance(value, list):
            entries = {_text(v): None for v in value}
        elif isinstance(value, dict):
            entries = dict(value)
        if not entries:
            entries = {"default": None}
        result = []
        for key, cfg in entries.items():
            entry_path: Path = (*path, "networks", key)
            if key != "default" and key not in raw_networks:
                self.bad(entry_path, f"service {name!r} refers to undefined network {key!r}")
            cfg = cfg if isinstance(cfg, Map) else Map()
            self.unsupported(cfg, entry_path, _SERVICE_NETWORK_KEYS, f" (service {name})")
            addresses = {}
            for version in (4, 6):
                field = f"ipv{version}_address"
                address = addresses[version] = _text(cfg.get(field) or "")
                if address and not _is_ip(address, version):
                    self.bad((*entry_path, field), f"{address!r} is not an IPv{version} address")
            result.append(
                ServiceNetwork(
                    key,
                    aliases=tuple(dict.fromkeys(self.strings(cfg.get("aliases")))),
                    ipv4_address=addresses[4],
                    ipv6_address=addresses[6],
                    link_local_ips=self.strings(cfg.get("link_local_ips")),
                    priority=self.integer(
                        cfg.get("priority"), (*entry_path, "priority"), minimum=-(2**31)
                    ),
                )
            )
        # docker compose's NetworksByPriority: highest priority first, then by name
        result.sort(key=lambda n: (-n.priority, n.key))
        return "", tuple(result)

    # --- networks -------------------------------------------------------------------------

    def network(self, key: str, raw: Any) -> Network:
        path: Path = ("networks", key)
        project = self.ctx.project_name
        if not isinstance(raw, dict):
            return Network(key, f"{project}_{key}")
        self.unsupported(raw, path, _NETWORK_KEYS, "")
        driver = _text(raw.get("driver") or "bridge")
        name, external = self.name_and_external(raw, path)
        if driver in _PREDEFINED_DRIVERS:
            # one host and one none network exist: the file names the predefined one
            external, name = True, _PREDEFINED_DRIVERS[driver]
        elif driver not in _NETWORK_DRIVERS:
            self.bad((*path, "driver"), f"driver {driver!r} is not supported by hatoba")
        if external:
            name = name or key
            for extra in ("ipam", "driver_opts", "internal", "labels", "enable_ipv6"):
                if extra in raw and driver not in _PREDEFINED_DRIVERS:
                    self.bad((*path, extra), f"an external network cannot set `{extra}`")
        return Network(
            key=key,
            name=name or f"{project}_{key}",
            driver=driver,
            driver_opts=tuple((k, _text(v)) for k, v in (raw.get("driver_opts") or {}).items()),
            internal=self.boolean(raw.get("internal"), (*path, "internal")),
            enable_ipv6=self.boolean(raw.get("enable_ipv6"), (*path, "enable_ipv6")),
            external=external,
            labels=tuple((k, v or "") for k, v in self.pairs(raw.get("labels")).items()),
            ipam=self.ipam(raw.get("ipam"), (*path, "ipam")),
        )

    def name_and_external(self, raw: dict[str, Any], path: Path) -> tuple[str, bool]:
        """A top-level network's or volume's `name` and `external`."""
        external_value = raw.get("external")
        name = _text(raw.get("name") or "")
        if isinstance(external_value, dict):
            # the old form `external: {name: x}`
            return name or _text(external_value.get("name") or ""), True
        return name, self.boolean(external_value, (*path, "external"))

    def volume(self, key: str, raw: Any) -> Volume:
        path: Path = ("volumes", key)
        project = self.ctx.project_name
        if not isinstance(raw, dict):
            return Volume(key, f"{project}_{key}")
        self.unsupported(raw, path, _VOLUME_KEYS, "")
        driver = _text(raw.get("driver") or "")
        if driver not in ("", "local"):
            self.bad(
                (*path, "driver"),
                f"volume driver {driver!r} is not supported by hatoba (only local)",
            )
        name, external = self.name_and_external(raw, path)
        if external:
            name = name or key
            for extra in ("driver", "driver_opts", "labels"):
                if extra in raw:
                    self.bad((*path, extra), f"an external volume cannot set `{extra}`")
        return Volume(
            key=key,
            name=name or f"{project}_{key}",
            driver=driver,
            driver_opts=tuple((k, _text(v)) for k, v in (raw.get("driver_opts") or {}).items()),
            external=external,
            labels=tuple((k, v or "") for k, v in self.pairs(raw.get("labels")).items()),
        )

    def ipam(self, value: Any, path: Path) -> tuple[IpamPool, ...]:
        if not isinstance(value, Map):
            return ()
        self.unsupported(value, path, _IPAM_KEYS, "")
        if value.get("driver") not in (None, "default"):
            self.bad((*path, "driver"), f"IPAM driver {value['driver']!r} is not supported")
        pools = []
        for i, cfg in enumerate(value.get("config") or ()):
            if not isinstance(cfg, Map):
                continue
            cfg_path: Path = (*path, "config", i)
            self.unsupported(cfg, cfg_path, _IPAM_CONFIG_KEYS, "")
            pool = IpamPool(
                _text(cfg.get("subnet") or ""),
                _text(cfg.get("gateway") or ""),
                _text(cfg.get("ip_range") or ""),
            )
            for key in ("subnet", "ip_range"):
                text = getattr(pool, key)
                if text and not _is_network(text):
                    self.bad((*cfg_path, key), f"{text!r} is not a subnet in CIDR form")
            if pool.gateway and not _is_ip(pool.gateway):
                self.bad((*cfg_path, "gateway"), f"{pool.gateway!r} is not an IP address")
            pools.append(pool)
        return tuple(pools)


def _text(value: Any) -> str:
    """A scalar as docker compose turns it into a string (true, 1.5, 80)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


def _volumes_source(spec: str) -> str:
    """The service a `volumes_from` entry names ("" for `container:NAME`)."""
    if spec.startswith(CONTAINER_PREFIX):
        return ""
    return spec.partition(":")[0]


def _listed(value: Any) -> Iterable[Any]:
    return value if isinstance(value, list | Seq) else [value]


def _split_host(item: str) -> tuple[str, str]:
    for sep in ("=", ":"):
        if sep in item:
            host, _, address = item.partition(sep)
            return host.strip(), address.strip().strip("[]")
    return item, ""


def _is_ip(text: str, version: int | None = None) -> bool:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return False
    return version is None or address.version == version


def _is_network(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return "/" in text
