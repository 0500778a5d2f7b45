"""Containers' cgroups: where they are and what the host lets them limit (probed once, when
the runtime starts), and what a container's own cgroup counts (stats).

A container's cgroup is `/<parent>/<id>` below the root of each hierarchy (`parent` is
`hatoba` unless the service is told otherwise), as Docker's cgroupfs driver puts its
`/docker/<id>`; crun (its cgroupfs manager) makes it, writes the limits and device rules,
freezes it for `pause`, and removes it with the container.

- cgroup v2 (/sys/fs/cgroup is cgroup2): one tree. crun enables the root's controllers in the
  subtree_control of `/` and `/<parent>`; freezing (cgroup.freeze) and the device filter (an
  eBPF program) need no controller.
- cgroup v1: a hierarchy per controller, /sys/fs/cgroup/<controller>.
- hybrid (v1 plus a cgroup2 tree at /sys/fs/cgroup/unified, systemd's hybrid mode): used as
  v1, as Docker does. crun refuses to make cgroups when the cgroup2 tree has a controller
  ("cgroups in hybrid mode not supported"), so the shim detaches that tree in its own mount
  namespace before `crun create`; every other crun command works as it is.

A controller counts when its hierarchy is mounted and hatoba can make its parent folder
there; with none, containers run without cgroups (crun's cgroups disabled) and every limit is
refused by name (model/resources.py).

Stats find a container's cgroup through /proc/<pid>/cgroup (cgroup v2, or the v1 controllers
of a v1 or hybrid host), wherever crun put it. A container without a cgroup of its own runs in
the service's: nothing counted there is the container's alone, so `own_cgroup` answers None
and stats report zeros, as Docker's do without the controller.
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from hatoba.model.resources import CPU, DEVICES, FREEZER, MEMORY, PIDS, CgroupSupport
from hatoba.observe.usage import BlockIo, CgroupUsage, MemoryUsage

ROOT = Path("/sys/fs/cgroup")
DEFAULT_PARENT = "hatoba"
# the v1 controllers hatoba limits or freezes with
_PROBED_V1 = (MEMORY, CPU, PIDS, FREEZER, DEVICES)
V2 = ""  # the unified hierarchy's key in a membership map (its line is `0::/path`)
# the v1 controllers stats read
V1_CONTROLLERS = ("cpu", "cpuacct", "memory", "pids", "blkio")
USER_HZ = os.sysconf("SC_CLK_TCK")
# what cgroup v1 reports as "no limit" (PAGE_COUNTER_MAX pages), and v2's word for it
_UNLIMITED = 1 << 62


def probe(parent: str = DEFAULT_PARENT, root: Path = ROOT) -> CgroupSupport:
    cpus = len(os.sched_getaffinity(0))
    if (root / "cgroup.controllers").exists():
        return _probe_v2(root, parent, cpus)
    found = {
        name
        for name in _PROBED_V1
        if (root / name / "cgroup.procs").exists() and _made(root / name / parent)
    }
    if not found:
        return CgroupSupport(cpus=cpus)
    swap = (root / MEMORY / "memory.memsw.limit_in_bytes").exists()
    return CgroupSupport(1, frozenset(found), swap=swap, cpus=cpus)


def _probe_v2(root: Path, parent: str, cpus: int) -> CgroupSupport:
    folder = root / parent
    if not _made(folder):
        return CgroupSupport(cpus=cpus)
    available = set((root / "cgroup.controllers").read_text().split())
    found = {MEMORY, CPU, PIDS} & available | {DEVICES}
    if (folder / "cgroup.freeze").exists():
        found.add(FREEZER)
    swap = MEMORY in available and (folder / "memory.swap.max").exists()
    return CgroupSupport(2, frozenset(found), swap=swap, cpus=cpus)


def _made(folder: Path) -> bool:
    try:
        folder.mkdir(exist_ok=True)
    except OSError:
        return False
    return True


def hybrid(root: Path = ROOT) -> bool:
    """A v1 host with a cgroup2 tree beside (the tree crun must not see, see above)."""
    return (
        not (root / "cgroup.controllers").exists()
        and (root / "unified" / "cgroup.controllers").exists()
    )


def thaw(parent: str, root: Path = ROOT) -> None:
    """Let every frozen container cgroup below `parent` run again (so that it can be killed)."""
    if (root / "cgroup.controllers").exists():
        files, value = (root / parent).glob("*/cgroup.freeze"), "0"
    else:
        files, value = (root / FREEZER / parent).glob("*/freezer.state"), "THAWED"
    for path in files:
        with contextlib.suppress(OSError):
            path.write_text(value)


def _parents(parent: str, root: Path) -> list[Path]:
    """`parent` in every hierarchy (one, in cgroup v2)."""
    if (root / "cgroup.controllers").exists():
        return [root / parent]
    return [entry / parent for entry in root.iterdir() if entry.is_dir()]


def processes(parent: str, root: Path = ROOT) -> set[int]:
    """Every process in a container cgroup below `parent`."""
    found: set[int] = set()
    for folder in _parents(parent, root):
        for procs in folder.glob("**/cgroup.procs"):
            with contextlib.suppress(OSError, ValueError):
                found.update(int(line) for line in procs.read_text().split())
    return found


def remove_parent(parent: str, root: Path = ROOT, patience: float = 2.0) -> None:
    """Remove `parent` from every hierarchy, with any container cgroups left in it (their
    processes killed): what a test sandbox does when it ends. A killed process leaves its
    cgroup last of all, so a busy folder is tried again for up to `patience` seconds."""
    deadline = time.monotonic() + patience
    for folder in _parents(parent, root):
        if not folder.is_dir():
            continue
        # cgroup folders hold only kernel files: rmdir them deepest first
        for below, _dirs, _files in sorted(os.walk(folder), key=lambda w: -len(w[0])):
            while True:
                try:
                    os.rmdir(below)
                except OSError as exc:
                    if exc.errno == errno.EBUSY and time.monotonic() < deadline:
                        time.sleep(0.02)
                        continue
                break


def membership(text: str) -> dict[str, str]:
    """/proc/<pid>/cgroup → controller (V2 for the unified hierarchy) → cgroup path."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if hierarchy == "0" and not controllers:
            found[V2] = path
        for controller in controllers.split(","):
            if controller and not controller.startswith("name="):
                found[controller] = path
    return found


def mount_points(mountinfo: str) -> dict[str, tuple[str, str]]:
    """/proc/self/mountinfo → controller (V2 for cgroup2) → (mount point, root of the mount)."""
    found: dict[str, tuple[str, str]] = {}
    for line in mountinfo.splitlines():
        fields = line.split()
        if "-" not in fields:
            continue
        dash = fields.index("-")
        fstype, options = fields[dash + 1], fields[dash + 3].split(",")
        root, point = fields[3], fields[4].replace("\\040", " ")
        if fstype == "cgroup2":
            found.setdefault(V2, (point, root))
        elif fstype == "cgroup":
            for controller in options:
                if controller in V1_CONTROLLERS:
                    found.setdefault(controller, (point, root))
    return found


def directories(
    theirs: Mapping[str, str], ours: Mapping[str, str], mounts: Mapping[str, tuple[str, str]]
) -> dict[str, Path]:
    """The container's cgroup directories that are not also the service's: the v1
    controllers that are its own (a hybrid host counts there, as runc's v1 mode does), else
    the unified hierarchy's."""
    found: dict[str, Path] = {}
    for key in (*V1_CONTROLLERS, V2):
        path, mount = theirs.get(key), mounts.get(key)
        if path is None or mount is None or path == ours.get(key):
            continue
        if key == V2 and found:
            break
        found[key] = folder(path, mount)
    return found


def folder(path: str, mount: tuple[str, str]) -> Path:
    """Where cgroup `path` (as /proc/<pid>/cgroup names it) is under its hierarchy's mount."""
    point, root = mount
    relative = path[len(root) :] if root != "/" and path.startswith(root) else path
    return Path(point + relative)


def own_cgroup(pid: int) -> Cgroup | None:
    """The cgroup of process `pid` when it is not the service's own (None otherwise, or when
    the process is gone)."""
    try:
        theirs = membership(Path(f"/proc/{pid}/cgroup").read_text())
        ours = membership(Path("/proc/self/cgroup").read_text())
        mounts = mount_points(Path("/proc/self/mountinfo").read_text())
    except OSError:
        return None
    found = directories(theirs, ours, mounts)
    return Cgroup(found) if found else None


@dataclass(frozen=True)
class Cgroup:
    dirs: Mapping[str, Path]

    def usage(self, machine_memory: int) -> CgroupUsage:
        if V2 in self.dirs:
            return _v2(self.dirs[V2], machine_memory)
        return _v1(self.dirs, machine_memory)


def _v2(path: Path, machine_memory: int) -> CgroupUsage:
    cpu = _keyed(path / "cpu.stat")
    memory = None
    current = _number(path / "memory.current")
    if current is not None:
        memory = MemoryUsage(
            usage=current,
            limit=_limit(_number(path / "memory.max"), machine_memory),
            stats=_keyed(path / "memory.stat"),
        )
    io = []
    for line in _lines(path / "io.stat"):
        device, *pairs = line.split()
        major, minor = (int(n) for n in device.split(":"))
        counts = dict(pair.split("=", 1) for pair in pairs)
        io += [BlockIo(major, minor, op, int(counts.get(key, 0))) for op, key in _V2_IO]
    return CgroupUsage(
        cpu_total_ns=cpu.get("usage_usec", 0) * 1000,
        cpu_user_ns=cpu.get("user_usec", 0) * 1000,
        cpu_kernel_ns=cpu.get("system_usec", 0) * 1000,
        throttling=(
            cpu.get("nr_periods", 0),
            cpu.get("nr_throttled", 0),
            cpu.get("throttled_usec", 0) * 1000,
        ),
        memory=memory,
        pids=_number(path / "pids.current"),
        io=tuple(io),
    )


_V2_IO = (("read", "rbytes"), ("write", "wbytes"))


def _v1(dirs: Mapping[str, Path], machine_memory: int) -> CgroupUsage:
    acct, cpu, mem = dirs.get("cpuacct"), dirs.get("cpu"), dirs.get("memory")
    ticks = _keyed(acct / "cpuacct.stat") if acct else {}
    throttled = _keyed(cpu / "cpu.stat") if cpu else {}
    memory = None
    usage = _number(mem / "memory.usage_in_bytes") if mem else None
    if mem is not None and usage is not None:
        memory = MemoryUsage(
            usage=usage,
            limit=_limit(_number(mem / "memory.limit_in_bytes"), machine_memory),
            stats=_keyed(mem / "memory.stat"),
            max_usage=_number(mem / "memory.max_usage_in_bytes") or 0,
            failcnt=_number(mem / "memory.failcnt") or 0,
        )
    io = []
    blkio = dirs.get("blkio")
    for line in _lines(blkio / "blkio.throttle.io_service_bytes_recursive") if blkio else ():
        parts = line.split()
        if len(parts) == 3:
            major, minor = (int(n) for n in parts[0].split(":"))
            io.append(BlockIo(major, minor, parts[1], int(parts[2])))
    percpu = _lines(acct / "cpuacct.usage_percpu") if acct else []
    return CgroupUsage(
        cpu_total_ns=(_number(acct / "cpuacct.usage") or 0) if acct else 0,
        cpu_user_ns=ticks.get("user", 0) * 1_000_000_000 // USER_HZ,
        cpu_kernel_ns=ticks.get("system", 0) * 1_000_000_000 // USER_HZ,
        percpu_ns=tuple(int(n) for n in percpu[0].split()) if percpu else (),
        throttling=(
            throttled.get("nr_periods", 0),
            throttled.get("nr_throttled", 0),
            throttled.get("throttled_time", 0),
        ),
        memory=memory,
        pids=_number(dirs["pids"] / "pids.current") if "pids" in dirs else None,
        io=tuple(io),
    )


def _limit(value: int | None, machine_memory: int) -> int:
    """Docker's: no limit (or one above the machine's memory) reads as the machine's memory."""
    if value is None or value >= _UNLIMITED or value > machine_memory:
        return machine_memory
    return value


def _lines(path: Path) -> list[str]:
    try:
        return [line for line in path.read_text().splitlines() if line.strip()]
    except OSError:
        return []


def _number(path: Path) -> int | None:
    lines = _lines(path)
    if not lines:
        return None
    text = lines[0].strip()
    return _UNLIMITED if text == "max" else int(text)


def _keyed(path: Path) -> dict[str, int]:
    """`key value` lines (cpu.stat, memory.stat)."""
    found = {}
    for line in _lines(path):
        key, _, value = line.partition(" ")
        if value.strip().isdigit():
            found[key] = int(value)
    return found
