"""How much a container may use: memory, CPU, processes (cgroups), ulimits and the size of
/dev/shm. Docker's defaults, checks and texts (moby daemon/daemon_unix.go,
container/container_unix.go UpdateContainer); which cgroup controller each limit needs, so
that a host without it refuses the limit by name instead of dropping it. Pure.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from hatoba.errors import Conflict, InvalidArgument
from hatoba.model.knobs import ULIMIT_TYPES, check_ulimit

# Docker's linuxMinMemory, the bounds of cpu.shares, and the default /dev/shm (64 MiB)
MIN_MEMORY = 6 * 1024 * 1024
MIN_CPU_SHARES, MAX_CPU_SHARES = 2, 262144
DEFAULT_SHM_SIZE = 64 << 20
# the CFS period a `--cpus` limit uses (µs), as Docker's
CPUS_PERIOD = 100_000

MEMORY, CPU, PIDS, FREEZER, DEVICES = "memory", "cpu", "pids", "freezer", "devices"


@dataclass(frozen=True)
class Ulimit:
    name: str
    soft: int
    hard: int


@dataclass(frozen=True)
class Resources:
    """HostConfig's values as Docker keeps them (0: not set)."""

    memory: int = 0
    # memory plus swap; -1 unlimited
    memory_swap: int = 0
    nano_cpus: int = 0
    cpu_shares: int = 0
    cpu_period: int = 0
    cpu_quota: int = 0
    # 0 and -1 both mean no limit
    pids_limit: int = 0
    ulimits: tuple[Ulimit, ...] = ()
    shm_size: int = 0

    @property
    def cfs(self) -> tuple[int, int]:
        """The CFS (quota, period) in µs; 0 for none."""
        if self.nano_cpus:
            return self.nano_cpus * CPUS_PERIOD // 1_000_000_000, CPUS_PERIOD
        return self.cpu_quota, self.cpu_period


@dataclass(frozen=True)
class CgroupSupport:
    """What the host lets hatoba do with cgroups (probed by the runtime at start)."""

    # 2, 1 (cgroup v1, a hybrid host too), or 0: no cgroup hatoba can write
    version: int = 0
    # of MEMORY, CPU, PIDS, FREEZER, DEVICES
    controllers: frozenset[str] = frozenset()
    # swap accounting (memory.memsw.* in v1, memory.swap.max in v2)
    swap: bool = False
    cpus: int = 1

    def has(self, controller: str) -> bool:
        return controller in self.controllers

    def where(self) -> str:
        if self.version == 2:
            return "cgroup v2 (/sys/fs/cgroup/cgroup.controllers)"
        if self.version == 1:
            return "cgroup v1 (/sys/fs/cgroup/<controller>)"
        return "no writable cgroup file system"


def check(
    resources: Resources, support: CgroupSupport, *, update: bool = False
) -> tuple[Resources, list[str]]:
    """Docker's checks of a create (or update) request and its defaults (MemorySwap twice
    Memory, CpuShares within bounds, /dev/shm 64 MiB): the resources to keep and the
    warnings. A limit whose controller the host lacks is refused, naming both."""
    warnings: list[str] = []
    r = resources
    if r.memory and r.memory < MIN_MEMORY:
        raise InvalidArgument("Minimum memory limit allowed is 6MB")
    if r.memory > 0 and r.memory_swap > 0 and r.memory_swap < r.memory:
        raise InvalidArgument(
            "Minimum memoryswap limit should be larger than memory limit, see usage"
        )
    if r.memory == 0 and r.memory_swap > 0 and not update:
        raise InvalidArgument(
            "You should always set the Memory limit when using Memoryswap limit, see usage"
        )
    if r.nano_cpus > 0 and r.cpu_period > 0:
        raise InvalidArgument("Conflicting options: Nano CPUs and CPU Period cannot both be set")
    if r.nano_cpus > 0 and r.cpu_quota > 0:
        raise InvalidArgument("Conflicting options: Nano CPUs and CPU Quota cannot both be set")
    if r.nano_cpus < 0 or r.nano_cpus > support.cpus * 1_000_000_000:
        raise InvalidArgument(
            f"Range of CPUs is from 0.01 to {support.cpus}.00, as there are only "
            f"{support.cpus} CPUs available"
        )
    if r.cpu_period and not 1000 <= r.cpu_period <= 1_000_000:
        raise InvalidArgument(
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"
        )
    if 0 < r.cpu_quota < 1000:
        raise InvalidArgument("CPU cfs quota can not be less than 1ms (i.e. 1000)")
    if r.shm_size < 0:
        raise InvalidArgument("SHM size can not be less than 0")
    for ulimit in r.ulimits:
        if ulimit.name not in ULIMIT_TYPES:
            raise InvalidArgument(f"invalid ulimit type: {ulimit.name}")
        try:
            check_ulimit(ulimit.soft, ulimit.hard)
        except ValueError as exc:
            raise InvalidArgument(str(exc)) from None
    for name, controller in _needs(r):
        if not support.has(controller):
            raise InvalidArgument(
                f'HostConfig.{name} needs the cgroup "{controller}" controller, which this '
                f"host does not give hatoba ({support.where()})"
            )
    if r.memory_swap > 0 and not support.swap:
        raise InvalidArgument(
            "HostConfig.MemorySwap needs swap accounting in the memory cgroup, which this "
            "host does not have"
        )
    shares = min(max(r.cpu_shares, MIN_CPU_SHARES), MAX_CPU_SHARES) if r.cpu_shares > 0 else 0
    swap = r.memory_swap
    if r.memory > 0 and swap == 0 and not update:
        if support.swap:
            swap = r.memory * 2
        else:
            warnings.append(
                "Your kernel does not support swap limit capabilities or the cgroup is not "
                "mounted. Memory limited without swap."
            )
    shm = r.shm_size or (0 if update else DEFAULT_SHM_SIZE)
    return dataclasses.replace(r, cpu_shares=shares, memory_swap=swap, shm_size=shm), warnings


def _needs(r: Resources) -> list[tuple[str, str]]:
    """(field, controller) for every limit the request sets."""
    needs = []
    if r.memory > 0 or r.memory_swap > 0:
        needs.append(("Memory" if r.memory > 0 else "MemorySwap", MEMORY))
    for name, value in (
        ("NanoCpus", r.nano_cpus),
        ("CpuShares", r.cpu_shares),
        ("CpuPeriod", r.cpu_period),
        ("CpuQuota", r.cpu_quota),
    ):
        if value > 0:
            needs.append((name, CPU))
    if r.pids_limit > 0:
        needs.append(("PidsLimit", PIDS))
    return needs


# a CPU limit of one kind (the field and Docker's name for it) cannot replace the other
_CPU_KINDS = (
    ("nano_cpus", "Nano CPUs", "cpu_period", "CPU Period"),
    ("nano_cpus", "Nano CPUs", "cpu_quota", "CPU Quota"),
    ("cpu_period", "CPU Period", "nano_cpus", "NanoCPUs"),
    ("cpu_quota", "CPU Quota", "nano_cpus", "NanoCPUs"),
)


def updated(
    current: Resources, change: Resources, pids_limit: int | None, *, swap: bool
) -> Resources:
    """Docker's UpdateContainer: the fields the change sets replace the container's; the CPU
    limits of one kind cannot be changed into the other; a PidsLimit of null keeps the
    container's, 0 or less lifts it. `swap`: whether the host accounts swap (without, no
    memoryswap limit was set, and a new memory limit needs none)."""
    for asked, asked_name, kept, kept_name in _CPU_KINDS:
        if getattr(change, asked) > 0 and getattr(current, kept) > 0:
            raise Conflict(
                f"Conflicting options: {asked_name} cannot be updated as {kept_name} has "
                "already been set"
            )
    if swap and change.memory and change.memory > current.memory_swap and not change.memory_swap:
        raise Conflict(
            "Memory limit should be smaller than already set memoryswap limit, update the "
            "memoryswap at the same time"
        )
    fields = ("memory", "memory_swap", "nano_cpus", "cpu_shares", "cpu_period", "cpu_quota")
    changed = {name: getattr(change, name) for name in fields if getattr(change, name)}
    if pids_limit is not None:
        changed["pids_limit"] = max(pids_limit, 0)
    return dataclasses.replace(current, **changed)
