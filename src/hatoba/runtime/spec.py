"""The OCI runtime configuration (config.json) of a container. Pure: data in, dict out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hatoba.model.launch import CONTAINER_UMASK, ProcessSpec

# Docker's default capability set
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

_MASKED = (
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
_READONLY = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")


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


def _default_mounts() -> list[dict[str, Any]]:
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
            "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
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
            "options": ["nosuid", "noexec", "nodev", "ro"],
        },
    ]


def _all_mounts(
    binds: Sequence[Bind], mounts: Sequence[Bind | Tmpfs], files: Sequence[Bind]
) -> list[dict[str, Any]]:
    """The defaults, `binds` (the image's own: hostfs), the user's `mounts`, then `files`
    (hosts, resolv.conf, init). A user's mount replaces whatever else goes at its
    destination, and a `/dev` of the user's everything below /dev (Docker's rules)."""
    taken = {m.destination for m in mounts}

    def kept(destination: str) -> bool:
        return destination not in taken and not (
            "/dev" in taken and destination.startswith("/dev/")
        )

    return [
        *(m for m in _default_mounts() if kept(m["destination"])),
        *(b.mount() for b in binds if kept(b.destination)),
        *(m.mount() for m in mounts),
        *(f.mount() for f in files if kept(f.destination)),
    ]


def process(spec: ProcessSpec) -> dict[str, Any]:
    caps = list(DEFAULT_CAPS)
    user = spec.user
    return {
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
        "noNewPrivileges": False,
    }


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
) -> dict[str, Any]:
    """`netns` None shares the caller's network namespace (`--net host`), and then the host's
    UTS namespace too, as Docker does; `hostname` and `domainname` are ignored in that case.
    `masked` paths are hidden as Docker hides parts of /proc: an empty read-only tmpfs over a
    folder, /dev/null over a file; paths the container does not have are skipped."""
    namespaces: list[dict[str, str]] = [{"type": "pid"}, {"type": "ipc"}, {"type": "mount"}]
    if netns is not None:
        namespaces += [{"type": "network", "path": netns}, {"type": "uts"}]
    doc: dict[str, Any] = {
        "ociVersion": "1.0.2",
        "process": process(proc),
        "root": {"path": rootfs, "readonly": False},
        "mounts": _all_mounts(binds, mounts, files),
        "linux": {
            "namespaces": namespaces,
            # Host unmounts (namespace handles of removed containers) must reach every
            # container's copy, or those namespaces would never be freed.
            "rootfsPropagation": "rslave",
            "maskedPaths": [*_MASKED, *masked],
            "readonlyPaths": list(_READONLY),
        },
    }
    if netns is not None and hostname:
        doc["hostname"] = hostname
    if netns is not None and domainname:
        doc["domainname"] = domainname
    return doc
