"""The per-container shim: the container's parent for its whole life, independent of the service.

Forked by the fork server (ahead of its request, as the fork server's spare, it takes step 1
and the generic part of step 2, `prepare`, before it knows its container), it
1. leaves the service's session and becomes a child subreaper, so the container's init is
   reparented to it once `crun create` returns (the service lets it run with `crun start`);
2. enters a mount namespace of its own (a slave of the host's) where it hides the cgroup2
   tree of a hybrid host, which crun refuses, and mounts the image's overlay (so the overlay
   disappears with the container, even after a crash), then fills new empty volumes from it;
3. runs crun, reports `OK <pid>` or `ERR <message>` on the ready pipe;
4. executes hatoba-monitor (monitor.c) in its own place, which copies the container's output
   to the json-file log and to attached clients (buffering it until the expected clients are
   there), feeds stdin from them, and
5. when the container exits, writes its exit status to `exit.json` and removes crun's state.

Attach protocol on `<dir>/attach.sock`: the client sends one mode byte, `A` (attach: receive
output, may send input) or `C` (control only). Client frames: type byte, 4-byte big-endian
length, payload; types 0 stdin data, 1 stdin closed, 2 resize ("rows cols"). Output frames use
Docker's multiplexed header: stream byte (1 stdout, 2 stderr), three zero bytes, 4-byte length.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from typing import Any, NoReturn

from hatoba.errors import KernelError
from hatoba.kernel import libc

STDOUT, STDERR = 1, 2
_ATTACH_WAIT_NS = 10_000_000_000
# built by scripts/install.sh from monitor.c, beside the environment's interpreter
MONITOR = os.path.join(sys.prefix, "libexec", "hatoba-monitor")


class Shim:
    def __init__(self, request: dict[str, Any], ready_fd: int) -> None:
        self.req = request
        self.dir: str = request["dir"]
        self.ready_fd = ready_fd
        self.expected_attach: int = request.get("expect_attach", 0)
        # made before the container runs: a client may follow it as soon as it started
        self.log_fd = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        # the output of a short-lived container is kept until its attach clients arrive
        self.attach_deadline_ns = time.monotonic_ns() + _ATTACH_WAIT_NS
        self.stdin_fd: int | None = None
        self.master_fd: int | None = None
        self.outputs: dict[int, int] = {}  # fd -> stream
        self.container_pid = 0

    # --- set-up -----------------------------------------------------------------------------

    def isolate(self, netns: int | None) -> None:
        if netns is not None:
            # the handle of the namespace this container runs in (its own, or another
            # container's process's with `--net container:`), from its descriptor: the fork
            # server's namespace, which this one copies, has no folder of every handle (a
            # copy whose cost would grow with every running container)
            libc.mount(f"/proc/self/fd/{netns}", self.req["netns_link"], None, libc.MS_BIND)
            os.close(netns)
            # a spare forked before the fork server forgot the folder has it still
            libc.umount_all(self.req["netns_dir"])
        overlay = self.req.get("overlay")
        if overlay:
            data = (
                f"lowerdir={':'.join(overlay['lower'])},"
                f"upperdir={overlay['upper']},workdir={overlay['work']}"
            )
            libc.mount("overlay", overlay["target"], "overlay", 0, data)
            for destination, folder in overlay["populate"]:
                populate(overlay["target"], destination, folder)

    def listen(self, name: str) -> socket.socket:
        path = os.path.join(self.dir, name)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(path)
        sock.listen(16)
        return sock

    def run_crun(self) -> None:
        req = self.req
        console = self.listen("console.sock") if req["tty"] else None
        argv = [
            req["crun"],
            "--root",
            req["crun_root"],
            f"--log=file:{os.path.join(self.dir, 'crun.log')}",
            f"--cgroup-manager={'cgroupfs' if req['cgroups'] else 'disabled'}",
            "create",
            "--bundle",
            req["bundle"],
            "--pid-file",
            os.path.join(self.dir, "container.pid"),
        ]
        if console is not None:
            argv += ["--console-socket", console.getsockname()]
        argv.append(req["id"])

        stdin_r = None
        if req["stdin"] and not req["tty"]:
            stdin_r, stdin_w = os.pipe()
            self.stdin_fd = stdin_w
        child_fds: list[int] = []
        if not req["tty"]:
            for stream in (STDOUT, STDERR):
                r, w = os.pipe()
                self.outputs[r] = stream
                child_fds.append(w)
        devnull = os.open(os.devnull, os.O_RDWR)
        proc = subprocess.Popen(
            argv,
            stdin=stdin_r if stdin_r is not None else devnull,
            stdout=child_fds[0] if child_fds else devnull,
            stderr=child_fds[1] if child_fds else devnull,
            close_fds=True,
        )
        for fd in (*child_fds, devnull, *((stdin_r,) if stdin_r is not None else ())):
            os.close(fd)
        if console is not None:
            console.settimeout(30)
            try:
                conn, _ = console.accept()
                _msg, fds, _f, _a = socket.recv_fds(conn, 1024, 1)
                conn.close()
                self.master_fd = fds[0]
                self.outputs[self.master_fd] = STDOUT
            except OSError:
                pass
            console.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(self.dir, "console.sock"))
        rc = proc.wait()
        if rc != 0 or (req["tty"] and self.master_fd is None):
            raise RuntimeError(self.crun_error() or f"crun exited with status {rc}")
        # bytes: a text read would first import the ascii codec in this process (~0.7 ms)
        with open(os.path.join(self.dir, "container.pid"), "rb") as f:
            self.container_pid = int(f.read())

    def crun_error(self) -> str:
        try:
            with open(os.path.join(self.dir, "crun.log"), encoding="utf-8", errors="replace") as f:
                lines = [line.strip() for line in f if line.strip()]
        except FileNotFoundError:
            return ""
        if not lines:
            return ""
        last = lines[-1]
        with contextlib.suppress(ValueError):
            return str(json.loads(last).get("msg", last))
        return last

    def report(self, text: str) -> None:
        with contextlib.suppress(OSError):
            os.write(self.ready_fd, text.encode() + b"\n")
            os.close(self.ready_fd)

    # --- the rest of its life -----------------------------------------------------------

    def monitor(self, attach_sock: socket.socket) -> NoReturn:
        """Become hatoba-monitor (monitor.c) for the rest of the container's life: this
        process would keep ~2.3 MB of its own for it, that program ~0.2 MB."""
        passed = [attach_sock.fileno(), self.log_fd, *self.outputs, self.stdin_fd, self.master_fd]
        for fd in passed:
            if fd is not None:
                os.set_inheritable(fd, True)
        by_stream = {stream: fd for fd, stream in self.outputs.items() if fd != self.master_fd}
        req = self.req
        argv = [
            MONITOR,
            self.dir,
            str(self.log_fd),
            req["crun"],
            req["crun_root"],
            req["id"],
            str(self.container_pid),
            str(attach_sock.fileno()),
            str(self.expected_attach),
            str(self.attach_deadline_ns),
            *(str(fd) for fd in (by_stream.get(STDOUT), by_stream.get(STDERR))),
            *(str(-1 if fd is None else fd) for fd in (self.stdin_fd, self.master_fd)),
        ]
        os.execv(MONITOR, argv)


def populate(rootfs: str, destination: str, folder: str) -> None:
    """Fill an empty volume `folder` with what the image has at `destination` (Docker's copy
    at first use): files, owners, modes, times, links as they are. The copy is made beside
    the folder (no container sees it) and moved in entry by entry with rename(2), which
    replaces a link a container might plant meanwhile instead of following it."""
    source = in_root(rootfs, destination)
    if not os.path.isdir(source) or os.path.islink(source) or os.listdir(folder):
        return
    staging = os.path.join(os.path.dirname(folder), "_populate")
    subprocess.run(["rm", "-rf", "--one-file-system", staging], check=False)
    copy = subprocess.run(
        ["cp", "-a", "--no-target-directory", source, staging],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=False,
    )
    try:
        if copy.returncode != 0:
            reason = copy.stderr.decode(errors="replace").strip()
            raise KernelError(f"copying the image's {destination} into its volume: {reason}")
        for entry in os.listdir(staging):
            with contextlib.suppress(OSError):  # taken meanwhile: the container's is kept
                os.rename(os.path.join(staging, entry), os.path.join(folder, entry))
        st = os.lstat(staging)
        os.chown(folder, st.st_uid, st.st_gid)
        os.chmod(folder, stat.S_IMODE(st.st_mode))
    finally:
        subprocess.run(["rm", "-rf", "--one-file-system", staging], check=False)


def in_root(rootfs: str, path: str) -> str:
    """`path` inside the container's root file system, its links followed as they would be
    inside it (an absolute target starts at `rootfs`, `..` stops there)."""
    parts = [p for p in path.split("/") if p]
    resolved: list[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == ".":
            continue
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = os.path.join(rootfs, *resolved, part)
        if os.path.islink(candidate):
            hops += 1
            if hops > 40:
                raise KernelError(f"too many levels of symbolic links in {path}")
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved = []
            parts = [p for p in target.split("/") if p] + parts
            continue
        resolved.append(part)
    return os.path.join(rootfs, *resolved)


_UNIFIED = "/sys/fs/cgroup/unified"
# what `prepare` needs of a request: the same for every container of a service
SETUP_KEYS = ("crun", "hide_unified")


def prepare(setup: dict[str, Any]) -> None:
    """What every shim does before it knows its container: its own session, the subreaper
    role, and its own mount namespace (a slave of the host's) as crun needs it. A spare
    shim does it ahead."""
    os.setsid()
    libc.prctl(libc.PR_SET_CHILD_SUBREAPER, 1)
    libc.unshare(libc.CLONE_NEWNS)
    libc.mount(None, "/", None, libc.MS_REC | libc.MS_SLAVE)
    if setup["hide_unified"]:
        # crun 1.8 refuses a hybrid host whose cgroup2 tree has a controller, even with
        # cgroups disabled; without that tree it sees cgroup v1 (kernel/cgroups.py). It still
        # makes the container's folder (and its cgroup.procs) where the tree was: a tmpfs of
        # this namespace's own takes them and goes with it, where the host's /sys/fs/cgroup
        # tmpfs below kept them for ever, unseen under the tree's mount
        libc.umount(_UNIFIED, libc.MNT_DETACH)
        libc.mount("tmpfs", _UNIFIED, "tmpfs", 0, "mode=755,size=64k")
    # crun copies its own binary before it makes a container (CVE-2019-5736: the container
    # must not reach the host's crun through /proc/<pid>/exe and write it), ~3 ms and a
    # second exec of every create; a read-only bind of it in this namespace is the
    # protection crun's copy gives, and crun then runs as it is (without the bind, it copies
    # itself as before)
    crun = setup["crun"]
    with contextlib.suppress(KernelError):
        libc.bind(crun, crun, recursive=False, readonly=True)


def serve_as_spare(sock: socket.socket, setup: dict[str, Any]) -> int:
    """A spare shim, forked before it is needed: prepared for `setup`, it waits for its
    request (and the descriptors that go with it) from the fork server, then is that
    container's shim; it exits when the fork server goes away first."""
    prepare(setup)
    msg, fds, _flags, _addr = socket.recv_fds(sock, 1 << 16, 16)
    sock.close()
    if not msg:
        return 0
    return main(json.loads(msg), fds, prepared=True)


def main(request: dict[str, Any], fds: list[int], *, prepared: bool = False) -> int:
    """Entry point in the forked child, which becomes hatoba-monitor once its container runs;
    returns the shim's status when it could not make the container."""
    ready_fd = fds[0]
    shim_log = os.open(
        os.path.join(request["dir"], "shim.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600
    )
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(shim_log, 1)
    os.dup2(shim_log, 2)
    os.close(devnull)
    os.close(shim_log)
    sys.stdout = os.fdopen(1, "w", buffering=1)
    sys.stderr = os.fdopen(2, "w", buffering=1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    shim = Shim(request, ready_fd)
    try:
        if not os.access(MONITOR, os.X_OK):
            raise RuntimeError(f"{MONITOR} is missing: scripts/install.sh builds it")
        if not prepared:
            prepare(request)
        shim.isolate(fds[1] if request["netns_link"] else None)
        attach_sock = shim.listen("attach.sock")
        shim.run_crun()
    except Exception as exc:
        shim.report(f"ERR {exc}")
        return 1
    shim.report(f"OK {shim.container_pid}")
    shim.monitor(attach_sock)
