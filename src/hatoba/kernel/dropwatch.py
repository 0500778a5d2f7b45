"""Why the kernel dropped packets: the `skb:kfree_skb` tracepoint and its `reason` field,
read through tracefs, in a tracing instance of our own for the time of one probe.

tracefs is used where the host mounted it (/sys/kernel/tracing, or debugfs's tracing);
otherwise it is mounted in a private mount namespace of a short-lived thread, and only a
descriptor of it is kept: nothing appears in the host's mount table. An instance has its own
buffer and event switches, so whoever else traces on the host is not disturbed; its buffer is
small, its clock the monotonic one (to match the probe's), and its filter keeps IPv4 drops
with a reason. Without tracefs, or on a kernel whose kfree_skb has no reason, `open`
raises Unavailable with a sentence for the user.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import threading

from hatoba.errors import KernelError
from hatoba.kernel import libc
from hatoba.observe.evidence import KernelDrop

_PLACES = ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")
_EVENT = "events/skb/kfree_skb"
# 0 and 1 are not drops (not yet dropped, consumed), 2 is NOT_SPECIFIED: nothing to tell
_FILTER = "reason > 2 && protocol == 2048"
_LINE = re.compile(
    r"^\s*(?P<comm>.*)-(?P<pid>\d+)\s+\[\d+\]\s+\S+\s+(?P<time>\d+\.\d+): kfree_skb: .*"
    r"location=(?P<location>\S+)\s+reason: (?P<reason>\w+)"
)
_PREFIX = "hatoba-"
_counter = itertools.count()
_root_lock = threading.Lock()
_root: int | None = None


class Unavailable(KernelError):
    """The kernel cannot report drop reasons here (said in a sentence for the user)."""


def _tracefs() -> int:
    """A descriptor of tracefs's root: where the host mounted it, else mounted privately."""
    global _root
    with _root_lock:
        if _root is not None:
            return _root
        for place in _PLACES:
            if os.path.isdir(os.path.join(place, "instances")):
                _root = os.open(place, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
                return _root
        _root = _private_mount()
        return _root


def _private_mount() -> int:
    opened: list[int] = []
    failed: list[Exception] = []

    def work() -> None:
        try:
            libc.unshare(libc.CLONE_NEWNS)
            # nothing done in this namespace may propagate to the host's
            libc.mount(None, "/", None, libc.MS_REC | libc.MS_PRIVATE)
            libc.mount("nodev", _PLACES[0], "tracefs", 0)
            opened.append(os.open(_PLACES[0], os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC))
        except (KernelError, OSError) as exc:
            failed.append(exc)

    thread = threading.Thread(target=work, name="hatoba-tracefs")
    thread.start()
    thread.join()
    if not opened:
        raise Unavailable(f"the kernel has no tracefs here ({failed[0] if failed else '?'})")
    return opened[0]


def _write(dirfd: int, path: str, value: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC, dir_fd=dirfd)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def _read(dirfd: int, path: str) -> str:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC, dir_fd=dirfd)
    try:
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
        return b"".join(chunks).decode(errors="replace")
    finally:
        os.close(fd)


class DropWatch:
    """kfree_skb events with a reason, recorded from `open` until `drops`."""

    def __init__(self, root: int, name: str, instance: int) -> None:
        self._root = root
        self._name = name
        self._instance = instance

    @classmethod
    def open(cls) -> DropWatch:
        root = _tracefs()
        _forget_dead_instances(root)
        name = f"{_PREFIX}{os.getpid()}-{next(_counter)}"
        try:
            os.mkdir(f"instances/{name}", dir_fd=root)
        except OSError as exc:
            raise Unavailable(f"no tracing instance could be made ({exc.strerror})") from exc
        instance = os.open(
            f"instances/{name}", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=root
        )
        watch = cls(root, name, instance)
        try:
            if "reason" not in _read(instance, f"{_EVENT}/format"):
                raise Unavailable("this kernel's kfree_skb tracepoint has no drop reason")
            _write(instance, "buffer_size_kb", "64")
            _write(instance, "trace_clock", "mono")
            _write(instance, f"{_EVENT}/filter", _FILTER)
            _write(instance, f"{_EVENT}/enable", "1")
        except FileNotFoundError as exc:
            watch.close()
            raise Unavailable("this kernel has no skb:kfree_skb tracepoint") from exc
        except BaseException:
            watch.close()
            raise
        return watch

    def drops(self) -> list[KernelDrop]:
        """What was dropped with a reason since `open` (recording stops)."""
        with contextlib.suppress(OSError):
            _write(self._instance, f"{_EVENT}/enable", "0")
        found = []
        for line in _read(self._instance, "trace").splitlines():
            match = _LINE.match(line)
            if match is None:
                continue
            found.append(
                KernelDrop(
                    time_ns=int(float(match["time"]) * 1e9),
                    reason=match["reason"],
                    location=match["location"].split("+")[0],
                    task=int(match["pid"]),
                )
            )
        return found

    def close(self) -> None:
        """Remove the instance (the kernel takes ~35 ms: call off the event loop). Done before
        the answer goes out, so a service killed after it leaves nothing in the host's tracefs
        (what a killed service left is removed by the next one)."""
        os.close(self._instance)
        _remove(self._root, self._name)


def _remove(root: int, name: str) -> None:
    with contextlib.suppress(OSError):
        os.rmdir(f"instances/{name}", dir_fd=root)


def _forget_dead_instances(root: int) -> None:
    """Instances a service that died left behind."""
    try:
        fd = os.open("instances", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=root)
    except OSError:
        return
    try:
        names = os.listdir(fd)
    finally:
        os.close(fd)
    for name in names:
        if not name.startswith(_PREFIX):
            continue
        pid = name[len(_PREFIX) :].split("-")[0]
        if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
            _remove(root, name)
