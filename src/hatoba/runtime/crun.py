"""The container runtime: an OCI bundle per container, run by crun under a shim.

Layout:
    <root>/containers/<id>/          <id>-json.log, and for images the container's layer
                                     (upper/, work/, rootfs/)
    <root>/init-layers/{plain,init}/ the init layer below every image container's own: the
                                     runtime's mount points (`init` with --init's too)
    <run-root>/containers/<id>/      the shim's sockets, pid files and exit.json
    <run-root>/crun/                 crun's own state
    <run-root>/hostfs/               the `hostfs` image: a skeleton of the host's top level
                                     whose directories the bundle binds from the host

Both roots are root's alone (the service's umask); what a container's users must read gets
its mode here: the files it is given, the hostfs skeleton, an image container's upper layer
(the root folder of its file system). Every container has both roots masked (an empty
read-only tmpfs over them), so the hostfs image shows neither the API socket nor any other
container's files.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import posixpath
import select
import shutil
import stat
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hatoba.errors import HatobaError, KernelError, NotRunnable
from hatoba.kernel import cgroups
from hatoba.kernel.cgroup_window import MigrationWindow, own_procs_file
from hatoba.kernel.netns import open_handle
from hatoba.model.exec_failure import create_failed, start_failure
from hatoba.model.launch import ExitStatus, LaunchMount, LaunchRequest, ProcessSpec, Started
from hatoba.model.mounts import BIND, TMPFS
from hatoba.model.resources import DEVICES, CgroupSupport, Resources
from hatoba.model.security import CAPABILITIES, DeviceMapping
from hatoba.runtime import devices, spec
from hatoba.runtime.forkserver import ForkServer
from hatoba.runtime.storage import resolve_bind_source

_NOT_BOUND = frozenset({"proc", "sys", "dev"})
# `--init`: Debian's tini, static, so that it runs in any image
INIT_BINARY = "tini-static"
# where Docker puts its docker-init (tini) in an image container
INIT_IN_CONTAINER = "/sbin/docker-init"
# what a container sharing another's network namespace shares of its files
_NETWORK_FILES = ("/etc/hostname", "/etc/hosts", "/etc/resolv.conf")
# /etc/passwd and /etc/group are read whole; a bigger file is not one of them
_READ_LIMIT = 1 << 20


@dataclass
class _Spawned:
    shim_pid: int
    ready_fd: int
    # what the process runs, as the user named it: the words of a failure to start it
    executable: str
    # once the shim said crun's create is done
    started: Started | None = None


class CrunRuntime:
    def __init__(
        self,
        forkserver: ForkServer,
        root: Path,
        run_root: Path,
        crun: str = "crun",
        init: str = INIT_BINARY,
        cgroup_parent: str = cgroups.DEFAULT_PARENT,
        cgroup_support: CgroupSupport | None = None,
    ) -> None:
        self._forkserver = forkserver
        self._root = root / "containers"
        self._init_layers = root / "init-layers"
        self._init_layers_made: set[Path] = set()
        self._run = run_root / "containers"
        self._crun_root = run_root / "crun"
        self._hostfs = run_root / "hostfs"
        self._netns_dir = run_root / "netns"
        self._init = init
        self._masked = (str(root.resolve()), str(run_root.resolve()))
        self._crun = shutil.which(crun) or crun
        self._spawned: dict[str, _Spawned] = {}
        self._cgroup_parent = cgroup_parent
        self._cgroups = cgroup_support or cgroups.probe(cgroup_parent)
        self._capabilities = _bounding_set()
        self._hide_unified = cgroups.hybrid()
        # crun moves a container into its cgroups only when it has some
        self._window = MigrationWindow(own_procs_file() if self._cgroups.version else None)
        for path in (self._root, self._run, self._crun_root):
            path.mkdir(parents=True, exist_ok=True)
        self._build_hostfs_skeleton()
        self._hostfs_binds = _hostfs_binds()

    def cgroups(self) -> CgroupSupport:
        return self._cgroups

    def capabilities(self) -> frozenset[str]:
        """What crun can give a container: the service's own bounding set (root on some
        machines lacks some, e.g. CAP_SYS_RESOURCE)."""
        return self._capabilities

    # --- paths ------------------------------------------------------------------------------

    def bundle_dir(self, container_id: str) -> Path:
        return self._root / container_id

    def run_dir(self, container_id: str) -> Path:
        # short: unix socket paths in here must stay under 108 bytes
        return self._run / container_id[:12]

    def log_path(self, container_id: str) -> Path:
        return self.bundle_dir(container_id) / f"{container_id}-json.log"

    def layer_dir(self, container_id: str) -> Path:
        """An image container's own layer (overlayfs's upper directory)."""
        return self.bundle_dir(container_id) / "upper"

    @property
    def roots(self) -> tuple[str, ...]:
        """hatoba's state and run roots, resolved: no container may reach them."""
        return self._masked

    def attach_socket(self, container_id: str) -> Path:
        return self.run_dir(container_id) / "attach.sock"

    # --- files ------------------------------------------------------------------------------

    def file_path(self, container_id: str, container_path: str) -> Path:
        """Where a file the container gets (/etc/hosts, …) lives on the host.

        In the run dir (tmpfs on a normal host): these files are written at every start.
        """
        return self.run_dir(container_id) / container_path.rsplit("/", 1)[-1]

    def write_file(self, container_id: str, container_path: str, content: str) -> Path:
        """Rewrite in place (never rename): a bind mount holds the file's inode."""
        path = self.file_path(container_id, container_path)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC)
        os.fchmod(fd, 0o644)  # any user of the container reads it
        with open(fd, "w", encoding="utf-8") as f:
            f.write(content)
        return path

    def rewrite_file(self, container_id: str, path: str, content: str) -> None:
        """Change a file the container already has (e.g. /etc/hosts after `network connect`)."""
        self.write_file(container_id, path, content)

    def _build_hostfs_skeleton(self) -> None:
        _walkable_dir(self._hostfs)
        for entry in os.scandir("/"):
            target = self._hostfs / entry.name
            if entry.is_symlink():
                if not target.is_symlink():
                    with contextlib.suppress(FileExistsError):
                        target.symlink_to(os.readlink(entry.path))
            elif entry.is_dir():
                _walkable_dir(target)

    # --- lifecycle --------------------------------------------------------------------------

    def creating(self) -> contextlib.AbstractContextManager[None]:
        """Around the spawns of a start: their cgroup moves then skip the kernel's wait
        (kernel/cgroup_window.py)."""
        return self._window.held()

    def spawn(self, launch: LaunchRequest) -> None:
        """Start the shim, which creates the container (its process waits to be started)."""
        cid = launch.container_id
        bundle = self.bundle_dir(cid)
        run = self.run_dir(cid)
        bundle.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(run, ignore_errors=True)
        run.mkdir(parents=True)
        files = [
            spec.Bind(str(self.write_file(cid, name, content)), name)
            for name, content in launch.files.items()
        ]
        if launch.files_of:
            shared = ((self.file_path(launch.files_of, name), name) for name in _NETWORK_FILES)
            files += [spec.Bind(str(path), name) for path, name in shared if path.exists()]
        process = launch.process
        if launch.init:
            process, init_bind = self._under_init(process, hostfs=not launch.layers)
            files += init_bind
        mounts, masked, populate = self._user_mounts(launch.mounts)
        overlay = None
        binds: list[spec.Bind] = []
        if not launch.layers:
            rootfs = str(self._hostfs)
            # a read-only root must cover the host's folders too: they are the root here
            binds = [
                dataclasses.replace(bind, readonly=launch.security.read_only)
                for bind in self._hostfs_binds
            ]
        else:
            rootfs = str(bundle / "rootfs")
            for sub in ("rootfs", "work"):
                (bundle / sub).mkdir(exist_ok=True)
            _walkable_dir(bundle / "upper")  # the overlay's root folder takes its mode
            overlay = {
                # overlayfs lists lower layers top first
                "lower": [str(self.init_layer(launch.init)), *reversed(launch.layers)],
                "upper": str(bundle / "upper"),
                "work": str(bundle / "work"),
                "target": rootfs,
                "populate": populate,
            }
        # crun joins the namespace through a private copy of its handle in the run dir, bound
        # there by the shim from a descriptor of it: no shim sees the folder of every handle
        netns_link = None
        if launch.netns is not None:
            netns_link = run / "netns"
            netns_link.touch()
        config = spec.config(
            rootfs=rootfs,
            proc=process,
            hostname=launch.hostname,
            domainname=launch.domainname,
            netns=str(netns_link) if netns_link else None,
            binds=binds,
            mounts=mounts,
            files=files,
            masked=[*self._masked, *masked],
            security=launch.security,
            limits=launch.resources,
            devices=self._devices(launch),
            cgroup=self._cgroup(cid),
        )
        # the OCI bundle is the run dir (config.json there); `bundle` keeps what must outlive
        # a restart of the machine: the log and an image container's own layer
        (run / "config.json").write_text(json.dumps(config))
        request: dict[str, Any] = {
            "id": cid,
            "dir": str(run),
            "bundle": str(run),
            "crun": self._crun,
            "crun_root": str(self._crun_root),
            "log": str(self.log_path(cid)),
            "tty": launch.process.terminal,
            "stdin": launch.open_stdin,
            "overlay": overlay,
            "expect_attach": launch.expect_attach,
            "netns_link": str(netns_link) if netns_link else None,
            "netns_dir": str(self._netns_dir),
            "cgroups": bool(self._cgroups.version),
            "hide_unified": self._hide_unified,
        }
        ready_r, ready_w = os.pipe2(os.O_CLOEXEC)
        fds = [ready_w]
        try:
            if launch.netns is not None:
                fds.append(open_handle(launch.netns, "the container's network namespace"))
            shim_pid = self._forkserver.spawn_shim(request, fds)
        except BaseException:
            os.close(ready_r)
            raise
        finally:
            for fd in fds:
                os.close(fd)
        executable = launch.process.args[0] if launch.process.args else ""
        self._spawned[cid] = _Spawned(shim_pid, ready_r, executable)

    def _user_mounts(
        self, asked: Sequence[LaunchMount]
    ) -> tuple[list[spec.Bind | spec.Tmpfs], list[str], list[tuple[str, str]]]:
        """The mounts of `-v`, `--mount` and `--tmpfs`; the paths to mask in them (hatoba's
        roots inside a bind's source); the (destination, folder) of volumes to fill from the
        image. Bind sources are resolved again here: a link changed since the create must
        not lead into hatoba's roots."""
        mounts: list[spec.Bind | spec.Tmpfs] = []
        masked: list[str] = []
        populate: list[tuple[str, str]] = []
        for m in asked:
            if m.kind == TMPFS:
                mounts.append(spec.Tmpfs(m.destination, m.tmpfs_options))
                continue
            source, propagation = m.source, m.propagation
            if m.kind == BIND:
                found = resolve_bind_source(
                    m.source, self._masked, must_exist=not m.create_source, create=m.create_source
                )
                source = found.path
                if found.roots_inside:
                    propagation = "rslave"
                    masked += [posixpath.join(m.destination, r) for r in found.roots_inside]
            elif m.populate:
                populate.append((m.destination, m.source))
            mounts.append(spec.Bind(source, m.destination, m.recursive, m.readonly, propagation))
        return mounts, masked, populate

    def init_layer(self, with_init: bool) -> Path:
        """The layer below an image container's own where the runtime's mount points are
        (Docker's init layer), so that they are not changes of the container (diff, commit).
        Read-only below every container alike, so one for all (and one with `--init`'s),
        made at its first use (~1.3 ms a container when each had its own)."""
        init = self._init_layers / ("init" if with_init else "plain")
        if init in self._init_layers_made:
            return init
        init.parent.mkdir(parents=True, exist_ok=True)
        for folder in ("", "proc", "sys", "dev", "etc", *(("sbin",) if with_init else ())):
            _walkable_dir(init / folder)
        files = ("etc/hosts", "etc/hostname", "etc/resolv.conf")
        for name in (*files, INIT_IN_CONTAINER[1:]) if with_init else files:
            path = init / name
            if not path.exists():
                path.touch()
                path.chmod(0o644)
        self._init_layers_made.add(init)
        return init

    def _devices(self, launch: LaunchRequest) -> list[spec.Device]:
        """moby's WithDevices: every host device for a privileged container (its own
        `--device` flags only where they rename one), else those of `--device`."""
        asked = launch.security.devices
        if not launch.security.privileged:
            return devices.mapped(asked)
        renamed = [m for m in asked if m.path_in_container != m.path_on_host]
        everything = [dataclasses.replace(m, permissions="rwm") for m in renamed]
        return devices.host_devices() + devices.mapped(everything)

    def _cgroup(self, container_id: str) -> spec.Cgroup | None:
        if not self._cgroups.version:
            return None
        return spec.Cgroup(
            f"/{self._cgroup_parent}/{container_id}", devices=self._cgroups.has(DEVICES)
        )

    def check_devices(self, mappings: Sequence[DeviceMapping]) -> None:
        """Refuse (Docker's text) a `--device` whose host path gives no device node."""
        devices.mapped(mappings)

    def pause(self, container_id: str) -> None:
        self._crun_checked("pause", container_id)

    def resume(self, container_id: str) -> None:
        self._crun_checked("resume", container_id)

    def update(self, container_id: str, limits: Resources) -> None:
        """Write new cgroup limits of a running container."""
        path = self.run_dir(container_id) / "resources.json"
        path.write_text(json.dumps(spec.resources(limits)))
        self._crun_checked("update", "--resources", str(path), container_id)

    def _crun_checked(self, *args: str) -> None:
        result = self._crun_cmd(*args)
        if result.returncode != 0:
            text = result.stderr.decode(errors="replace").strip()
            raise KernelError(text or f"crun {args[0]} exited with status {result.returncode}")

    def _under_init(
        self, process: ProcessSpec, *, hostfs: bool
    ) -> tuple[ProcessSpec, list[spec.Bind]]:
        binary = shutil.which(self._init)
        if binary is None:
            raise KernelError(
                f'exec: "{self._init}": executable file not found in $PATH '
                "(--init needs the tini package)"
            )
        return under_init(process, binary, hostfs=hostfs)

    def read_file(self, container_id: str, layers: Sequence[str], path: str) -> str | None:
        if not layers:
            return _read_regular(Path("/", *_parts(path)))
        return read_rootfs_file(self.bundle_dir(container_id) / "upper", layers, path)

    def created(self, container_id: str) -> Started:
        """Wait until crun's create is done: the container exists, its process waits."""
        spawned = self._spawned[container_id]
        if spawned.started is None:
            try:
                pid = self._created_pid(container_id, spawned)
            except HatobaError:  # crun refused it (NotRunnable: its command), or worse
                del self._spawned[container_id]  # nothing to stop: `abort` only deletes
                raise
            spawned.started = Started(pid, spawned.shim_pid, process_start_time(spawned.shim_pid))
        return spawned.started

    def start(self, container_id: str) -> Started:
        """Let the created container's process run (waiting for its create first)."""
        started = self.created(container_id)
        spawned = self._spawned.pop(container_id)
        if not self._release(container_id):
            result = self._crun_cmd("start", container_id)
            if result.returncode != 0:
                self._stop(container_id, spawned.shim_pid)
                reason = result.stderr.decode(errors="replace").strip() or "crun start failed"
                raise KernelError(f"failed to start container: {reason}")
        return started

    def _release(self, container_id: str) -> bool:
        """What `crun start` does, without the ~3 ms of starting a crun process: the created
        init waits on `exec.fifo` in crun's state dir; open it, unlink it (crun then sees the
        container as running), write one byte. False when the fifo is not where crun keeps
        it, and `crun start` must do it."""
        fifo = self._crun_root / container_id / "exec.fifo"
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_CLOEXEC | os.O_NONBLOCK)
        except (FileNotFoundError, OSError):
            return False
        try:
            os.unlink(fifo)
            os.write(fd, b"\0")
        finally:
            os.close(fd)
        return True

    def abort(self, container_id: str) -> None:
        """Undo `spawn` (or `start`): the container goes, its shim exits."""
        spawned = self._spawned.pop(container_id, None)
        if spawned is not None:
            if spawned.started is None:
                try:
                    self._created_pid(container_id, spawned)
                except KernelError:
                    return  # nothing was created
            self._stop(container_id, spawned.shim_pid)
        else:
            self._crun_cmd("delete", "--force", container_id)

    def _created_pid(self, container_id: str, spawned: _Spawned) -> int:
        with os.fdopen(spawned.ready_fd, "rb") as ready:
            answer = ready.read().decode(errors="replace").strip()
        if not answer.startswith("OK "):
            self.cleanup(container_id)
            message = answer[4:] if answer.startswith("ERR ") else "the container shim died"
            failure = start_failure(spawned.executable, message)
            if failure is not None:
                raise NotRunnable(create_failed(failure), failure.exit_code)
            raise KernelError(f"failed to create task for container: {message}")
        return int(answer[3:])

    def _stop(self, container_id: str, shim_pid: int) -> None:
        """Remove a container that never ran and wait for its shim to notice."""
        self._crun_cmd("delete", "--force", container_id)
        try:
            fd = os.pidfd_open(shim_pid)
        except ProcessLookupError:
            fd = -1
        if fd >= 0:
            exited = select.poll()  # not select(): the service holds descriptors past 1024
            exited.register(fd, select.POLLIN)
            with contextlib.suppress(OSError):
                exited.poll(5000)
            os.close(fd)
        self.cleanup(container_id)

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

    def wait_exited(self, shims: Sequence[tuple[int, int]], timeout: float = 10.0) -> None:
        """Until these shims (pid, start time) have exited, or `timeout` seconds."""
        fds = []
        try:
            for pid, start_time in shims:
                try:
                    fd = os.pidfd_open(pid)
                except ProcessLookupError:
                    continue
                fds.append(fd)
                if not is_alive(pid, start_time):  # a pid used again by another process
                    fds.pop()
                    os.close(fd)
            waiting = select.poll()  # not select(): there may be thousands
            for fd in fds:
                waiting.register(fd, select.POLLIN)
            left, deadline = len(fds), time.monotonic() + timeout
            while left and (remaining := deadline - time.monotonic()) > 0:
                for fd, _ in waiting.poll(remaining * 1000):
                    waiting.unregister(fd)
                    left -= 1
        finally:
            for fd in fds:
                os.close(fd)

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
        process: ProcessSpec,
        process_file: Path,
        console_socket: str | None,
        pid_file: str | None = None,
    ) -> list[str]:
        """`crun exec` of `process`, described in full (user and groups included, which crun's
        flags cannot say) in `process_file`. The command runs in a session of its own; crun
        writes its pid to `pid_file`, so that it can be killed with its process group."""
        process_file.write_text(json.dumps(spec.process(process)))
        # crun says why it could not start the process on stderr, which is the process's own,
        # and in its log, which is crun's alone
        log = f"file:{_exec_log(process_file)}"
        cmd = [self._crun, "--root", str(self._crun_root), "--log", log, "--log-format", "json"]
        cmd += ["exec", "--process", str(process_file)]
        if pid_file:
            cmd += ["--pid-file", pid_file]
        if process.terminal:
            cmd += ["--console-socket", console_socket or ""]
        return [*cmd, container_id]

    def exec_error(self, process_file: Path) -> str | None:
        """crun's error from the log of the exec started with `exec_argv(..., process_file)`:
        why it could not start the process (None: it started, whatever its exit)."""
        try:
            lines = _exec_log(process_file).read_text().splitlines()
        except OSError:
            return None
        for line in lines:
            with contextlib.suppress(ValueError, AttributeError):
                entry = json.loads(line)
                if entry.get("level") == "error":
                    return str(entry.get("msg", ""))
        return None

    def _crun_cmd(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [self._crun, "--root", str(self._crun_root), *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            check=False,
        )


def _bounding_set() -> frozenset[str]:
    with open("/proc/self/status", encoding="ascii") as f:
        mask = next(int(line.split()[1], 16) for line in f if line.startswith("CapBnd:"))
    return frozenset(name for bit, name in enumerate(CAPABILITIES) if mask >> bit & 1)


def _stat(pid: int) -> list[str]:
    """The fields of /proc/<pid>/stat after the command name (state first); [] if gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def process_start_time(pid: int) -> int:
    """The start time of a process (clock ticks since boot): a PID plus this names it uniquely."""
    fields = _stat(pid)
    return int(fields[19]) if len(fields) > 19 else 0


def _hostfs_binds() -> list[spec.Bind]:
    binds = []
    for entry in sorted(os.scandir("/"), key=lambda e: e.name):
        if entry.name in _NOT_BOUND or entry.is_symlink() or not entry.is_dir():
            continue
        # not recursive: the host's file systems, without copying every mount below them
        # (namespace handles, other containers' mounts) into each new container
        binds.append(spec.Bind(entry.path, entry.path))
    return binds


def _walkable_dir(path: Path) -> None:
    """A folder that is part of a container's file system: 0755 whatever the umask."""
    path.mkdir(exist_ok=True)
    path.chmod(0o755)


def under_init(
    process: ProcessSpec, binary: str, *, hostfs: bool
) -> tuple[ProcessSpec, list[spec.Bind]]:
    """`process` as the child of tini (`binary` on the host). An image container gets it
    where Docker puts docker-init, read-only; a hostfs container sees the host's own file."""
    inside = binary if hostfs else INIT_IN_CONTAINER
    binds = [] if hostfs else [spec.Bind(binary, INIT_IN_CONTAINER, readonly=True)]
    return dataclasses.replace(process, args=(inside, "--", *process.args)), binds


def read_rootfs_file(upper: Path, layers: Sequence[str], path: str) -> str | None:
    """A small regular file as an image container's process sees it: its own layer `upper`
    over the image's `layers` (lowest first), whiteouts and opaque folders as overlayfs reads
    them. None when it is missing, not a regular file, or behind a symbolic link (links are
    not followed: they could point out of the container)."""
    parts = _parts(path)
    for layer in (upper, *map(Path, reversed(layers))):
        decided, entry = lookup_in_layer(layer, parts)
        if decided:
            return _read_regular(entry) if entry is not None else None
    return None


def _parts(path: str) -> list[str]:
    return [p for p in path.split("/") if p]


def lookup_in_layer(layer: Path, parts: Sequence[str]) -> tuple[bool, Path | None]:
    """Where `parts` is in one layer: (True, the entry), (True, None) when the layer hides it
    (a whiteout, a file where a folder was, an opaque folder above it), (False, None) when
    the layers below decide."""
    current, below_opaque = layer, False
    for depth, part in enumerate(parts):
        entry = current / part
        try:
            st = os.lstat(entry)
        except OSError:
            return below_opaque, None
        if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
            return True, None  # a whiteout
        if depth == len(parts) - 1:
            return True, entry
        if not stat.S_ISDIR(st.st_mode):
            return True, None
        current, below_opaque = entry, below_opaque or opaque(entry)
    return False, None


def opaque(folder: Path) -> bool:
    try:
        return os.getxattr(folder, "trusted.overlay.opaque", follow_symlinks=False) == b"y"
    except OSError:
        return False


def _read_regular(path: Path) -> str | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    with open(fd, "rb") as f:
        return f.read(_READ_LIMIT).decode("utf-8", errors="replace")


def is_alive(pid: int, start_time: int) -> bool:
    fields = _stat(pid) if pid > 0 else []
    return len(fields) > 19 and fields[0] != "Z" and int(fields[19]) == start_time


def _exec_log(process_file: Path) -> Path:
    return process_file.with_name("crun-log.json")
