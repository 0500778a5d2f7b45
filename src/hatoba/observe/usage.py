"""What a running container uses, as read at one moment (`stats`), and its processes as `ps`
shows them (`top`).

The service's meters (`hatoba.kernel.meters`) read the counters: the link statistics of the
container's interfaces in its namespace, its own cgroup's CPU, memory, block I/O and
processes when it has a cgroup of its own, and the host's CPU time. The API turns two
samples into Docker's stats document. `ps_table` is Docker's reading of `ps` output.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from hatoba.errors import InvalidArgument


@dataclass(frozen=True)
class LinkCounters:
    """One interface's statistics, as the container sees them (rx: what it received)."""

    rx_bytes: int = 0
    rx_packets: int = 0
    rx_errors: int = 0
    rx_dropped: int = 0
    tx_bytes: int = 0
    tx_packets: int = 0
    tx_errors: int = 0
    tx_dropped: int = 0


@dataclass(frozen=True)
class MemoryUsage:
    usage: int
    limit: int  # the machine's memory when the cgroup sets none
    stats: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    # cgroup v1 only
    max_usage: int = 0
    failcnt: int = 0


@dataclass(frozen=True)
class BlockIo:
    major: int
    minor: int
    op: str  # Read/Write (cgroup v1), read/write (v2), as Docker passes them on
    value: int


@dataclass(frozen=True)
class CgroupUsage:
    """What the container's own cgroup says; a controller it lacks leaves its part empty."""

    cpu_total_ns: int = 0
    cpu_user_ns: int = 0
    cpu_kernel_ns: int = 0
    percpu_ns: tuple[int, ...] = ()  # cgroup v1 only
    # (periods, throttled periods, throttled time in ns)
    throttling: tuple[int, int, int] = (0, 0, 0)
    memory: MemoryUsage | None = None
    pids: int | None = None
    io: tuple[BlockIo, ...] = ()


@dataclass(frozen=True)
class Sample:
    read_ns: int  # wall clock
    system_cpu_ns: int  # all the host's CPUs' time, as /proc/stat counts it
    online_cpus: int
    processes: int  # in the container's PID namespace
    networks: Mapping[str, LinkCounters] = field(default_factory=lambda: MappingProxyType({}))
    # None: the container shares the service's cgroup (no limits of its own), so nothing
    # it alone uses can be told apart: CPU and memory read as zeros, as Docker's do without
    # the controller
    cgroup: CgroupUsage | None = None


# --- top ----------------------------------------------------------------------------------------

DEFAULT_PS_ARGS = "-ef"
_PID_OPTION = re.compile(r"\s+([^\s]*)=\s*(PID[^\s]*)")


def ps_argv(ps_args: str) -> list[str]:
    """Docker's: split on single spaces; only `pid=PID…` may rename the PID column."""
    for key, value in _PID_OPTION.findall(ps_args or DEFAULT_PS_ARGS):
        if key != "pid":
            raise InvalidArgument(f'specifying "{key}={value}" is not allowed')
    return (ps_args or DEFAULT_PS_ARGS).split(" ")


def ps_table(output: str, pids: Sequence[int]) -> tuple[list[str], list[list[str]]]:
    """Docker's parsePSOutput: the titles, and the rows whose PID is one of `pids` (with the
    thread lines after them that `ps m` prints with PID `-`). The last column keeps its
    spaces (the command line)."""
    lines = output.split("\n")
    titles = lines[0].split()
    if "PID" not in titles:
        raise InvalidArgument("Couldn't find PID field in ps output")
    pid_index = titles.index("PID")
    wanted = set(pids)
    rows: list[list[str]] = []
    kept = False
    for line in lines[1:]:
        if not line:
            continue
        fields = line.split()
        if fields[pid_index] == "-":
            if kept:
                rows.append(_row(fields, len(titles)))
            continue
        try:
            pid = int(fields[pid_index])
        except ValueError:
            raise InvalidArgument(f"Unexpected pid '{fields[pid_index]}'") from None
        kept = pid in wanted
        if kept:
            rows.append(_row(fields, len(titles)))
    return titles, rows


def _row(fields: list[str], columns: int) -> list[str]:
    return [*fields[: columns - 1], " ".join(fields[columns - 1 :])]
