"""The keeper: a tiny process that runs the service and starts it again when it crashes.

    python -m hatoba.keeper RUN_ROOT -- SERVICE_COMMAND...

The CLI's autostart starts the keeper rather than the service, so that a crashed or killed
service — and with it the embedded DNS of every running container — comes back by itself
instead of at the next command. (`api/supervisor.py` supervises containers; this module keeps
the service, hence its own name.) How the service's end is read:

- status 0 (SIGTERM, `hatoba system reset`) or ALREADY_RUNNING (another service holds the run
  root) is an end on purpose: the keeper exits too, and nothing comes back by itself;
- anything else (a signal such as SIGKILL or SIGABRT, another exit status) is a crash: the
  service is started again after a delay of 0.1 s that doubles with every crash in a row up
  to 5 s, and starts afresh once the service has run for 10 s;
- a first start that ends before the service said it was ready is not retried: the keeper
  exits with its status, and the command that started it reports the service's log.

Readiness is systemd's notify protocol: the keeper binds <run-root>/keeper.sock and hands it
down as NOTIFY_SOCKET; the service sends READY=1 once it serves its API (the same message
tells systemd when the unit has Type=notify). SIGTERM or SIGINT to the keeper stops the
service (SIGTERM) and then the keeper.

The keeper lives beside the service for its whole life, so it imports only small standard
modules (~11 MB resident, 5 MB of it private). It holds its own lock (keeper.lock), never the
service's; the service inherits no descriptor from it; and a keeper that dies takes nothing
with it: the service runs on, unsupervised until a command has to start one again.
"""

from __future__ import annotations

import fcntl
import os
import select
import signal
import socket
import sys
import time

PID_FILE = "keeper.pid"
LOCK_FILE = "keeper.lock"
NOTIFY_FILE = "keeper.sock"
# the service's exit status when another service already holds the run root's lock
ALREADY_RUNNING = 3

FIRST_DELAY = 0.1
MAX_DELAY = 5.0
HEALTHY_AFTER = 10.0
# a keeper that is on its way out (its service just stopped) may still hold the lock
_LOCK_WAIT = 1.0


class Backoff:
    """The delay before each restart: doubling with every crash in a row, reset by a long run."""

    def __init__(self) -> None:
        self._next = FIRST_DELAY

    def after(self, ran_for: float) -> float:
        if ran_for >= HEALTHY_AFTER:
            self._next = FIRST_DELAY
        delay = self._next
        self._next = min(delay * 2, MAX_DELAY)
        return delay


class Keeper:
    def __init__(self, run_root: str, argv: list[str]) -> None:
        self.argv = argv
        self.stopping = False
        self._notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._notify_path = os.path.join(run_root, NOTIFY_FILE)
        _unlink(self._notify_path)
        self._notify.bind(self._notify_path)
        os.chmod(self._notify_path, 0o600)
        self._wakeup, wakeup_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wakeup_w, warn_on_full_buffer=False)
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._stop_requested)

    def _stop_requested(self, signum: int, frame: object) -> None:
        self.stopping = True

    def run(self) -> int:
        backoff = Backoff()
        ever_ready = False
        while not self.stopping:
            started = time.monotonic()
            pid = self._spawn()
            code, ready = self._watch(pid)
            ever_ready = ever_ready or ready
            if self.stopping or code in (0, ALREADY_RUNNING):
                return 0
            if not ever_ready:
                return code if code > 0 else 128 - code
            delay = backoff.after(time.monotonic() - started)
            _log(
                "WARNING",
                f"the service (pid {pid}) {_describe(code)}; starting it again in {delay:.1f} s",
            )
            self._sleep(delay)
        return 0

    def close(self) -> None:
        self._notify.close()
        _unlink(self._notify_path)

    def _spawn(self) -> int:
        env = {**os.environ, "NOTIFY_SOCKET": self._notify_path}
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            try:
                signal.set_wakeup_fd(-1)
                # as subprocess does: Python ignores SIGPIPE and SIGXFSZ, and exec keeps that
                for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGPIPE, signal.SIGXFSZ):
                    signal.signal(signum, signal.SIG_DFL)
                os.closerange(3, os.sysconf("SC_OPEN_MAX"))
                os.execve(self.argv[0], self.argv, env)
            finally:
                os._exit(127)
        return pid

    def _watch(self, pid: int) -> tuple[int, bool]:
        """Wait for the service to end, passing a stop on; its exit code and whether it was
        ready."""
        ready = False
        forwarded = False
        exited = os.pidfd_open(pid)
        events = select.poll()
        for fd in (exited, self._notify.fileno(), self._wakeup):
            events.register(fd, select.POLLIN)
        try:
            while True:
                if self.stopping and not forwarded:
                    forwarded = True
                    os.kill(pid, signal.SIGTERM)
                readable = {fd for fd, _ in events.poll()}
                if self._wakeup in readable:
                    _drain(self._wakeup)
                if self._notify.fileno() in readable:
                    ready = b"READY=1" in self._notify.recv(4096).split(b"\n") or ready
                if exited in readable:
                    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), ready
        finally:
            os.close(exited)

    def _sleep(self, seconds: float) -> None:
        """Sleep, but no longer than until a stop is asked for."""
        events = select.poll()
        events.register(self._wakeup, select.POLLIN)
        deadline = time.monotonic() + seconds
        while not self.stopping and (left := deadline - time.monotonic()) > 0:
            if events.poll(left * 1000):
                _drain(self._wakeup)


def take_notify_socket() -> str | None:
    """NOTIFY_SOCKET, taken out of the environment so that no process we start sees it (crun
    would hand it to containers)."""
    return os.environ.pop("NOTIFY_SOCKET", None)


def notify_ready(address: str | None) -> None:
    """Tell whoever started us (the keeper or systemd) that the service now serves."""
    if not address:
        return
    if address.startswith("@"):  # systemd may use an abstract socket
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.sendto(b"READY=1", address)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 3 or args[1] != "--":
        print("usage: python -m hatoba.keeper RUN_ROOT -- SERVICE_COMMAND...", file=sys.stderr)
        return 2
    run_root, service_argv = args[0], args[2:]
    lock = _lock(os.path.join(run_root, LOCK_FILE))
    if lock is None:
        _log("INFO", f"another keeper already runs in {run_root}")
        return 0
    pid_path = os.path.join(run_root, PID_FILE)
    with open(pid_path, "w", encoding="ascii") as f:
        f.write(f"{os.getpid()}\n")
    keeper = Keeper(run_root, service_argv)
    try:
        return keeper.run()
    finally:
        keeper.close()
        _unlink(pid_path)
        os.close(lock)


def _lock(path: str) -> int | None:
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    deadline = time.monotonic() + _LOCK_WAIT
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() > deadline:
                os.close(fd)
                return None
            time.sleep(0.01)


def _describe(code: int) -> str:
    if code >= 0:
        return f"exited with status {code}"
    try:
        return f"was killed by {signal.Signals(-code).name}"
    except ValueError:
        return f"was killed by signal {-code}"


def _log(level: str, message: str) -> None:
    # the service's log format (service.py), in the same file
    now = time.time()
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now))
    sys.stderr.write(f"{stamp},{int(now % 1 * 1000):03d} {level} hatoba.keeper: {message}\n")
    sys.stderr.flush()


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 512):
            pass
    except BlockingIOError:
        pass


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


if __name__ == "__main__":
    raise SystemExit(main())
