"""Keeps the kernel's cgroup migrations fast while containers are being created.

Moving a process into a cgroup (what crun does with each new container, once per cgroup v1
hierarchy) takes the kernel's one global `cgroup_threadgroup_rwsem` for writing, and the first
writer after a quiet spell waits for an RCU grace period before it gets it (`rcu_sync_enter`):
5–15 ms on the project VM, a third of the service's time for a `run -d`. A writer that comes
within a grace period of the last one does not wait. So from the moment a start begins, the
service moves itself into the cgroup it is already in (a migration that changes nothing) every
couple of milliseconds: its own first move waits out the grace period while the namespace,
the veths and the shim are made, and crun's moves then find the lock's fast path open. Readers
of the lock (every fork and exit on the machine) are not held up meanwhile: only the writer
waits. A create opens it too (a start usually follows), and after the last start it stays
open for LINGER, so the next container of a burst (a script's loop of `run -d`, a CI job's
setup, docker-compose's one by one) finds it open from its first step; the first start after
a quiet second gets only the part of the grace period its own work covers. A batch of
starts (hatoba's `compose up`) does without it: its own crun creates keep the path open
among themselves. Meanwhile forks
and exits on the machine take the lock's slower read path (as with the kernel's own
`favordynmods`), and the service wakes every MOVE_EVERY: ~3 % of a CPU.

On a host whose cgroup hierarchy is mounted with `favordynmods` the kernel keeps that path
open by itself, and the moves cost nothing.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from hatoba.kernel.cgroups import folder, membership, mount_points

log = logging.getLogger(__name__)

# shorter than any grace period: the window never closes between two moves
MOVE_EVERY = 0.002
# how long the window stays open after the last start
LINGER = 1.0


def own_procs_file() -> Path | None:
    """The `cgroup.procs` of the cgroup the service is in, in any of its hierarchies (the
    lock is one for all of them); None when none is mounted."""
    try:
        ours = membership(Path("/proc/self/cgroup").read_text())
        mounts = mount_points(Path("/proc/self/mountinfo").read_text())
    except OSError:
        return None
    for key, path in ours.items():
        mount = mounts.get(key)
        if mount is None:
            continue
        procs = folder(path, mount) / "cgroup.procs"
        if procs.exists():
            return procs
    return None


class MigrationWindow:
    """Open while anyone holds it, and for LINGER seconds after."""

    def __init__(
        self, procs: Path | None, *, every: float = MOVE_EVERY, linger: float = LINGER
    ) -> None:
        self._procs = procs
        self._every = every
        self._linger = linger
        self._lock = threading.Lock()
        self._holders = 0
        self._until = 0.0
        self._mover: threading.Thread | None = None

    @property
    def is_open(self) -> bool:
        with self._lock:
            return self._mover is not None

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        self._hold()
        try:
            yield
        finally:
            with self._lock:
                self._holders -= 1
                self._until = time.monotonic() + self._linger

    def _hold(self) -> None:
        with self._lock:
            self._holders += 1
            if self._procs is None or self._mover is not None:
                return
            self._mover = threading.Thread(
                target=self._keep_open, args=(self._procs,), name="cgroup-window", daemon=True
            )
            self._mover.start()

    def _keep_open(self, procs: Path) -> None:
        pid = str(os.getpid()).encode()
        try:
            fd = os.open(procs, os.O_WRONLY | os.O_CLOEXEC)
        except OSError as exc:
            self._give_up(exc)
            return
        try:
            while True:
                os.write(fd, pid)
                with self._lock:
                    if not self._holders and time.monotonic() >= self._until:
                        self._mover = None
                        return
                time.sleep(self._every)
        except OSError as exc:
            self._give_up(exc)
        finally:
            os.close(fd)

    def _give_up(self, exc: OSError) -> None:
        """The service may not move itself (a cgroup it was put in by someone else): starts
        are as fast as the kernel makes them, no more."""
        log.info("cgroup migrations keep their grace-period wait: %s", exc)
        with self._lock:
            self._procs = None
            self._mover = None
