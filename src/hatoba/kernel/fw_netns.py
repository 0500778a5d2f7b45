"""The network namespace an adapter was made in (the host), and its sysctls.

An adapter is created on a thread that is in the host namespace; later calls may come from any
thread (the engine's worker, the event loop, a test's main thread). Work that depends on the
calling thread's namespace (opening sockets, /proc/sys/net) goes through `call`, which runs
it in place when the caller is already home and on a short-lived thread otherwise.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import TypeVar

from hatoba.kernel.netns import (
    call_in_netns,
    current_netns_id,
    open_sysctl,
    sysctl_error,
    write_sysctls,
)

T = TypeVar("T")


class HomeNetns:
    def __init__(self) -> None:
        self._fd = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        self.inode = os.fstat(self._fd).st_ino
        # sysctls read again and again (ip_forward at every firewall change), kept open: the
        # kernel finds a /proc/sys path among the entries of every namespace, so opening
        # one costs more the more containers there are
        self._kept: dict[str, int] = {}
        # the directories sysctls are written from (see write_sysctl), opened here
        self._dirs: dict[str, int] = {}

    @property
    def path(self) -> str:
        """A handle of the namespace, valid until close()."""
        return f"/proc/self/fd/{self._fd}"

    def call(self, fn: Callable[[], T]) -> T:
        if current_netns_id() == self.inode:
            return fn()
        return call_in_netns(self.path, fn)

    def read_sysctl(self, key: str) -> str:
        """`key` as under /proc/sys, e.g. `net/ipv4/ip_forward`."""
        fd = self._kept.get(key)
        if fd is None:
            fd = self._kept[key] = self.call(lambda: open_sysctl(key))
        try:
            return os.pread(fd, 64, 0).decode("ascii").strip()
        except OSError as exc:
            del self._kept[key]
            os.close(fd)
            raise sysctl_error(key, exc) from exc

    def write_sysctl(self, key: str, value: str) -> None:
        directory, _, name = key.rpartition("/")
        self.write_sysctls(directory, {name: value})

    def write_sysctls(self, directory: str, settings: Mapping[str, str]) -> None:
        """Set sysctls of `directory` (as under /proc/sys), from a kept descriptor of its top
        directories (`net/ipv6`), for the reason netns.py gives."""
        top = "/".join(directory.split("/")[:2])
        below = directory[len(top) + 1 :]
        relative = {f"{below}/{name}" if below else name: v for name, v in settings.items()}
        self.call(lambda: write_sysctls(top, relative, self._directory(top)))

    def _directory(self, path: str) -> int:
        fd = self._dirs.get(path)
        if fd is None:
            fd = self._dirs[path] = open_sysctl(path, os.O_RDONLY | os.O_DIRECTORY)
        return fd

    def close(self) -> None:
        for fd in (*self._kept.values(), *self._dirs.values()):
            os.close(fd)
        self._kept.clear()
        self._dirs.clear()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
