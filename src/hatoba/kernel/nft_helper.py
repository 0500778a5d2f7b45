"""libnftables in a process of its own, with few descriptors, driven over a socket pair.

libnftables 1.0.6 waits for the answer to a batch with select() on its netlink socket, and
glibc aborts the whole process (`bit out of range 0 - FD_SETSIZE on fd_set`) when that socket's
number is 1024 or more. The service holds a descriptor per published port, per DNS socket and
per API connection, so it cannot keep its numbers low; the helper can. It closes whatever it
inherited except stdio and its end of the pair, and holds two descriptors per open context (a
namespace handle and libnftables' socket) for at most MAX_CONTEXTS contexts. The kernel gives
out the lowest free number, so every socket libnftables opens there is numbered below 1024,
whatever the service holds.

A context is opened for a namespace handle passed with SCM_RIGHTS. The helper has one thread; it
enters the context's namespace (setns, ~3 µs) to open it and for each command, so a command
acts on that namespace whatever libnftables does with its socket, and goes back to its own
namespace after each. Contexts live
as long as their `NftNamespace` is open: the host's tables keep one, whose cache makes a
transaction cost ~0.2 ms where a fresh context refetches every set (~15 ms at 4,000 ports).

The helper is started on first use — forked by the fork server in the service (~1 ms), as a
fresh interpreter elsewhere — and again after it died. A helper found dead while idle is
replaced before the request is sent; a request during which it dies (or that gets no answer
within `timeout`, and then it is killed) raises KernelError. Nothing ever waits on a dead one.

Wire format: a 4-byte length, then `<JSON envelope>\\n<text>`. A command names its context, or
carries the namespace handle to open one (the reply gives its number); closing one is not
answered, so a one-off command costs a single round trip (~30 µs on an idle machine).
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import select
import signal
import socket
import struct
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from hatoba.errors import KernelError
from hatoba.kernel import libc
from hatoba.kernel.netns import open_handle
from hatoba.kernel.nft import NftContext

# Starts a helper serving `channel` (which the caller closes afterwards); returns its pid.
Spawn = Callable[[socket.socket], int]

_log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_CONTEXTS = 256
TIMEOUT = 30.0  # a commit takes milliseconds; only a hung helper takes this long
_LENGTH = struct.Struct("!I")
_CHANNEL_FD = 3  # where a fresh interpreter finds its end of the pair


# --- the service's side -------------------------------------------------------------------


class NftHelper:
    """The helper process, started when first needed and again after it died."""

    def __init__(self, spawn: Spawn | None = None, *, timeout: float = TIMEOUT) -> None:
        self._spawn = spawn or spawn_interpreter
        self._timeout = timeout
        self._lock = threading.Lock()
        self._process: _Process | None = None
        self._closed = False
        # every helper started here: a commit announced by one of them is ours
        self.pids: set[int] = set()

    @property
    def pid(self) -> int | None:
        """The running helper's; None before its first use and after it was found dead."""
        process = self._process
        return None if process is None else process.pid

    def namespace(self, netns_path: str) -> NftNamespace:
        """nftables in the network namespace whose handle is `netns_path`."""
        return NftNamespace(self, netns_path)

    def close(self) -> None:
        """Stop the helper. Nothing is in flight (we hold the lock) and nothing is lost: the
        tables live in the kernel."""
        with self._lock:
            self._closed = True
            if self._process is not None:
                self._process.end()
                self._process = None

    def _send(self, ns: NftNamespace, command: str) -> SentCommand:
        """Send a command; the helper is ours until its answer is read (every other command
        waits till then)."""
        self._lock.acquire()
        try:
            process = self._current()
            if ns.context is not None and ns.context[0] is process:
                envelope = {"context": ns.context[1]}
                self._talk(process, lambda: _send(process.sock, envelope, command, None))
                return SentCommand(self, ns, process)
            # the first command opens the context, with the namespace's handle
            ns.context = None
            fd = open_handle(ns.netns_path, "nftables")
            try:
                self._talk(process, lambda: _send(process.sock, {}, command, fd))
            finally:
                os.close(fd)
            return SentCommand(self, ns, process)
        except BaseException:
            self._lock.release()
            raise

    def _close_context(self, ns: NftNamespace) -> None:
        """Unanswered: the helper reads it before the next request."""
        with self._lock:
            context, ns.context = ns.context, None
            if context is not None and context[0] is self._process:
                try:
                    _send(context[0].sock, {"close": context[1]}, "", None)
                except OSError:
                    pass  # it died, and the context with it; the next request will see

    def _current(self) -> _Process:
        if self._closed:
            raise KernelError("the nftables helper is closed")
        if self._process is not None and self._process.hung_up():
            _log.warning("nftables helper %d died; starting another", self._process.pid)
            self._process.end()
            self._process = None
        if self._process is None:
            self._process = self._start()
        return self._process

    def _start(self) -> _Process:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            pid = self._spawn(theirs)
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        try:
            pidfd = os.pidfd_open(pid)
        except ProcessLookupError:
            ours.close()
            raise KernelError("the nftables helper exited at once") from None
        ours.settimeout(self._timeout)
        self.pids.add(pid)
        return _Process(pid, pidfd, ours)

    def _talk(self, process: _Process, io: Callable[[], T]) -> T:
        """One side of an exchange with the helper; a helper that died or hangs is ended."""
        try:
            return io()
        except (OSError, EOFError) as exc:
            process.end()
            self._process = None
            why = "did not answer" if isinstance(exc, TimeoutError) else "died"
            _log.warning("nftables helper %d %s during a command", process.pid, why)
            raise KernelError(f"nftables: the helper process {process.pid} {why}") from None


class SentCommand:
    """A command sent to the helper whose answer is read later, so that the sender can work
    while the helper runs it. Until `answer` is called the helper serves no other command
    (one sent meanwhile from the same thread would wait forever)."""

    def __init__(self, helper: NftHelper, ns: NftNamespace, process: _Process) -> None:
        self._helper = helper
        self._ns = ns
        self._process = process
        self._answered = False

    def answer(self) -> str:
        """Wait for the answer: the command's output, or its error as KernelError."""
        if self._answered:
            raise RuntimeError("the answer to this nftables command was read already")
        self._answered = True
        process = self._process
        try:
            reply, output, _ = self._helper._talk(process, lambda: _receive(process.sock))
            if "context" in reply:
                self._ns.context = (process, int(reply["context"]))
        finally:
            self._helper._lock.release()
        if "error" in reply:
            raise KernelError(str(reply["error"]), reply.get("errno"))
        return output


class NftNamespace:
    """nftables in one network namespace: a libnftables context held by the helper.

    Commands go through the helper one at a time, from any thread. The context is opened at the
    first command and again in a new helper after the old one died.
    """

    def __init__(self, helper: NftHelper, netns_path: str) -> None:
        self.helper = helper
        self.netns_path = netns_path
        self.context: tuple[_Process, int] | None = None  # in which helper, which number
        self._closed = False

    def run(self, command: str) -> str:
        """Run nft commands (text or a JSON document) as one transaction; return the output."""
        return self.send(command).answer()

    def send(self, command: str) -> SentCommand:
        """`run`, its answer read later (SentCommand.answer, which must be called)."""
        if self._closed:
            raise KernelError("nftables context is closed")
        return self.helper._send(self, command)

    def run_json(self, document: dict[str, Any]) -> dict[str, Any]:
        out = self.run(json.dumps(document))
        return json.loads(out) if out.strip() else {}

    def close(self) -> None:
        self._closed = True
        self.helper._close_context(self)

    def __enter__(self) -> NftNamespace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class _Process:
    pid: int
    pidfd: int
    sock: socket.socket

    def hung_up(self) -> bool:
        """An idle helper never writes: anything to read means it has gone."""
        poller = select.poll()
        poller.register(self.sock, select.POLLIN)
        return bool(poller.poll(0))

    def end(self) -> None:
        """Kill and reap it (a fork server's child is reaped by the fork server)."""
        self.sock.close()
        try:
            signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
            os.waitid(os.P_PIDFD, self.pidfd, os.WEXITED)
        except (ProcessLookupError, ChildProcessError):
            pass
        finally:
            os.close(self.pidfd)


def spawn_interpreter(channel: socket.socket) -> int:
    """Start the helper as a fresh interpreter (~30 ms): for processes without a fork server.

    posix_spawn, so that no other thread's child can inherit the channel: the helper's end
    becomes descriptor 3 in the new process only.
    """
    fd = channel.fileno()
    spare = os.dup(fd) if fd == _CHANNEL_FD else None  # dup2 onto itself would keep CLOEXEC
    try:
        return os.posix_spawn(
            sys.executable,
            [sys.executable, "-m", __name__],
            os.environ,
            file_actions=[(os.POSIX_SPAWN_DUP2, fd if spare is None else spare, _CHANNEL_FD)],
        )
    except OSError as exc:
        raise KernelError(f"cannot start the nftables helper: {exc}") from exc
    finally:
        if spare is not None:
            os.close(spare)


# --- the helper's side --------------------------------------------------------------------


@dataclass
class _Context:
    netns: int  # the namespace handle
    nft: NftContext

    def run(self, command: str, home: int) -> str:
        return _inside(self.netns, home, lambda: self.nft.run(command))

    def close(self) -> None:
        self.nft.close()
        os.close(self.netns)


def serve(channel: socket.socket) -> int:
    """Answer requests until the other end goes away."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C on the service's terminal is not ours
    keep = channel.fileno()
    os.closerange(3, keep)
    os.closerange(keep + 1, os.sysconf("SC_OPEN_MAX"))
    # back here after every command: staying in a container's namespace would keep it alive
    home = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    contexts: dict[int, _Context] = {}
    numbers = itertools.count(1)
    while True:
        try:
            envelope, text, fds = _receive(channel)
        except (EOFError, ConnectionError):  # the service has gone
            return 0
        if "close" in envelope:
            closed = contexts.pop(envelope["close"], None)
            if closed is not None:
                closed.close()
            continue
        reply: dict[str, Any] = {}
        output = ""
        try:
            if "context" in envelope:
                context = contexts[envelope["context"]]  # the client never sends an unknown one
            else:
                context = _open_context(fds, contexts, home)
                reply["context"] = number = next(numbers)
                contexts[number] = context
            output = context.run(text, home)
        except KernelError as exc:
            reply.update(error=str(exc), errno=exc.errno)
        finally:
            for fd in fds:  # those a new context did not take
                os.close(fd)
        try:
            _send(channel, reply, output, None)
        except ConnectionError:  # the service died waiting for this answer
            return 0


def _open_context(fds: list[int], contexts: dict[int, _Context], home: int) -> _Context:
    if not fds:
        raise KernelError("nftables: no namespace handle came with the request")
    if len(contexts) >= MAX_CONTEXTS:
        raise KernelError(f"nftables: more than {MAX_CONTEXTS} contexts open")
    nft = _inside(fds[0], home, NftContext)
    return _Context(fds.pop(0), nft)


def _inside(netns: int, home: int, work: Callable[[], T]) -> T:
    libc.setns(netns, libc.CLONE_NEWNET)
    try:
        return work()
    finally:
        libc.setns(home, libc.CLONE_NEWNET)


# --- the wire -----------------------------------------------------------------------------


def _send(sock: socket.socket, envelope: dict[str, Any], text: str, fd: int | None) -> None:
    body = json.dumps(envelope).encode() + b"\n" + text.encode()
    header = _LENGTH.pack(len(body))
    if fd is None:
        sock.sendall(header + body)
        return
    if socket.send_fds(sock, [header], [fd]) != len(header):
        raise OSError("short write on the nftables helper's socket")
    sock.sendall(body)


def _receive(sock: socket.socket) -> tuple[dict[str, Any], str, list[int]]:
    header, fds, _flags, _addr = socket.recv_fds(sock, _LENGTH.size, 1)
    try:
        if not header:
            raise EOFError
        header += _exactly(sock, _LENGTH.size - len(header))
        envelope, _, text = _exactly(sock, _LENGTH.unpack(header)[0]).partition(b"\n")
        return json.loads(envelope), text.decode(), fds
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise


def _exactly(sock: socket.socket, size: int) -> bytes:
    chunks: list[bytes] = []
    while size:
        chunk = sock.recv(min(size, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


if __name__ == "__main__":
    raise SystemExit(serve(socket.socket(fileno=_CHANNEL_FD)))
