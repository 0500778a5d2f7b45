"""Network namespaces as bind-mounted handles, entered only on short-lived threads.

`setns(CLONE_NEWNET)` changes only the calling OS thread. So code that must act inside a
namespace (open a netlink, UDP, TCP or nftables socket there) runs on a throwaway thread that
enters the namespace, does its work and dies; a socket keeps the namespace it was created in, so
the caller can go on using it from any thread. The event loop's thread never switches.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

from hatoba.errors import KernelError
from hatoba.kernel import libc

T = TypeVar("T")
_NS_GET_NSTYPE = 0xB703  # ioctl on an nsfs file: which kind of namespace it is


def open_handle(path: str, what: str) -> int:
    """A descriptor of the namespace handle `path`; a failure says `what` wanted it."""
    try:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise KernelError(f"{what}: {path}: {exc.strerror}", exc.errno) from exc


def call_in_netns(path: str, fn: Callable[[], T]) -> T:
    """Run `fn` on a fresh thread inside the namespace whose handle is `path`."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return _on_thread(lambda: _enter_then(fd, fn))
    finally:
        os.close(fd)


def call_in_each_netns(calls: Sequence[tuple[str, Callable[[], T]]]) -> list[T | KernelError]:
    """Run each `fn` inside its namespace, one after another on one fresh thread: what each
    returned, or the KernelError it raised (or its namespace's handle did). For many
    namespaces at once (a service start takes over every container's resolver): a thread per
    namespace costs its start and join, which on a busy machine are waits for the scheduler."""

    def work() -> list[T | KernelError]:
        done: list[T | KernelError] = []
        for path, fn in calls:
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError as exc:
                done.append(KernelError(f"namespace {path}: {exc.strerror}", exc.errno))
                continue
            try:
                done.append(_enter_then(fd, fn))
            except KernelError as exc:
                done.append(exc)
            finally:
                os.close(fd)
        return done

    return _on_thread(work)


def _enter_then(fd: int, fn: Callable[[], T]) -> T:
    libc.setns(fd, libc.CLONE_NEWNET)
    return fn()


def _on_thread(work: Callable[[], T]) -> T:
    return _begin_thread(work)()


def _begin_thread(work: Callable[[], T]) -> Callable[[], T]:
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["value"] = work()
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=run, name="hatoba-netns")
    thread.start()

    def result() -> T:
        thread.join()
        if "error" in box:
            raise box["error"]  # type: ignore[misc]
        return box["value"]  # type: ignore[return-value]

    return result


def create_netns(path: str, then: Callable[[], T] | None = None) -> T | None:
    """Make a new namespace bind-mounted at `path`; run `then` inside it before returning.

    `then` is where callers open the sockets they will need in the new namespace, so that
    creating a container namespace and its netlink socket costs one thread, not two.
    """
    return begin_netns(path, then)()


def begin_netns(path: str, then: Callable[[], T] | None = None) -> Callable[[], T | None]:
    """`create_netns` on a thread of its own: returns at once, with the call that waits for
    it (what `then` returned, or why the namespace could not be made, at every call)."""

    def work() -> T | None:
        libc.unshare(libc.CLONE_NEWNET)
        _bind_handle("/proc/thread-self/ns/net", path)
        try:
            return then() if then else None
        except BaseException:
            remove_handle(path)
            raise

    return _begin_thread(work)


def _bind_handle(source: str, path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o444)
    os.close(fd)
    try:
        libc.mount(source, path, None, libc.MS_BIND)
    except KernelError:
        os.unlink(path)
        raise


def rebind_handle(path: str, pid: int) -> None:
    """Mount the network namespace of process `pid` on `path` again (someone unmounted it)."""
    os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o444))
    try:
        libc.mount(f"/proc/{pid}/ns/net", path, None, libc.MS_BIND)
    except KernelError as exc:
        raise KernelError(f"cannot restore namespace handle {path}: {exc}", exc.errno) from exc


def remove_handle(path: str) -> None:
    """Drop a namespace handle; the kernel frees the namespace (and its links) once unused.

    Idempotent: a handle that is already gone counts as removed.
    """
    with contextlib.suppress(KernelError):
        libc.umount(path, libc.MNT_DETACH)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def is_netns_handle(path: str) -> bool:
    """True when `path` has a network namespace mounted on it."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        return fcntl.ioctl(fd, _NS_GET_NSTYPE) == libc.CLONE_NEWNET
    except OSError:
        return False  # not an nsfs file: the handle is not mounted
    finally:
        os.close(fd)


def make_shared_dir(path: str) -> None:
    """Bind `path` onto itself and make it a shared mount, as `ip netns` does for /run/netns.

    Without this, a container whose mount namespace was copied after a handle was mounted keeps
    its own copy of that mount, and unmounting the handle on the host no longer frees the
    network namespace.
    """
    os.makedirs(path, exist_ok=True)
    if not _is_mount_point(path):
        libc.mount(path, path, None, libc.MS_BIND)
    libc.mount(None, path, None, libc.MS_SHARED)


def release_shared_dir(path: str) -> None:
    with contextlib.suppress(KernelError):
        libc.umount(path, libc.MNT_DETACH)


def _is_mount_point(path: str) -> bool:
    real = os.path.realpath(path)
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        return any(line.split()[4] == real for line in f)


def current_netns_id() -> int:
    return os.stat("/proc/thread-self/ns/net").st_ino


# Why a path under /proc/sys/net is opened from a directory descriptor where it can be, and
# otherwise through a procfs instance of the service's own: each namespace that looked at
# /proc/sys/net/ipv6 (every container's does) leaves its own entry of that name in the kernel's
# dentry cache, all in one hash chain of that procfs, so a lookup walks one entry per namespace
# that looked before (~0.3 ms at 1000 containers, ~0.9 ms beside the rest of a start); from a
# descriptor of the namespace's own /proc/sys/net/ipv6 it costs the same at any count. A new
# namespace has none, so it looks through a procfs instance mounted nowhere, whose chains
# hold only the namespaces that looked through it: one is made every _LOOKUPS_PER_PROC
# lookups (~0.1 ms).
_LOOKUPS_PER_PROC = 64


class _SysctlRoot:
    """/proc/sys of the current procfs instance; the mounted /proc's where the kernel cannot
    make one (fsopen: Linux 5.2, or a seccomp filter that refuses it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: int | None = None
        self._lookups = 0
        self._unavailable = False

    def open(self, key: str, flags: int) -> int:
        with self._lock:
            if not self._unavailable and (self._proc is None or self._lookups >= _LOOKUPS_PER_PROC):
                self._renew()
            if self._proc is None:
                return os.open(f"/proc/sys/{key}", flags)
            self._lookups += 1
            return os.open(f"sys/{key}", flags, dir_fd=self._proc)

    def _renew(self) -> None:
        if self._proc is not None:
            os.close(self._proc)
            self._proc = None
        try:
            self._proc = libc.detached_mount("proc")
        except KernelError:
            self._unavailable = True
        self._lookups = 0


_SYSCTL_ROOT = _SysctlRoot()


def open_sysctl(key: str, flags: int = os.O_RDONLY) -> int:
    """A descriptor of `key` (a sysctl, or with O_DIRECTORY a directory of them, as under
    /proc/sys), of the calling thread's namespace."""
    try:
        return _SYSCTL_ROOT.open(key, flags | os.O_CLOEXEC)
    except OSError as exc:
        raise sysctl_error(key, exc) from exc


def write_sysctl(key: str, value: str) -> None:
    """Set `key` (as under /proc/sys) in the calling thread's namespace."""
    directory, _, name = key.rpartition("/")
    write_sysctls(directory, {name: value})


def write_sysctls(directory: str, settings: Mapping[str, str], dir_fd: int | None = None) -> None:
    """Set sysctls of one directory (as under /proc/sys), the directory looked up once: in the
    calling thread's namespace, or the one `dir_fd` (that directory, opened there) is of."""
    fd = open_sysctl(directory, os.O_RDONLY | os.O_DIRECTORY) if dir_fd is None else dir_fd
    try:
        for name, value in settings.items():
            try:
                sysctl = os.open(name, os.O_WRONLY | os.O_CLOEXEC, dir_fd=fd)
                try:
                    os.write(sysctl, value.encode("ascii"))
                finally:
                    os.close(sysctl)
            except OSError as exc:
                raise sysctl_error(f"{directory}/{name}", exc) from exc
    finally:
        if dir_fd is None:
            os.close(fd)


def sysctl_error(key: str, exc: OSError) -> KernelError:
    return KernelError(f"sysctl {key.replace('/', '.')}: {exc.strerror}", exc.errno)
