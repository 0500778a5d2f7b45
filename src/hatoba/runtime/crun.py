"""The container runtime: an OCI bundle per container, run by crun under a shim.

Layout:
    <root>/containers/<id>/          config.json, hosts, hostname, resolv.conf, <id>-json.log,
                                     and for images the container layer (upper/, work/, rootfs/)
    <run-root>/containers/<id>/      the shim's sockets, pid files and exit.json
    <run-root>/crun/                 crun's own state
    <run-root>/hostfs/               the `hostfs` image: a skeleton of the host's top level
                                     whose directories the bundle binds from the host
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hatoba.errors import KernelError
from hatoba.model.launch import ExitStatus, LaunchRequest, Started
from hatoba.runtime import spec
from hatoba.runtime.forkserver import ForkServer

_NOT_BOUND = frozenset({"proc", "sys", "dev"})


class CrunRuntime:
    def __init__(
        self, forkserver: ForkServer, root: Path, run_root: Path, crun: str = "crun"
    ) -> None:
        self._forkserver = forkserver
        self._root = root / "containers"
        self._run = run_root / "containers"
        self._crun_root = run_root / "crun"
        self._hostfs = run_root / "hostfs"
        self._crun = shutil.which(crun) or crun
        for path in (self._root, self._run, self._crun_root):
            path.mkdir(parents=True, exist_ok=True)
        self._build_hostfs_skeleton()

    # --- paths ------------------------------------------------------------------------------

    def bundle_dir(self, container_id: str) -> Path:
        return self._root / container_id

    def run_dir(self, container_id: str) -> Path:
        # short: unix socket paths in here must stay under 108 bytes
        return self._run / container_id[:12]

    def log_path(self, container_id: str) -> Path:
        return self.bundle_dir(container_id) / f"{container_id}-json.log"

    def attach_socket(self, container_id: str) -> Path:
        return self.run_dir(container_id) / "attach.sock"

    # --- files ------------------------------------------------------------------------------

    def write_file(self, container_id: str, name: str, content: str) -> Path:
        """Rewrite in place (never rename): a bind mount holds the file's inode."""
        path = self.bundle_dir(container_id) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(content)
        return path

    def rewrite_file(self, container_id: str, path: str, content: str) -> None:
        """Change a file the container already has (e.g. /etc/hosts after `network connect`)."""
        self.write_file(container_id, _bundle_name(path), content)

    def _build_hostfs_skeleton(self) -> None:
        self._hostfs.mkdir(parents=True, exist_ok=True)
        for entry in os.scandir("/"):
            target = self._hostfs / entry.name
            if entry.is_symlink():
                if not target.is_symlink():
                    with contextlib.suppress(FileExistsError):
                        target.symlink_to(os.readlink(entry.path))
            elif entry.is_dir():
                target.mkdir(exist_ok=True)

    def _hostfs_binds(self) -> list[spec.Bind]:
        binds = []
        for entry in sorted(os.scandir("/"), key=lambda e: e.name):
            if entry.name in _NOT_BOUND or entry.is_symlink() or not entry.is_dir():
                continue
            # not recursive: the host's file systems, without copying every mount below them
            # (namespace handles, other containers' mounts) into each new container
            binds.append(spec.Bind(entry.path, entry.path))
        return binds

    # --- lifecycle --------------------------------------------------------------------------

    def launch(self, launch: LaunchRequest) -> Started:
        cid = launch.container_id
        bundle = self.bundle_dir(cid)
        run = self.run_dir(cid)
        bundle.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(run, ignore_errors=True)
        run.mkdir(parents=True)
        binds = [
            spec.Bind(str(self.write_file(cid, _bundle_name(name), content)), name)
            for name, content in launch.files.items()
        ]
        overlay = None
        if not launch.layers:
            rootfs = str(self._hostfs)
            binds = self._hostfs_binds() + binds
        else:
            rootfs = str(bundle / "rootfs")
            for sub in ("rootfs", "upper", "work"):
                (bundle / sub).mkdir(exist_ok=True)
            overlay = {
                # overlayfs lists lower layers top first
                "lower": list(reversed(launch.layers)),
                "upper": str(bundle / "upper"),
                "work": str(bundle / "work"),
                "target": rootfs,
            }
        # crun joins the namespace through a private copy of its handle in the run dir (see
        # the shim), so that no shim needs to see the shared folder of every handle
        netns_link = None
        if launch.netns is not None:
            netns_link = run / "netns"
            netns_link.touch()
        config = spec.config(
            rootfs=rootfs,
            proc=launch.process,
            hostname=launch.hostname,
            netns=str(netns_link) if netns_link else None,
            binds=binds,
        )
        (bundle / "config.json").write_text(json.dumps(config))
        request: dict[str, Any] = {
            "id": cid,
            "dir": str(run),
            "bundle": str(bundle),
            "crun": self._crun,
            "crun_root": str(self._crun_root),
            "log": str(self.log_path(cid)),
            "tty": launch.process.terminal,
            "stdin": launch.open_stdin,
            "overlay": overlay,
            "expect_attach": launch.expect_attach,
            "netns": launch.netns,
            "netns_link": str(netns_link) if netns_link else None,
        }
        ready_r, ready_w = os.pipe2(os.O_CLOEXEC)
        try:
            shim_pid = self._forkserver.spawn_shim(request, [ready_w])
        finally:
            os.close(ready_w)
        with os.fdopen(ready_r, "rb") as ready:
            answer = ready.read().decode(errors="replace").strip()
        if not answer.startswith("OK "):
            self.cleanup(cid)
            message = answer[4:] if answer.startswith("ERR ") else "the container shim died"
            raise KernelError(f"failed to create task for container: {message}")
        return Started(int(answer[3:]), shim_pid, process_start_time(shim_pid))

    def is_alive(self, pid: int, start_time: int) -> bool:
        return is_alive(pid, start_time)

    def signal(self, pid: int, signum: int) -> None:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass
        except PermissionError as exc:
            raise KernelError(f"cannot signal {pid}: {exc}") from exc

    def exit_status(self, container_id: str) -> ExitStatus | None:
        try:
            data = json.loads((self.run_dir(container_id) / "exit.json").read_text())
        except (FileNotFoundError, ValueError):
            return None
        return ExitStatus(int(data["code"]), str(data["finished_at"]))

    def kill_leftover(self, container_id: str) -> None:
        """For a container no record says is running: stop it and drop crun's state."""
        self._crun_cmd("delete", "--force", container_id)

    def reap_leftovers(self, live: set[str]) -> None:
        """Stop crun containers and drop run dirs that no running record owns (after a crash)."""
        for entry in list(self._crun_root.iterdir()):
            if entry.is_dir() and entry.name not in live:
                self.kill_leftover(entry.name)
        short = {cid[:12] for cid in live}
        for entry in list(self._run.iterdir()):
            if entry.name not in short:
                shutil.rmtree(entry, ignore_errors=True)

    def cleanup(self, container_id: str) -> None:
        shutil.rmtree(self.run_dir(container_id), ignore_errors=True)

    def remove(self, container_id: str) -> None:
        self.cleanup(container_id)
        shutil.rmtree(self.bundle_dir(container_id), ignore_errors=True)

    def exec_argv(
        self,
        container_id: str,
        argv: Sequence[str],
        env: Sequence[str],
        cwd: str,
        tty: bool,
        console_socket: str | None,
    ) -> list[str]:
        cmd = [self._crun, "--root", str(self._crun_root), "exec"]
        if tty:
            cmd += ["--tty", "--console-socket", console_socket or ""]
        if cwd:
            cmd += ["--cwd", cwd]
        for entry in env:
            cmd += ["--env", entry]
        return [*cmd, container_id, *argv]

    def _crun_cmd(self, *args: str) -> None:
        subprocess.run(
            [self._crun, "--root", str(self._crun_root), *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )


def process_start_time(pid: int) -> int:
    """The start time of a process (clock ticks since boot): a PID plus this names it uniquely."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return 0


def _bundle_name(container_path: str) -> str:
    return container_path.rsplit("/", 1)[-1]


def is_alive(pid: int, start_time: int) -> bool:
    if pid <= 0:
        return False
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] != "Z" and int(fields[19]) == start_time
