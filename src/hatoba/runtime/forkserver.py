"""A single-threaded process forked at service start, before any thread exists.

The service is multithreaded (event loop, engine worker, namespace threads), and forking a
threaded Python process to run Python code in the child is unsafe: locks held by other threads
stay locked forever in the child. Shims and the nftables helper (`kernel/nft_helper.py`) are
Python, so they are forked from this process, which never starts a thread. Forking costs ~1 ms,
where starting a fresh interpreter costs ~15 ms.

A fork costs the service's start of a container ~2 ms, and the new shim's first steps (its
session, its mount namespace as crun needs it) ~2 ms more, all on the way to crun. So once
no request has come for SPARE_AFTER, the fork server forks a spare shim that takes those
steps and waits; the next container's request goes to it, and its pid is the answer at once.
A spare that died, or was prepared for another setup, is replaced by a fork on the spot, as
before there were spares. The first spare comes after the first shim, whose request says
what a spare is prepared for.

When the service goes away the fork server, the nftables helper and the spare see EOF and
exit; the shims carry on.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import json
import os
import select
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any, NoReturn

from hatoba.errors import KernelError
from hatoba.kernel import libc, nft_helper

_NFT_HELPER = "nft-helper"
# long enough that the spare's fork does not share the CPUs with the start that used the last
SPARE_AFTER = 0.03
# the host's mount table changed, no request came for RENEW_AFTER and the last copy is at
# least RENEW_EVERY old: the fork server's copy of it is made again (_MountView)
RENEW_AFTER, RENEW_EVERY = 1.0, 5.0
# reads and writes a container's files (cp, export): hatoba.runtime.fshelper
FILES_HELPER = "files"


class ForkServer:
    def __init__(self, pid: int, sock: socket.socket) -> None:
        self.pid = pid
        self._sock = sock
        self._lock = threading.Lock()
        # the service's one way to nftables, started at its first use
        self.nft = nft_helper.NftHelper(self._spawn_nft_helper)

    @classmethod
    def start(cls) -> ForkServer:
        if threading.active_count() > 1:
            raise RuntimeError("the fork server must be started before any thread")
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            parent.close()
            code = 0
            try:
                _serve(child)
            except BaseException:
                traceback.print_exc()
                code = 1
            os._exit(code)
        child.close()
        return cls(pid, parent)

    def spawn_shim(self, request: dict[str, Any], fds: list[int]) -> int:
        """Fork a shim for `request`; `fds` are passed to it (and stay open here)."""
        return self._fork(request, fds)

    def spawn_files_helper(self, request: dict[str, Any], fds: list[int]) -> int:
        """Fork the helper that reads or writes a container's files (runtime/fshelper.py)."""
        return self._fork({**request, "role": FILES_HELPER}, fds)

    def _spawn_nft_helper(self, channel: socket.socket) -> int:
        return self._fork({"role": _NFT_HELPER}, [channel.fileno()])

    def _fork(self, request: dict[str, Any], fds: list[int]) -> int:
        with self._lock:
            try:
                socket.send_fds(self._sock, [json.dumps(request).encode()], fds)
                reply = json.loads(self._sock.recv(4096) or b"{}")
            except OSError as exc:
                raise KernelError(f"fork server: {exc}") from exc
        if "pid" not in reply:
            raise KernelError(f"fork server: {reply.get('error', 'no reply')}")
        return int(reply["pid"])

    def close(self) -> None:
        self.nft.close()
        self._sock.close()
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)


def _serve(sock: socket.socket) -> None:  # pragma: no cover - runs in the child
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # imported here: the service itself never needs them
    from hatoba.runtime import fshelper, shim

    view = _MountView()
    # every child inherits what is here now: out of the collector's sight, it is not written
    # to (and so copied) by a child's collections
    gc.freeze()
    # A child that exits is reaped at once (a zombie would look alive in /proc), on SIGCHLD
    # rather than at each request: one wait looks at every child, a thousand with a thousand
    # containers, and a request waited for it.
    signal.signal(signal.SIGCHLD, lambda *_: _reap())
    spare: _Spare | None = None
    # what the last shim was prepared for (shim.SETUP_KEYS); none before the first
    setup: dict[str, Any] | None = None
    last_request = time.monotonic()
    while True:
        wanting = setup is not None and spare is None
        readable, _, _ = select.select([sock], [], [], SPARE_AFTER if wanting else RENEW_AFTER / 2)
        if not readable:
            if view.due(quiet_for=time.monotonic() - last_request):
                view.renew()
                if spare is not None:  # its namespace is a copy of the one before
                    spare.drop()
                    spare = None
            elif wanting:
                assert setup is not None
                spare = _Spare.fork(sock, setup, shim.serve_as_spare)
            continue
        last_request = time.monotonic()
        try:
            msg, fds, _flags, _addr = socket.recv_fds(sock, 1 << 16, 16)
        except OSError:
            return
        if not msg:
            return
        request = json.loads(msg)
        if "role" not in request:
            setup = {key: request[key] for key in shim.SETUP_KEYS}
            view.forget(request["netns_dir"])
        if spare is not None and "role" not in request:
            taken = spare.take(msg, fds, setup)
            spare = None
            if taken:
                for fd in fds:
                    os.close(fd)
                sock.send(json.dumps({"pid": taken}).encode())
                continue
        try:
            pid = os.fork()
        except OSError as exc:
            for fd in fds:
                os.close(fd)
            sock.send(json.dumps({"error": str(exc)}).encode())
            continue
        if pid == 0:
            sock.close()
            if request.get("role") == _NFT_HELPER:
                _child(functools.partial(nft_helper.serve, socket.socket(fileno=fds[0])))
            elif request.get("role") == FILES_HELPER:
                _child(functools.partial(fshelper.main, request, fds))
            else:
                _child(functools.partial(shim.main, request, fds))
        for fd in fds:
            os.close(fd)
        sock.send(json.dumps({"pid": pid}).encode())


class _MountView:  # pragma: no cover - runs in the fork server
    """The fork server's own mount namespace: a copy of the host's, a slave of it, without the
    service's folder of network namespace handles (a shim gets its handle as a descriptor).

    Every shim's namespace is a copy of this one. A copy of the host's has a mount per running
    container's handle, which the shim then unmounted: each start got slower with every
    running container. The folder is mounted after the fork server starts (and again after a
    reset): it is unmounted here at each shim's request (known from the request; nothing to
    do after the first). Where the host's mounts are shared (systemd's default), the mounts
    the host makes later reach this copy; where they are private (in a container, on some
    VMs) they do not, so once the host's table changed and no request came for RENEW_AFTER,
    the copy is made again, at most every RENEW_EVERY (on a host whose table changes all the
    time, as beside other container engines, each copy costs a copy of every handle's mount).
    """

    def __init__(self) -> None:
        self._host = os.open("/proc/self/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
        # the host's table, opened here: POLLPRI once it changed since the last poll
        self._table = os.open("/proc/self/mountinfo", os.O_RDONLY | os.O_CLOEXEC)
        self._changes = select.poll()
        self._changes.register(self._table, select.POLLPRI)
        self._changed = False
        self._folder: str | None = None
        self._copied = 0.0
        # in a namespace of its own: never unmount anything in the host's
        self._own = False
        self._copy()

    def forget(self, folder: str) -> None:
        self._folder = folder
        if self._own:
            libc.umount_all(folder)

    def due(self, *, quiet_for: float) -> bool:
        """Whether the copy is to be made again now."""
        self._changed = self._changed or bool(self._changes.poll(0))
        return (
            self._changed
            and quiet_for >= RENEW_AFTER
            and time.monotonic() - self._copied >= RENEW_EVERY
        )

    def renew(self) -> None:
        self._changed = False
        self._copy(back=True)

    def _copy(self, *, back: bool = False) -> None:
        self._copied = time.monotonic()
        try:
            if back:
                libc.setns(self._host, libc.CLONE_NEWNS)
                self._own = False
            libc.unshare(libc.CLONE_NEWNS)
            self._own = True
            libc.mount(None, "/", None, libc.MS_REC | libc.MS_SLAVE)
        except KernelError as exc:
            # whichever namespace this is left in serves: a shim unmounts the folder of
            # handles in its own copy when it finds it there (shim.Shim.isolate)
            print(f"fork server: no mount namespace of its own: {exc}", file=sys.stderr)
        if self._own and self._folder is not None:
            libc.umount_all(self._folder)


class _Spare:  # pragma: no cover - runs in the fork server
    def __init__(self, pid: int, sock: socket.socket, setup: dict[str, Any]) -> None:
        self.pid = pid
        self._sock = sock
        self.setup = setup

    @classmethod
    def fork(
        cls,
        server: socket.socket,
        setup: dict[str, Any],
        serve: Callable[[socket.socket, dict[str, Any]], int],
    ) -> _Spare | None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            pid = os.fork()
        except OSError:
            ours.close()
            theirs.close()
            return None
        if pid == 0:
            server.close()
            ours.close()
            _child(functools.partial(serve, theirs, setup))
        theirs.close()
        return cls(pid, ours, setup)

    def drop(self) -> None:
        """It sees EOF, and exits."""
        self._sock.close()

    def take(self, msg: bytes, fds: list[int], setup: dict[str, Any] | None) -> int | None:
        """Hand the spare its request: its pid, or None when it is gone or was prepared for
        another setup (it sees EOF then, and exits)."""
        try:
            if setup != self.setup:
                return None
            socket.send_fds(self._sock, [msg], fds)
        except OSError:
            return None
        finally:
            self._sock.close()
        return self.pid


def _child(work: Callable[[], int]) -> NoReturn:  # pragma: no cover - runs in the child
    """A forked child's whole life: `work`'s status, 127 when it raised (its traceback to
    the service's log)."""
    # the fork server's reaper is not the child's: a shim waits for its own children
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    code = 127
    try:
        code = work()
    except BaseException:
        traceback.print_exc(file=sys.stderr)
    os._exit(code)


def _reap() -> None:  # pragma: no cover - runs in the child
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
