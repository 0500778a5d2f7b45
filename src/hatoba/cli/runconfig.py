"""The flags of `run` and `create`, and the create request docker 20.10 builds from them.

The body is Docker's: Config fields at the top level, plus HostConfig and NetworkingConfig
(POST /containers/create?name=…). Values are checked where docker's CLI checks them, with its
texts: flag values (`--dns`, `--add-host`, `-e`) fail as flag errors, the rest (`-p`,
`--env-file`, aliases on a predefined network) as `hatoba: <error>.` — both with status 125.
"""

from __future__ import annotations

import os

from hatoba.cli.errors import Reported, UsageError
from hatoba.cli.parsing import BadValue, Parser, Values, key_values
from hatoba.errors import InvalidArgument
from hatoba.model import knobs
from hatoba.model.durations import parse_go_duration

TYPE_CHECKING = False  # `typing` costs ~4 ms of start-up; mypy treats this name as True
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

# network modes that are not user-defined networks (docker's NetworkMode.IsUserDefined)
_PREDEFINED = ("default", "bridge", "host", "none")


def add_flags(p: Parser) -> None:
    p.flag("-i", "--interactive", help="Keep STDIN open even if not attached")
    p.flag("-t", "--tty", help="Allocate a pseudo-TTY")
    p.flag("--rm", help="Automatically remove the container when it exits")
    p.option("--name", help="Assign a name to the container", default="")
    p.repeated("--network", "--net", help="Connect a container to a network", metavar="network")
    p.repeated("--network-alias", "--net-alias", help="Add network-scoped alias for the container")
    p.option("--ip", help="IPv4 address (e.g., 172.30.100.104)", default="")
    p.option("--ip6", help="IPv6 address (e.g., 2001:db8::33)", default="")
    p.repeated("--link", help="Add link to another container")
    p.option("-h", "--hostname", help="Container host name", default="")
    p.option("--domainname", help="Container NIS domain name", default="")
    p.option("--mac-address", help="Container MAC address (e.g., 92:d0:c6:0a:29:33)", default="")
    p.repeated("-e", "--env", help="Set environment variables")
    p.repeated("--env-file", help="Read in a file of environment variables")
    p.option("-w", "--workdir", help="Working directory inside the container", default="")
    p.option("-u", "--user", help="Username or UID (format: <name|uid>[:<group|gid>])", default="")
    p.repeated("--group-add", help="Add additional groups to join")
    p.flag(
        "--init",
        help="Run an init inside the container that forwards signals and reaps processes",
    )
    p.repeated("--dns", help="Set custom DNS servers")
    p.repeated("--dns-search", help="Set custom DNS search domains")
    p.repeated("--dns-option", "--dns-opt", help="Set DNS options")
    p.repeated("--add-host", help="Add a custom host-to-IP mapping (host:ip)")
    p.repeated("-p", "--publish", help="Publish a container's port(s) to the host")
    p.flag("-P", "--publish-all", help="Publish all exposed ports to random ports")
    p.repeated("--expose", help="Expose a port or a range of ports")
    p.repeated("-l", "--label", help="Set meta data on a container")
    p.option("--entrypoint", help="Overwrite the default ENTRYPOINT of the image", default=None)
    p.option("--stop-signal", help='Signal to stop a container (default "SIGTERM")', default=None)
    p.option(
        "--stop-timeout",
        help="Timeout (in seconds) to stop a container",
        type=int,
        default=None,
        metavar="int",
    )
    p.option(
        "--restart",
        help='Restart policy to apply when a container exits (default "no")',
        default="no",
    )
    p.option("--health-cmd", help="Command to run to check health", default="")
    p.option(
        "--health-interval",
        help="Time between running the check (ms|s|m|h) (default 0s)",
        type=_duration,
        default=0,
        metavar="duration",
    )
    p.option(
        "--health-retries",
        help="Consecutive failures needed to report unhealthy",
        type=int,
        default=0,
        metavar="int",
    )
    p.option(
        "--health-start-period",
        help="Start period for the container to initialize before starting health-retries "
        "countdown (ms|s|m|h) (default 0s)",
        type=_duration,
        default=0,
        metavar="duration",
    )
    p.option(
        "--health-timeout",
        help="Maximum time to allow one check to run (ms|s|m|h) (default 0s)",
        type=_duration,
        default=0,
        metavar="duration",
    )
    p.flag("--no-healthcheck", help="Disable any container-specified HEALTHCHECK")
    p.repeated("-v", "--volume", help="Bind mount a volume")
    p.repeated(
        "--mount", help="Attach a filesystem mount to the container", metavar="mount", type=_mount
    )
    p.repeated("--tmpfs", help="Mount a tmpfs directory")
    p.repeated("--volumes-from", help="Mount volumes from the specified container(s)")
    p.option("--volume-driver", help="Optional volume driver for the container", default="")
    add_security_flags(p)
    add_resource_flags(p)


def _mount(text: str) -> dict[str, Any]:
    from hatoba.cli.mounts import parse_mount

    return parse_mount(text)


def add_security_flags(p: Parser) -> None:
    p.repeated("--cap-add", help="Add Linux capabilities")
    p.repeated("--cap-drop", help="Drop Linux capabilities")
    p.flag("--privileged", help="Give extended privileges to this container")
    p.repeated("--security-opt", help="Security Options")
    p.flag("--read-only", help="Mount the container's root filesystem as read only")
    p.repeated("--sysctl", help="Sysctl options", metavar="map", type=_sysctl)
    p.repeated("--device", help="Add a host device to the container")
    p.repeated(
        "--device-cgroup-rule",
        help="Add a rule to the cgroup allowed devices list",
        type=_device_cgroup_rule,
    )
    p.option(
        "--oom-score-adj",
        help="Tune host's OOM preferences (-1000 to 1000)",
        type=int,
        default=0,
        metavar="int",
    )


def add_resource_flags(p: Parser, *, update: bool = False) -> None:
    """The limits `run`, `create` and `update` share (docker's names and help)."""
    p.option("-m", "--memory", help="Memory limit", type=_bytes, default=0, metavar="bytes")
    p.option(
        "--memory-swap",
        help="Swap limit equal to memory plus swap: '-1' to enable unlimited swap",
        type=_swap,
        default=0,
        metavar="bytes",
    )
    p.option("--cpus", help="Number of CPUs", type=_cpus, default=0, metavar="decimal")
    p.option(
        "-c",
        "--cpu-shares",
        help="CPU shares (relative weight)",
        type=int,
        default=0,
        metavar="int",
    )
    p.option(
        "--cpu-period",
        help="Limit CPU CFS (Completely Fair Scheduler) period",
        type=int,
        default=0,
        metavar="int",
    )
    p.option(
        "--cpu-quota",
        help="Limit CPU CFS (Completely Fair Scheduler) quota",
        type=int,
        default=0,
        metavar="int",
    )
    p.option(
        "--pids-limit",
        help="Tune container pids limit (set -1 for unlimited)",
        type=int,
        default=0,
        metavar="int",
    )
    if update:
        return
    p.repeated("--ulimit", help="Ulimit options", metavar="ulimit", type=_ulimit)
    p.option("--shm-size", help="Size of /dev/shm", type=_bytes, default=0, metavar="bytes")


def _checked(convert: Callable[[str], Any]) -> Callable[[str], Any]:
    """A converter of hatoba.model.knobs, its reason given as docker's CLI gives it."""

    def run(text: str) -> Any:
        try:
            return convert(text)
        except ValueError as exc:
            raise BadValue(str(exc)) from None

    return run


_bytes = _checked(knobs.ram_in_bytes)
_swap = _checked(knobs.memory_swap)
_cpus = _checked(knobs.nano_cpus)


def _ulimit(text: str) -> dict[str, Any]:
    name, soft, hard = _checked(knobs.parse_ulimit)(text)
    return {"Name": name, "Hard": hard, "Soft": soft}


def _sysctl(text: str) -> str:
    if not knobs.sysctl_whitelisted(text):
        raise BadValue(f"sysctl '{text}' is not whitelisted")
    return text


def _device_cgroup_rule(text: str) -> str:
    import re

    if re.fullmatch(knobs.DEVICE_CGROUP_RULE, text) is None:
        raise BadValue(f"invalid device cgroup format '{text}'")
    return text


def resources(ns: Values) -> dict[str, Any]:
    """HostConfig's limits, as docker sends them."""
    return {
        "Memory": ns.memory,
        "MemorySwap": ns.memory_swap,
        "NanoCpus": ns.cpus,
        "CpuShares": ns.cpu_shares,
        "CpuPeriod": ns.cpu_period,
        "CpuQuota": ns.cpu_quota,
    }


def _security(ns: Values, prog: str) -> dict[str, Any]:
    """HostConfig's security settings and devices, checked where docker's CLI checks them."""
    options = []
    paths: dict[str, Any] = {}
    for option in ns.security_opt:
        key, eq, _ = option.partition("=")
        if not eq and key != "no-new-privileges" and ":" not in option:
            raise Reported(f'Invalid --security-opt: "{option}"', prog)
        if option == "systempaths=unconfined":
            # handled by the client, as docker's: nothing masked, nothing read-only
            paths = {"MaskedPaths": [], "ReadonlyPaths": []}
        else:
            options.append(option)
    return {
        "CapAdd": ns.cap_add or None,
        "CapDrop": ns.cap_drop or None,
        "Privileged": ns.privileged,
        "SecurityOpt": options or None,
        "ReadonlyRootfs": ns.read_only,
        "Sysctls": key_values(ns.sysctl) or None,
        "Devices": [_device(text, prog) for text in ns.device],
        "DeviceCgroupRules": ns.device_cgroup_rule or None,
        "OomScoreAdj": ns.oom_score_adj,
        **paths,
    }


def _device(text: str, prog: str) -> dict[str, str]:
    try:
        host, inside, permissions = knobs.parse_device(text)
    except ValueError as exc:
        raise Reported(str(exc), prog) from None
    return {"PathOnHost": host, "PathInContainer": inside, "CgroupPermissions": permissions}


def _duration(text: str) -> int:
    try:
        return parse_go_duration(text)
    except ValueError as exc:
        raise BadValue(str(exc)) from None


def create_body(ns: Values, prog: str, *, detach: bool, stdin_once: bool) -> dict[str, Any]:
    """The JSON docker sends for these flags. `detach` is `run -d`; `stdin_once` is set by an
    attached `run`: the container's stdin closes when the client's ends."""
    image, command = ns.args[0], ns.args[1:]
    env = environment(ns.env_file, ns.env, prog)
    exposed, bindings = publish(ns.publish, ns.expose, prog)
    restart = _restart_policy(ns, prog)
    binds, volumes = _volumes(ns.volume)
    attach_stdin = ns.interactive and not detach
    config: dict[str, Any] = {
        "Hostname": ns.hostname,
        "Domainname": ns.domainname,
        "User": ns.user,
        "AttachStdin": attach_stdin,
        "AttachStdout": not detach,
        "AttachStderr": not detach,
        "Tty": ns.tty,
        "OpenStdin": ns.interactive,
        "StdinOnce": attach_stdin and stdin_once,
        "Env": env or None,
        "Cmd": command or None,
        **_healthcheck(ns, prog),
        "Image": image,
        "Volumes": volumes or None,
        "WorkingDir": ns.workdir,
        "Entrypoint": _entrypoint(ns.entrypoint),
        "OnBuild": None,
        "Labels": key_values(ns.label),
    }
    if exposed:
        config["ExposedPorts"] = exposed
    if ns.mac_address:
        config["MacAddress"] = ns.mac_address
    if ns.stop_signal is not None:
        config["StopSignal"] = ns.stop_signal
    if ns.stop_timeout is not None:
        config["StopTimeout"] = ns.stop_timeout
    config["HostConfig"] = {
        "Binds": binds or None,
        "LogConfig": {"Type": "", "Config": {}},
        "NetworkMode": (ns.network or ["default"])[0],
        "PortBindings": bindings,
        "RestartPolicy": restart,
        "AutoRemove": ns.rm,
        "Dns": [_ip(v, "--dns", prog) for v in ns.dns],
        "DnsOptions": ns.dns_option,
        "DnsSearch": ns.dns_search,
        "ExtraHosts": [_extra_host(v, prog) for v in ns.add_host] or None,
        "Links": ns.link or None,
        "PublishAllPorts": ns.publish_all,
        "GroupAdd": ns.group_add or None,
        "VolumeDriver": ns.volume_driver,
        "VolumesFrom": ns.volumes_from or None,
        **_security(ns, prog),
        **resources(ns),
        "PidsLimit": ns.pids_limit,
        "Ulimits": ns.ulimit or None,
        "ShmSize": ns.shm_size,
    }
    if ns.mount:
        config["HostConfig"]["Mounts"] = ns.mount
    if ns.tmpfs:
        # `PATH[:OPTIONS]`; the options are the service's to check, at create
        config["HostConfig"]["Tmpfs"] = dict(_split_tmpfs(t) for t in ns.tmpfs)
    if ns.init:
        # docker sends Init only when the flag is given (null lets the daemon decide)
        config["HostConfig"]["Init"] = True
    config["NetworkingConfig"] = {"EndpointsConfig": _endpoints(ns, prog)}
    return config


def _volumes(specs: list[str]) -> tuple[list[str], dict[str, dict[str, object]]]:
    """`-v` as docker sends it: with a source (`SRC:DST[:MODE]`) in HostConfig.Binds, a
    bare path (an anonymous volume) in Config.Volumes. The service parses both."""
    binds: list[str] = []
    volumes: dict[str, dict[str, object]] = {}
    for spec in specs:
        source, colon, _ = spec.partition(":")
        if colon and source:
            binds.append(spec)
        else:
            volumes[spec] = {}
    return binds, volumes


def _split_tmpfs(spec: str) -> tuple[str, str]:
    path, _, options = spec.partition(":")
    return path, options


def _restart_policy(ns: Values, prog: str) -> dict[str, Any]:
    policy = restart_policy(ns.restart, prog)
    if ns.rm and policy["Name"] not in ("", "no"):
        raise Reported("Conflicting options: --restart and --rm", prog)
    return policy


def restart_policy(name: str, prog: str) -> dict[str, Any]:
    """docker's ParseRestartPolicy (`on-failure:3`); the service checks the name. Not
    hatoba.model.restart: its dataclasses cost the CLI ~10 ms of start-up."""
    count = 0
    if ":" in name:
        parts = name.split(":")
        if len(parts) > 2:
            raise Reported("invalid restart policy format", prog)
        name = parts[0]
        try:
            count = int(parts[1])
        except ValueError:
            raise Reported("maximum retry count must be an integer", prog) from None
    return {"Name": name, "MaximumRetryCount": count}


def _healthcheck(ns: Values, prog: str) -> dict[str, Any]:
    """Config.Healthcheck as docker's CLI builds it: none unless a --health-* flag is given,
    only the CMD-SHELL test of --health-cmd (the rest fall back on the image's)."""
    durations = {
        "--health-interval": ns.health_interval,
        "--health-timeout": ns.health_timeout,
        "--health-start-period": ns.health_start_period,
    }
    given = bool(ns.health_cmd) or ns.health_retries != 0 or any(durations.values())
    if ns.no_healthcheck:
        if given:
            raise Reported("--no-healthcheck conflicts with --health-* options", prog)
        return {"Healthcheck": {"Test": ["NONE"]}}
    if not given:
        return {}
    for flag in ("--health-interval", "--health-timeout"):
        if durations[flag] < 0:
            raise Reported(f"{flag} cannot be negative", prog)
    if ns.health_retries < 0:
        raise Reported("--health-retries cannot be negative", prog)
    if ns.health_start_period < 0:
        raise Reported("--health-start-period cannot be negative", prog)
    health = {
        "Test": ["CMD-SHELL", ns.health_cmd] if ns.health_cmd else None,
        "Interval": ns.health_interval,
        "Timeout": ns.health_timeout,
        "StartPeriod": ns.health_start_period,
        "Retries": ns.health_retries,
    }
    # Go's HealthConfig: every field `omitempty`
    return {"Healthcheck": {key: value for key, value in health.items() if value}}


def _entrypoint(value: str | None) -> list[str] | None:
    # `--entrypoint ""` clears the image's entrypoint
    return None if value is None else [value]


def _endpoints(ns: Values, prog: str) -> dict[str, Any]:
    """docker's parseNetworkOpts: every `--network` is attached (the daemon's API >= 1.44
    behaviour); `--ip`, `--ip6` and `--network-alias` belong to the first one."""
    modes = ns.network or ["default"]
    kinds = {mode not in _PREDEFINED and not mode.startswith("container:") for mode in modes}
    if len(kinds) > 1:
        raise Reported(
            "conflicting options: cannot attach both user-defined and non-user-defined "
            "network-modes",
            prog,
        )
    user_defined = kinds == {True}
    mode = modes[0]
    if ns.network_alias and not user_defined and mode != "default":
        raise Reported("network-scoped aliases are only supported for user-defined networks", prog)
    endpoints: dict[str, Any] = {}
    for name in modes:
        if name in endpoints:
            raise Reported(f'network "{name}" is specified multiple times', prog)
        endpoints[name] = {}
    # dockerd ignores endpoint settings of the implicit default network: `--ip`, `--ip6` and
    # `--network-alias` without `--net` are accepted and have no effect
    if not ns.network:
        return {}
    ipam = {key: value for key, value in (("IPv4Address", ns.ip), ("IPv6Address", ns.ip6)) if value}
    if ipam:
        endpoints[mode]["IPAMConfig"] = ipam
    if ns.network_alias:
        endpoints[mode]["Aliases"] = list(ns.network_alias)
    if ns.link and user_defined:
        # on a user-defined network a link is the endpoint's (docker copies them there)
        endpoints[mode]["Links"] = list(ns.link)
    if len(modes) == 1 and not endpoints[mode]:
        return {}
    return endpoints


def environment(files: list[str], values: list[str], prog: str) -> list[str]:
    """--env-file lines, then -e values; a bare `NAME` takes our own value of NAME."""
    result: list[str] = []
    for path in files:
        result.extend(_env_file(path, prog))
    for value in values:
        name, eq, _ = value.partition("=")
        if not name:
            raise UsageError(
                f'invalid argument "{value}" for "-e, --env" flag: '
                f"invalid environment variable: {value}",
                prog,
            )
        if not eq and name in os.environ:
            value = f"{name}={os.environ[name]}"
        result.append(value)
    return result


def _env_file(path: str, prog: str) -> list[str]:
    try:
        with open(path, encoding="utf-8-sig") as f:
            lines = f.read().splitlines()
    except OSError as exc:
        raise Reported(
            f"open {path}: {exc.strerror.lower() if exc.strerror else exc}", prog
        ) from None
    except UnicodeDecodeError:
        raise Reported(f"env file {path} contains invalid utf8 bytes", prog) from None
    result = []
    for raw in lines:
        line = raw.lstrip()
        if not line or line.startswith("#"):
            continue
        name, eq, value = line.partition("=")
        name = name.lstrip()
        if any(c.isspace() for c in name):
            raise Reported(f"variable '{name}' contains whitespaces", prog)
        if not name:
            raise Reported(f"no variable name on line '{line}'", prog)
        if eq:
            result.append(f"{name}={value}")
        elif name.strip() in os.environ:
            result.append(f"{name.strip()}={os.environ[name.strip()]}")
    return result


def _ip(value: str, flag: str, prog: str) -> str:
    import ipaddress

    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise UsageError(
            f'invalid argument "{value}" for "{flag}" flag: {value} is not an ip address', prog
        ) from None


def _extra_host(value: str, prog: str) -> str:
    name, colon, address = value.partition(":")
    if not colon or not name:
        raise UsageError(
            f'invalid argument "{value}" for "--add-host" flag: bad format for add-host: "{value}"',
            prog,
        )
    if address != "host-gateway":
        import ipaddress

        try:
            ipaddress.ip_address(address.strip())
        except ValueError:
            raise UsageError(
                f'invalid argument "{value}" for "--add-host" flag: '
                f'invalid IP address in add-host: "{address}"',
                prog,
            ) from None
    return value


def publish(
    specs: list[str], expose: list[str], prog: str
) -> tuple[dict[str, dict[str, object]], dict[str, list[dict[str, str]]]]:
    """`-p` and `--expose` as ExposedPorts and PortBindings, as the docker CLI sends them."""
    if not specs and not expose:
        return {}, {}
    from hatoba.model.portspec import parse_expose, parse_publish

    try:
        exposed, bindings = parse_publish(specs)
        for port, value in parse_expose(expose).items():
            exposed.setdefault(port, value)
    except InvalidArgument as exc:
        raise Reported(exc.message, prog) from None
    return exposed, bindings
