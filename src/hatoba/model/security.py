"""What a container's processes may do: capabilities (`--cap-add`, `--cap-drop`,
`--privileged`), `--security-opt`, a read-only root, host devices, and the namespaced sysctls
it sets. Docker's rules and texts (moby oci/caps, daemon/daemon_unix.go, runc's sysctl
validator); pure.

hatoba has no seccomp profile and no AppArmor or SELinux label: the options that turn those
off (`seccomp=unconfined`, `apparmor=unconfined`, `label=disable`) are what it does anyway
and are accepted; asking for a profile is refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from hatoba.errors import InvalidArgument
from hatoba.model.knobs import (
    DEVICE_CGROUP_RULE,
    IPC_SYSCTL_PREFIX,
    IPC_SYSCTLS,
    NET_SYSCTL_PREFIX,
    device_mode,
)
from hatoba.model.network import EMPTY

# every capability, by number (linux/capability.h up to CAP_CHECKPOINT_RESTORE, Linux 5.9)
CAPABILITIES = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
)

# Docker's default set (moby oci/caps/defaults.go): no CAP_NET_ADMIN, so `ip link add` fails
DEFAULT_CAPS = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
)
ALL = "ALL"

# Docker's parts of /proc and /sys hidden from containers, and those they may only read
DEFAULT_MASKED_PATHS = (
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
)
DEFAULT_READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")

# where a container's network namespace comes from, for the net.* sysctls
OWN_NETWORK, HOST_NETWORK, JOINED_NETWORK = "own", "host", "joined"

# what `--security-opt` turns off that hatoba never turns on
_NOTHING_TO_TURN_OFF = {"seccomp": "unconfined", "apparmor": "unconfined", "label": "disable"}
_DEVICE_RULE = re.compile(DEVICE_CGROUP_RULE)


@dataclass(frozen=True)
class DeviceMapping:
    """`--device /dev/x[:/dev/y][:rwm]` (HostConfig.Devices)."""

    path_on_host: str
    path_in_container: str
    permissions: str = "rwm"


@dataclass(frozen=True)
class DeviceRule:
    """A device cgroup rule: `c 1:3 rwm` (HostConfig.DeviceCgroupRules); -1 is `*`."""

    allow: bool
    type: str
    major: int = -1
    minor: int = -1
    access: str = "rwm"


@dataclass(frozen=True)
class Security:
    """As the request gave it (inspect shows it so); the effective sets are computed."""

    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    privileged: bool = False
    security_opt: tuple[str, ...] = ()
    read_only: bool = False
    sysctls: Mapping[str, str] = field(default_factory=lambda: EMPTY)
    devices: tuple[DeviceMapping, ...] = ()
    device_cgroup_rules: tuple[str, ...] = ()
    # None: Docker's (the runtime's) lists; () unmasks everything (systempaths=unconfined)
    masked_paths: tuple[str, ...] | None = None
    readonly_paths: tuple[str, ...] | None = None
    oom_score_adj: int = 0

    @property
    def no_new_privileges(self) -> bool:
        """The last `no-new-privileges[=bool]` option wins, as in Docker."""
        value = False
        for option in self.security_opt:
            key, _, text = _split_option(option)
            if key == "no-new-privileges":
                value = text is None or _parse_bool(text)
        return value


def capabilities(
    security: Security, available: frozenset[str], *, device_cgroup: bool = True
) -> tuple[str, ...]:
    """moby's TweakCapabilities: all of them when privileged; else the default set less
    `cap_drop` plus `cap_add` (`ALL` in either: all but the dropped, or only the added).
    `available`: what the runtime has itself to give (a root without CAP_SYS_RESOURCE gives
    a privileged container all the others). Without a device cgroup CAP_MKNOD would let a
    container make and open any device node of the host, so the default set then leaves it
    out (asked for, it is given)."""
    everything = tuple(c for c in CAPABILITIES if c in available)
    if security.privileged:
        return everything
    basics = DEFAULT_CAPS if device_cgroup else tuple(c for c in DEFAULT_CAPS if c != "CAP_MKNOD")
    add = normalized_caps(security.cap_add, "CapAdd")
    drop = normalized_caps(security.cap_drop, "CapDrop")
    if ALL in add:
        found: tuple[str, ...] = tuple(c for c in everything if c not in drop)
    elif ALL in drop:
        found = add
    else:
        found = (*(c for c in basics if c not in drop), *add)
    return tuple(c for c in dict.fromkeys(found) if c in available)


def normalized_caps(values: Sequence[str], field_name: str) -> tuple[str, ...]:
    """NormalizeLegacyCapabilities: upper case, `CAP_` added, `ALL` kept; an unknown name is
    refused with Docker's text."""
    found = []
    for value in values:
        name = value.upper()
        if name != ALL and not name.startswith("CAP_"):
            name = "CAP_" + name
        if name != ALL and name not in CAPABILITIES:
            raise InvalidArgument(f'invalid {field_name}: unknown capability: "{name}"')
        found.append(name)
    return tuple(found)


def validate(security: Security, network: str, available: frozenset[str]) -> None:
    """Everything Docker checks at create (or runc at start), with their texts: the
    capability names (and that the runtime has those added: `available`), the security
    options, the sysctls for the namespaces the container has (`network`: OWN_NETWORK,
    HOST_NETWORK or JOINED_NETWORK), devices and rules."""
    for name in normalized_caps(security.cap_add, "CapAdd"):
        if name != ALL and name not in available:
            raise InvalidArgument(
                f'invalid CapAdd: "{name}" is not among the capabilities of the hatoba service '
                "itself, so it cannot give it to a container"
            )
    normalized_caps(security.cap_drop, "CapDrop")
    for option in security.security_opt:
        _check_option(option)
    for name in security.sysctls:
        _check_sysctl(name, network)
    for device in security.devices:
        if not device.path_in_container.startswith("/"):
            raise InvalidArgument(f"{device.path_in_container} is not an absolute path")
        if not device_mode(device.permissions):
            raise InvalidArgument(f"bad mode specified: {device.permissions}")
    for rule in security.device_cgroup_rules:
        device_rule(rule)
    if not -1000 <= security.oom_score_adj <= 1000:
        raise InvalidArgument(
            f"Invalid value {security.oom_score_adj}, range for oom score adj is [-1000, 1000]"
        )


def device_rule(text: str) -> DeviceRule:
    """`c 42:* rmw` as an allow rule (moby's AppendDevicePermissionsFromCgroupRules)."""
    found = _DEVICE_RULE.fullmatch(text)
    if found is None:
        raise InvalidArgument(f"invalid device cgroup rule format: '{text}'")
    kind, major, minor, access = found.groups()
    return DeviceRule(
        True,
        kind,
        -1 if major == "*" else int(major),
        -1 if minor == "*" else int(minor),
        access,
    )


def _split_option(option: str) -> tuple[str, str, str | None]:
    """(key, separator, value): `key=value`, the deprecated `key:value`, or a bare word."""
    for separator in ("=", ":"):
        key, found, value = option.partition(separator)
        if found:
            return key, separator, value
    return option, "", None


def _parse_bool(text: str) -> bool:
    """Go's strconv.ParseBool."""
    if text in ("1", "t", "T", "true", "TRUE", "True"):
        return True
    if text in ("0", "f", "F", "false", "FALSE", "False"):
        return False
    raise ValueError(text)


def _check_option(option: str) -> None:
    """dockerd's parseSecurityOpt, less the profiles hatoba has none of."""
    if option in ("no-new-privileges", "disable"):
        return
    key, _, value = _split_option(option)
    if value is None:
        raise InvalidArgument(f'invalid --security-opt 1: "{option}"')
    if key == "no-new-privileges":
        try:
            _parse_bool(value)
        except ValueError:
            raise InvalidArgument(f'invalid --security-opt 2: "{option}"') from None
        return
    if key not in _NOTHING_TO_TURN_OFF:
        raise InvalidArgument(f'invalid --security-opt 2: "{option}"')
    if value != _NOTHING_TO_TURN_OFF[key]:
        what = {"seccomp": "seccomp profiles", "apparmor": "AppArmor", "label": "SELinux labels"}
        raise InvalidArgument(
            f'--security-opt "{option}": hatoba applies no {what[key]} '
            f"(only {key}={_NOTHING_TO_TURN_OFF[key]} is accepted)"
        )


def _check_sysctl(name: str, network: str) -> None:
    """runc's rules: the sysctl must belong to a namespace the container has of its own.
    Every container has its own IPC and UTS namespaces here (the host's UTS with
    `--net host`); its network namespace may be the host's or another container's, whose
    settings a container may not change."""
    dotted = name.replace("/", ".")
    if dotted in IPC_SYSCTLS or dotted.startswith(IPC_SYSCTL_PREFIX):
        return
    if dotted.startswith(NET_SYSCTL_PREFIX):
        if network == HOST_NETWORK:
            raise InvalidArgument(f'sysctl "{dotted}" not allowed in host network namespace')
        if network == JOINED_NETWORK:
            raise InvalidArgument(
                f'sysctl "{dotted}" not allowed in the network namespace of another container'
            )
        return
    if network != HOST_NETWORK and dotted == "kernel.domainname":
        return
    if network != HOST_NETWORK and dotted == "kernel.hostname":
        raise InvalidArgument(
            f'sysctl "{dotted}" is not allowed as it conflicts with the OCI "hostname" field'
        )
    raise InvalidArgument(f'sysctl "{dotted}" is not in a separate kernel namespace')
