"""Docker's textual forms of container limits and kernel settings: sizes (`10m`), CPUs
(`0.5`), ulimits (`nofile=1024:2048`), sysctl names, device mappings. Read as docker 20.10's
CLI reads them, with its texts (`ValueError` carries the reason the CLI gives); the tables the
service checks too (ulimit types, the IPC sysctls) are shared with it.

Imports nothing at module level: the CLI uses it (as hatoba.model.durations, for the same
reason: start-up time).
"""

from __future__ import annotations

# go-units RAMInBytes: binary units, the unit and its `b` optional
_BINARY = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}

# go-units ulimit names and the resources they set (OCI `process.rlimits` types); `as` is
# left out, as Docker leaves it out
ULIMIT_TYPES = {
    name: f"RLIMIT_{name.upper()}"
    for name in (
        "core",
        "cpu",
        "data",
        "fsize",
        "locks",
        "memlock",
        "msgqueue",
        "nice",
        "nofile",
        "nproc",
        "rss",
        "rtprio",
        "rttime",
        "sigpending",
        "stack",
    )
}

# the kernel.* sysctls an IPC namespace owns (with fs.mqueue.*): docker's CLI and runc allow them
IPC_SYSCTLS = frozenset(
    {
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    }
)
IPC_SYSCTL_PREFIX = "fs.mqueue."
NET_SYSCTL_PREFIX = "net."
# a device cgroup rule: `TYPE MAJOR:MINOR ACCESS`, `c 42:* rmw`
DEVICE_CGROUP_RULE = r"([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})"


def ram_in_bytes(text: str) -> int:
    """go-units RAMInBytes as docker 20.10 vendors it: `10m`, `1.5g`, `512 KiB`, `1024`."""
    import re

    found = re.fullmatch(r"(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?", text)
    if found is None:
        raise ValueError(f"invalid size: '{text}'")
    return int(float(found[1]) * _BINARY[(found[2] or "").lower()])


def memory_swap(text: str) -> int:
    """docker's MemSwapBytes: a size, or -1 for unlimited swap."""
    return -1 if text == "-1" else ram_in_bytes(text)


def nano_cpus(text: str) -> int:
    """docker's NanoCPUs (`--cpus 1.5`): a rational number of CPUs, in billionths."""
    from fractions import Fraction

    try:
        cpus = Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"failed to parse {text} as a rational number") from None
    nano = cpus * 1_000_000_000
    if nano.denominator != 1:
        raise ValueError("value is too precise")
    return int(nano)


def _go_int(text: str) -> int:
    """strconv.ParseInt(text, 10, 64) with Go's error text."""
    digits = text[1:] if text[:1] in "+-" else text
    if not digits.isdigit() or not digits.isascii():
        raise ValueError(f'strconv.ParseInt: parsing "{text}": invalid syntax')
    value = int(text)
    if not -(1 << 63) <= value < 1 << 63:
        raise ValueError(f'strconv.ParseInt: parsing "{text}": value out of range')
    return value


def parse_ulimit(text: str) -> tuple[str, int, int]:
    """go-units ParseUlimit (`nofile=1024:2048`, `nproc=64`): (name, soft, hard)."""
    name, eq, limits = text.partition("=")
    if not eq:
        raise ValueError(f"invalid ulimit argument: {text}")
    if name not in ULIMIT_TYPES:
        raise ValueError(f"invalid ulimit type: {name}")
    values = limits.split(":")
    if len(values) > 2:
        raise ValueError(
            f"too many limit value arguments - {limits}, can only have up to two, `soft[:hard]`"
        )
    hard = _go_int(values[1]) if len(values) == 2 else None
    soft = _go_int(values[0])
    if hard is None:
        hard = soft
    check_ulimit(soft, hard)
    return name, soft, hard


def check_ulimit(soft: int, hard: int) -> None:
    """-1 is unlimited; the soft limit may not pass the hard one (go-units' texts)."""
    if hard == -1:
        return
    if soft == -1:
        raise ValueError(
            "ulimit soft limit must be less than or equal to hard limit: "
            f"soft: -1 (unlimited), hard: {hard}"
        )
    if soft > hard:
        raise ValueError(
            f"ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
        )


def sysctl_whitelisted(text: str) -> bool:
    """docker's CLI (opts.ValidateSysctl): `NAME=VALUE` with a name an IPC or network
    namespace owns. The service checks the namespaces themselves (model/security.py)."""
    parts = text.split("=")
    if len(parts) < 2:
        return False
    name = parts[0]
    return name in IPC_SYSCTLS or name.startswith((NET_SYSCTL_PREFIX, IPC_SYSCTL_PREFIX))


def device_mode(text: str) -> bool:
    """A device cgroup permission: some of `r`, `w`, `m`, each at most once."""
    return bool(text) and len(set(text)) == len(text) and set(text) <= set("rwm")


def parse_device(text: str) -> tuple[str, str, str]:
    """docker's `--device HOST[:CONTAINER][:PERMISSIONS]` (validateLinuxPath, then
    parseLinuxDevice): (path on the host, path in the container, cgroup permissions)."""
    import posixpath

    if text.count(":") > 2 or not text.split(":", 1)[0]:
        raise ValueError(f"bad format for path: {text}")
    parts = text.split(":")
    host, inside, mode = parts[0], "", "rwm"
    if len(parts) == 3:
        if not device_mode(parts[2]):
            raise ValueError(f"bad mode specified: {parts[2]}")
        inside, mode = parts[1], parts[2]
    elif len(parts) == 2 and not device_mode(parts[1]):
        inside = posixpath.normpath(parts[1])
    else:
        host = posixpath.normpath(host)
        mode = parts[1] if len(parts) == 2 else mode
    if not (inside or host).startswith("/"):
        raise ValueError(f"{inside or host} is not an absolute path")
    return host, inside or host, mode
