"""What `stats` and `top` read about a running container: its interfaces' counters inside its
network namespace (rtnetlink's 64-bit link statistics, as Docker reads them), its own cgroup
when it has one (`cgroups`), the host's CPU time, the processes of its PID namespace, and
`ps` for `top`. Every call may block (a namespace is entered on a short-lived thread, files
of /proc are read, `ps` runs): call off the event loop.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Sequence

from hatoba.errors import Conflict, InvalidArgument, KernelError
from hatoba.kernel import netlink as nl
from hatoba.kernel.cgroups import USER_HZ, Cgroup, own_cgroup
from hatoba.kernel.netns import call_in_netns
from hatoba.observe.usage import Sample

PS_TIMEOUT = 10.0


class ContainerMeter:
    """One running container's counters, read anew at each `sample`. Made for the process
    `pid` (its cgroup and PID namespace) and the namespace handle `netns` ("" when it has no
    network namespace of its own)."""

    def __init__(self, pid: int, netns: str) -> None:
        self.pid = pid
        self._sock: nl.NetlinkSocket | None = None
        if netns:
            try:
                self._sock = call_in_netns(netns, nl.NetlinkSocket)
            except (OSError, KernelError):
                pass  # its namespace went with it (it stopped meanwhile): no network counters
        self._cgroup: Cgroup | None = own_cgroup(pid)

    def sample(self, ifnames: Sequence[str]) -> Sample:
        """`ifnames`: the container's own interfaces (Docker counts neither lo nor a shared
        namespace's)."""
        networks = {}
        if self._sock is not None and ifnames:
            counters = self._sock.counters()
            networks = {name: counters[name] for name in ifnames if name in counters}
        system_ns, cpus = host_cpu()
        return Sample(
            read_ns=time.time_ns(),
            system_cpu_ns=system_ns,
            online_cpus=cpus,
            processes=len(processes(self.pid)),
            networks=networks,
            cgroup=self._cgroup.usage(machine_memory()) if self._cgroup is not None else None,
        )

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()


class KernelMeters:
    """The adapter the API's stats and top use (hatoba.api.ports.Meters)."""

    def meter(self, pid: int, netns: str) -> ContainerMeter:
        return ContainerMeter(pid, netns)

    def processes(self, pid: int) -> list[int]:
        return processes(pid)

    def ps(self, argv: Sequence[str], pids: Sequence[int]) -> str:
        return ps(argv, pids)


def processes(pid: int) -> list[int]:
    """Every process in the PID namespace of `pid`, by its pid here."""
    try:
        target = _namespace(pid)
    except OSError:
        raise Conflict(f"process {pid} is gone") from None
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if _namespace(int(entry)) == target:
                    found.append(int(entry))
            except OSError:
                continue  # ended meanwhile
    return sorted(found)


def _namespace(pid: int) -> tuple[int, int]:
    info = os.stat(f"/proc/{pid}/ns/pid")
    return info.st_dev, info.st_ino


def ps(argv: Sequence[str], pids: Sequence[int]) -> str:
    """`ps ARGS` as Docker runs it: first told the pids (`q1,2,3`: quicker on a busy host),
    then without them for options that refuse that (f). Arguments ps refuses are the
    client's: InvalidArgument with ps's first error line (Docker answers 500)."""
    quick = "q" + ",".join(str(p) for p in pids)
    for attempt in ([*argv, quick], list(argv)):
        try:
            done = subprocess.run(
                ["ps", *attempt], capture_output=True, text=True, timeout=PS_TIMEOUT, check=False
            )
        except ValueError:
            raise InvalidArgument("ps: an argument holds a NUL character") from None
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise KernelError(f"ps: {exc}") from None
        if done.returncode == 0:
            return done.stdout
    reason = done.stderr.split("\n", 1)[0] or f"exit status {done.returncode}"
    raise InvalidArgument(f"ps: {reason}")


def host_cpu() -> tuple[int, int]:
    """(all CPUs' time in ns as Docker sums /proc/stat's first seven fields, online CPUs)."""
    with open("/proc/stat", encoding="ascii") as f:
        lines = f.read().splitlines()
    fields = lines[0].split()
    ticks = sum(int(n) for n in fields[1:8])
    cpus = sum(1 for line in lines if line.startswith("cpu") and line[3:4].isdigit())
    return ticks * 1_000_000_000 // USER_HZ, cpus


def machine_memory() -> int:
    with open("/proc/meminfo", encoding="ascii") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0
