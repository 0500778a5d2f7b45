"""podman 4.3 as the yardstick: a driver that keeps its state in a folder of the bench's sandbox
and removes what it still leaves on the machine.

podman uses the reference containers.conf and keeps its storage, run state, temporary files and
network configs under `home`; it still creates its netns handles in /run/netns and a little state
in /run/containers and /var/lib/containers, which clean() removes again (only what it created).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from pathlib import Path

PODMAN_CONF = Path("/work/shared/reference/podman/containers.conf")
# machine-wide state podman 4.3 writes whatever --root/--runroot say (netavark's run folder and
# the blob info cache), each under a parent folder that others may share
_MACHINE_PATHS = (
    (Path("/run/containers/networks"), Path("/run/containers")),
    (Path("/var/lib/containers/cache"), Path("/var/lib/containers")),
)
_NETNS = Path("/run/netns")


class Podman:
    """podman with every folder of its own below `home`, run in the network namespace `ns` (by
    default this process's: a bench worker inside the sandbox times `argv` itself)."""

    def __init__(self, home: Path, ns: Path | None = None) -> None:
        self.home = home
        self.argv = [
            "podman",
            "--root", str(home / "root"),
            "--runroot", str(home / "run"),
            "--tmpdir", str(home / "tmp"),
            "--network-config-dir", str(home / "networks"),
        ]  # fmt: skip
        self.env = {**os.environ, "CONTAINERS_CONF": str(PODMAN_CONF)}
        self._enter = [] if ns is None else ["nsenter", f"--net={ns}"]
        self._netns_before = set(os.listdir(_NETNS)) if _NETNS.is_dir() else set()
        self._created = [p for pair in _MACHINE_PATHS for p in pair if not p.exists()]

    def run(self, *args: str, check: bool = True, timeout: float = 120) -> str:
        """`podman ARGS`, its stdout; a failure raises CalledProcessError (see `reason`)."""
        done = subprocess.run(
            [*self._enter, *self.argv, *args],
            env=self.env,
            check=check,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return done.stdout

    def clean(self) -> None:
        """Remove every container, network and image, then what podman left on the machine."""
        if shutil.which(self.argv[0]) is None:
            return  # not installed: the bench reports it and there is nothing to clean
        self.run("rm", "-f", "-a", "-t", "0", check=False)
        self.run("network", "prune", "-f", check=False)
        self.run("system", "reset", "-f", check=False)
        # conmon runs `podman container cleanup` after its container died: let it finish
        # before removing the state it writes
        deadline = time.monotonic() + 60
        while self._busy() and time.monotonic() < deadline:
            time.sleep(0.05)
        # a handle podman failed to remove would keep its namespace alive
        for name in set(os.listdir(_NETNS)) - self._netns_before if _NETNS.is_dir() else ():
            if name.startswith("netns-"):
                umount = ["umount", "-l", str(_NETNS / name)]
                subprocess.run(umount, capture_output=True, check=False)
                (_NETNS / name).unlink(missing_ok=True)
        for leaf, parent in _MACHINE_PATHS:
            if leaf in self._created:
                shutil.rmtree(leaf, ignore_errors=True)
            if parent in self._created:
                with contextlib.suppress(OSError):
                    parent.rmdir()  # only if nobody else has put something there meanwhile

    def _busy(self) -> bool:
        """Whether a process still works on our folders (conmon, `podman container cleanup`)."""
        ours = str(self.home).encode()
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if ours in f.read():
                        return True
            except OSError:
                continue
        return False


def reason(exc: Exception) -> str:
    """Why podman failed, in one line: the last line of its stderr when there is one."""
    failed = isinstance(exc, subprocess.CalledProcessError) and exc.stderr
    text = str(exc.stderr if failed else exc)
    return (text.strip().splitlines() or [""])[-1]
