"""The OCI runtime configuration (config.json) of a container. Pure: data in, dict out.

Docker's defaults: its masked and read-only paths of /proc, its device cgroup (every device
denied but the few every container has, /dev/fuse denied and /dev/net/tun allowed as runc
does; crun adds its own defaults after these rules), the container's cgroup limits, and what
`--privileged` lifts (all devices, a writable /sys, no masked paths).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hatoba.model.knobs import ULIMIT_TYPES
from hatoba.model.launch import CONTAINER_UMASK, ProcessSpec
from hatoba.model.resources import DEFAULT_SHM_SIZE, Resources
from hatoba.model.security import (
    DEFAULT_MASKED_PATHS,
    DEFAULT_READONLY_PATHS,
    DeviceRule,
    Security,
    device_rule,
)

# moby oci/defaults.go, and runc's /dev/net/tun
_DEVICE_RULES = (
    DeviceRule(False, "a"),
    *(DeviceRule(True, "c", major, minor) for major, minor in ((1, 5), (1, 3), (1, 9), (1, 8))),
    DeviceRule(True, "c", 5, 0),
    DeviceRule(True, "c", 5, 1),
    DeviceRule(False, "c", 10, 229),
    DeviceRule(True, "c", 10, 200),
)
_RLIM_INFINITY = (1 << 64) - 1
_NO_SECURITY, _NO_LIMITS = Security(), Resources()


@dataclass(frozen=True)
class Device:
    """A device node the container gets (`--device`, or every host device when privileged)."""

    path: str
    type: str
    major: int
    minor: int
    file_mode: int
    uid: int = 0
    gid: int = 0
    # the device cgroup's permissions for it
    permissions: str = "rwm"

    def node(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "type": self.type,
            "major": self.major,
            "minor": self.minor,
            "fileMode": self.file_mode,
            "uid": self.uid,
            "gid": self.gid,
        }

    def rule(self) -> DeviceRule:
        return DeviceRule(True, self.type, self.major, self.minor, self.permissions)


@dataclass(frozen=True)
class Cgroup:
    """Where the container's cgroup is (crun's cgroupfs manager: below each hierarchy's
    root) and whether the host has a device controller for its device rules."""

    path: str
    devices: bool


@dataclass(frozen=True)
class Bind:
    source: str
    destination: str
    recursive: bool = False
    readonly: bool = False
    # rprivate, rslave, …; "" leaves the runtime's default
    propagation: str = ""

    def mount(self) -> dict[str, Any]:
        options = ["rbind" if self.recursive else "bind"]
        if self.readonly:
            options.append("ro")
        if self.propagation:
            options.append(self.propagation)
        return {
            "destination": self.destination,
            "type": "bind",
            "source": self.source,
            "options": options,
        }


@dataclass(frozen=True)
class Tmpfs:
    destination: str
    options: tuple[str, ...]

    def mount(self) -> dict[str, Any]:
        return {
            "destination": self.destination,
            "type": "tmpfs",
            "source": "tmpfs",
            "options": list(self.options),
        }


def _default_mounts(security: Security, limits: Resources) -> list[dict[str, Any]]:
    return [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {
            "destination": "/dev",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
        },
        {
            "destination": "/dev/pts",
            "type": "devpts",
            "source": "devpts",
            "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
        },
        {
            "destination": "/dev/shm",
            "type": "tmpfs",
            "source": "shm",
            "options": [
                "nosuid",
                "noexec",
                "nodev",
                "mode=1777",
                f"size={limits.shm_size or DEFAULT_SHM_SIZE}",
            ],
        },
        {
            "destination": "/dev/mqueue",
            "type": "mqueue",
            "source": "mqueue",
            "options": ["nosuid", "noexec", "nodev"],
        },
        {
            "destination": "/sys",
            "type": "sysfs",
            "source": "sysfs",
            # Docker's privileged containers get a writable /sys
            "options": ["nosuid", "noexec", "nodev", *([] if security.privileged else ["ro"])],
        },
    ]


def _all_mounts(
    defaults: Sequence[dict[str, Any]],
    binds: Sequence[Bind],
    mounts: Sequence[Bind | Tmpfs],
    files: Sequence[Bind],
) -> list[dict[str, Any]]:
    """The `defaults`, `binds` (the image's own: hostfs), the user's `mounts`, then `files`
    (hosts, resolv.conf, init). A user's mount replaces whatever else goes at its
    destination, and a `/dev` of the user's everything below /dev (Docker's rules)."""
    taken = {m.destination for m in mounts}

    def kept(destination: str) -> bool:
        return destination not in taken and not (
            "/dev" in taken and destination.startswith("/dev/")
        )

    return [
        *(m for m in defaults if kept(m["destination"])),
        *(b.mount() for b in binds if kept(b.destination)),
        *(m.mount() for m in mounts),
        *(f.mount() for f in files if kept(f.destination)),
    ]


def process(spec: ProcessSpec) -> dict[str, Any]:
    caps = list(spec.capabilities)
    user = spec.user
    doc = {
        "terminal": spec.terminal,
        "user": {
            "uid": user.uid,
            "gid": user.gid,
            "additionalGids": list(user.additional_gids),
            "umask": CONTAINER_UMASK,
        },
        "args": list(spec.args),
        "env": list(spec.env),
        "cwd": spec.cwd or "/",
        "capabilities": dict.fromkeys(("bounding", "effective", "permitted"), caps),
        "noNewPrivileges": spec.no_new_privileges,
    }
    if spec.rlimits:
        doc["rlimits"] = [
            {"type": ULIMIT_TYPES[u.name], "soft": _rlimit(u.soft), "hard": _rlimit(u.hard)}
            for u in spec.rlimits
        ]
    if spec.oom_score_adj:
        doc["oomScoreAdj"] = spec.oom_score_adj
    return doc


def _rlimit(value: int) -> int:
    return _RLIM_INFINITY if value < 0 else value


def resources(limits: Resources) -> dict[str, Any]:
    """The OCI linux.resources of cgroup limits (also what `crun update` takes)."""
    doc: dict[str, Any] = {}
    memory: dict[str, int] = {}
    if limits.memory:
        memory["limit"] = limits.memory
    if limits.memory_swap:
        memory["swap"] = limits.memory_swap
    if memory:
        doc["memory"] = memory
    quota, period = limits.cfs
    cpu = {"shares": limits.cpu_shares, "quota": quota, "period": period}
    if any(cpu.values()):
        doc["cpu"] = {key: value for key, value in cpu.items() if value}
    if limits.pids_limit > 0:
        doc["pids"] = {"limit": limits.pids_limit}
    return doc


def device_rules(security: Security, devices: Sequence[Device]) -> list[dict[str, Any]]:
    """The device cgroup: Docker's defaults, then each `--device` and `--device-cgroup-rule`;
    everything for a privileged container."""
    if security.privileged:
        return [{"allow": True, "access": "rwm"}]
    asked = (device_rule(text) for text in security.device_cgroup_rules)
    return [_rule(r) for r in (*_DEVICE_RULES, *(d.rule() for d in devices), *asked)]


def _rule(rule: DeviceRule) -> dict[str, Any]:
    doc: dict[str, Any] = {"allow": rule.allow, "access": rule.access}
    if rule.type != "a":
        doc["type"] = rule.type
        if rule.major >= 0:
            doc["major"] = rule.major
        if rule.minor >= 0:
            doc["minor"] = rule.minor
    return doc


def config(
    *,
    rootfs: str,
    proc: ProcessSpec,
    hostname: str | None,
    netns: str | None,
    binds: Sequence[Bind],
    masked: Sequence[str] = (),
    domainname: str = "",
    mounts: Sequence[Bind | Tmpfs] = (),
    files: Sequence[Bind] = (),
    security: Security = _NO_SECURITY,
    limits: Resources = _NO_LIMITS,
    devices: Sequence[Device] = (),
    cgroup: Cgroup | None = None,
) -> dict[str, Any]:
    """`netns` None shares the caller's network namespace (`--net host`), and then the host's
    UTS namespace too, as Docker does; `hostname` and `domainname` are ignored in that case.
    `masked` paths are hidden as Docker hides parts of /proc: an empty read-only tmpfs over a
    folder, /dev/null over a file; paths the container does not have are skipped. They stay
    hidden whatever the request unmasks (hatoba's own roots). `cgroup` None runs the
    container in no cgroup of its own (crun's cgroups disabled): no limits, no device rules."""
    namespaces: list[dict[str, str]] = [{"type": "pid"}, {"type": "ipc"}, {"type": "mount"}]
    if netns is not None:
        namespaces += [{"type": "network", "path": netns}, {"type": "uts"}]
    doc: dict[str, Any] = {
        "ociVersion": "1.0.2",
        "process": process(proc),
        "root": {"path": rootfs, "readonly": security.read_only},
        "mounts": _all_mounts(_default_mounts(security, limits), binds, mounts, files),
        "linux": {
            "namespaces": namespaces,
            # Host unmounts (namespace handles of removed containers) must reach every
            # container's copy, or those namespaces would never be freed.
            "rootfsPropagation": "rslave",
            "maskedPaths": [
                *_paths(security.masked_paths, DEFAULT_MASKED_PATHS, security),
                *masked,
            ],
            "readonlyPaths": list(
                _paths(security.readonly_paths, DEFAULT_READONLY_PATHS, security)
            ),
        },
    }
    linux = doc["linux"]
    if security.sysctls:
        linux["sysctl"] = dict(security.sysctls)
    if devices:
        linux["devices"] = [device.node() for device in devices]
    if cgroup is not None:
        linux["cgroupsPath"] = cgroup.path
        linux["resources"] = resources(limits)
        if cgroup.devices:
            linux["resources"]["devices"] = device_rules(security, devices)
    if netns is not None and hostname:
        doc["hostname"] = hostname
    if netns is not None and domainname:
        doc["domainname"] = domainname
    return doc


def _paths(
    asked: Sequence[str] | None, default: Sequence[str], security: Security
) -> Sequence[str]:
    """Docker's list unless the request gave one (`systempaths=unconfined`: none); none at
    all for a privileged container."""
    if security.privileged:
        return ()
    return default if asked is None else asked
