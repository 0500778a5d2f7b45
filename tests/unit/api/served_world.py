"""The real API application on fake adapters, served on a unix socket, for tests without root
(`fixtures/api_world.py` calls route handlers directly; this one goes through the server).

The engine runs on the in-memory kernel and store of `tests/fakes.py`, with a real image store
in a temporary directory. Running containers are `sleep` processes, so signals, pidfd watches
and exits are the kernel's own. The service's event loop runs on a thread of its own: a client
on the test's thread uses plain blocking sockets, and a hung handler cannot hang the client.

The world holds two user networks (`front`, and `back` which is internal), a created container
`web` on `front`, a running container `db` on both with an exec instance `exec`, an image
`alpine:latest` and a volume `data`.
"""

from __future__ import annotations

import asyncio
import http.client
import io
import json
import os
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fakes import FakeKernel, FakeRuntime, FakeStorage, MemoryStore
from fixtures.image_archives import ArchiveImage, docker_save, file, image_config, tar_bytes
from hatoba.api.app import App
from hatoba.api.attach import Attacher
from hatoba.api.execs import Execs, ExecSpec
from hatoba.api.health import HealthChecks
from hatoba.api.runner import EngineRunner
from hatoba.api.supervisor import Supervisor
from hatoba.engine.containers import CreateRequest, EndpointRequest
from hatoba.engine.core import Paths
from hatoba.engine.engine import Engine
from hatoba.engine.state import State
from hatoba.images import ImageStore
from hatoba.images.api_view import ApiImages
from hatoba.images.engine_view import EngineImages
from hatoba.kernel.meters import KernelMeters
from hatoba.model.container import ContainerConfig
from hatoba.model.launch import ExitStatus, ProcessSpec, Started
from hatoba.model.network import NetworkSpec

SAFETY = 20.0  # a socket or a thread that stays silent this long fails the test
STREAM_CUT = 2.0  # how long a body that keeps coming is read before it counts as a stream


class SleepingRuntime(FakeRuntime):
    """Containers are `sleep` processes: `kill` reaches a real process, exits are real."""

    def __init__(self) -> None:
        super().__init__()
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, container_id: str) -> Started:
        self.launched.append(self.spawned.pop(container_id))
        proc = subprocess.Popen(["sleep", "600"], start_new_session=True)
        self.processes[container_id] = proc
        return Started(pid=proc.pid, shim_pid=proc.pid, shim_start_time=1)

    def signal(self, pid: int, signum: int) -> None:
        self.signals.append((pid, signum))
        try:  # what CrunRuntime.signal lets through, it lets through
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    def is_alive(self, pid: int, start_time: int) -> bool:
        return any(p.pid == pid and p.poll() is None for p in self.processes.values())

    def exit_status(self, container_id: str) -> ExitStatus | None:
        proc = self.processes.get(container_id)
        if proc is None or proc.poll() is None:
            return None
        return ExitStatus(proc.returncode % 256, "2024-01-01T00:00:00.000000000Z")

    def close(self) -> None:
        for proc in self.processes.values():
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


class FakeIO:
    """Where the API finds logs and files; no shims to attach to; every exec runs `true`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def attach_socket(self, container_id: str) -> Path:
        return self.directory / "attach" / container_id

    def log_path(self, container_id: str) -> Path:
        return self.directory / "logs" / f"{container_id}.log"

    def file_path(self, container_id: str, container_path: str) -> Path:
        return self.directory / "files" / container_id / container_path.lstrip("/")

    def exec_argv(
        self,
        container_id: str,
        process: ProcessSpec,
        process_file: Path,
        console_socket: str | None,
        pid_file: str | None = None,
    ) -> list[str]:
        return ["true"]

    def exec_error(self, process_file: Path) -> str | None:
        return None


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    # the body was still coming when the client stopped reading (a stream, or a hijack)
    open_ended: bool = False


class ServedWorld:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.socket = directory / "hatoba.sock"
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="api-world", daemon=True)

    def __enter__(self) -> ServedWorld:
        self._thread.start()
        self._ready.wait(SAFETY)
        if self._error is not None:
            raise self._error
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(SAFETY)
        assert not self._thread.is_alive(), "the API world did not stop"

    # --- the service's thread ---------------------------------------------------------------

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        d = self.directory
        resolv = d / "resolv.conf"
        resolv.write_text("nameserver 198.51.100.53\n")
        self.kernel, self.store, self.runtime = FakeKernel(), MemoryStore(), SleepingRuntime()
        self.images = ImageStore(d / "root")
        self.images.recover()
        layer = tar_bytes(file("etc/motd", b"hello\n"))
        archive = docker_save([ArchiveImage([layer], ["alpine:latest"], image_config([layer]))])
        self.images.load(io.BytesIO(archive))
        self.engine = Engine.open(
            Paths(d / "root", d / "run", resolv),
            self.store,
            self.kernel,
            self.runtime,
            EngineImages(self.images),
            State(),
            storage=FakeStorage(d / "volumes"),
        )
        self.io = FakeIO(d)
        runner = EngineRunner()
        supervisor = Supervisor(
            self.engine, runner, HealthChecks(self.engine, runner, self.io, str(d))
        )
        self.app = app = App(
            engine=self.engine,
            runner=runner,
            supervisor=supervisor,
            attacher=Attacher(self.io),
            execs=Execs(self.io, str(d)),
            io=self.io,
            images=ApiImages(self.images),
            started=time.time(),
            shutdown=lambda: None,
            # /proc and ps work for the `sleep` processes that stand for containers
            meters=KernelMeters(),
            stats_period=0.01,
        )
        try:
            running = await runner.call(self._populate)
            supervisor.watch(running)
            self.exec_id = app.execs.create(running.id, ExecSpec(("true",))).id
            server = app.server()
            await server.listen(str(self.socket))
            self._ready.set()
            await self._stop.wait()
            await server.close()
            await supervisor.close()
        finally:
            runner.shutdown()
            self.runtime.close()

    def _populate(self) -> Any:
        engine = self.engine
        engine.bootstrap()
        engine.create_network(NetworkSpec(name="front", labels={"tier": "web"}))
        engine.create_network(NetworkSpec(name="back", internal=True))
        web = ContainerConfig(image="alpine", cmd=("httpd",), network_mode="front")
        engine.create_container(CreateRequest(web, name="web"))
        db = ContainerConfig(image="hostfs", cmd=("sleep", "1d"), network_mode="front")
        both = (EndpointRequest("front", ("database",)), EndpointRequest("back"))
        created = engine.create_container(CreateRequest(db, name="db", endpoints=both))
        running = engine.start(created.id)
        engine.create_volume("data", labels={"tier": "db"})
        logs = self.io.log_path(running.id)
        logs.parent.mkdir(parents=True, exist_ok=True)
        lines = [{"log": "ready\n", "stream": "stdout", "time": "2024-01-01T00:00:00Z"}]
        logs.write_text("".join(json.dumps(line) + "\n" for line in lines))
        return running

    # --- the test's thread ------------------------------------------------------------------

    def on_loop(self, fn: Any) -> Any:
        """fn() on the service's loop, between two of its steps."""

        async def call() -> Any:
            return fn()

        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(call(), self._loop).result(SAFETY)

    def snapshot(self) -> Any:
        """Everything a request could change: engine state, store, kernel, processes, images."""

        def take() -> Any:
            state, addresses = self.engine.state, self.engine.core.addresses
            return (
                dict(state.networks),
                dict(state.containers),
                repr(addresses.last),
                repr(addresses.pending),
                dict(self.store.networks),
                dict(self.store.containers),
                repr(self.store.meta),
                dict(self.kernel.links),
                set(self.kernel.netns),
                repr(self.kernel.attached),
                [(cid, p.pid, p.poll()) for cid, p in self.runtime.processes.items()],
                sorted(self.runtime.spawned),
                [(i.id, i.repo_tags) for i in self.images.list()],
                dict(state.volumes),
                dict(self.store.volumes),
                self.engine.core.storage.volume_names(),
            )

        return self.on_loop(take)

    def names(self) -> dict[str, str]:
        """Names and ids a request may use."""

        def take() -> dict[str, str]:
            out = {}
            for n in self.engine.state.networks.values():
                out[n.name] = n.id
            for c in self.engine.state.containers.values():
                out[c.name] = c.id
            for image in self.images.list():
                out["image"] = image.id
            out["exec"] = self.exec_id
            out.update((name, name) for name in self.engine.state.volumes)
            return out

        return self.on_loop(take)


def exchange(path: Path, raw: bytes, method: str, *, half_close: bool = False) -> Reply | None:
    """Send `raw` (then end the sending side, with `half_close`: all there is to read); the
    response, or None when the server closed without one. A body that is still coming after
    a short while is a stream: what came so far is kept."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(SAFETY)
        sock.connect(str(path))
        try:
            sock.sendall(raw)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass  # it answered before reading it all: the answer is still there to read
        response = http.client.HTTPResponse(sock, method=method)
        try:
            response.begin()
        except (http.client.RemoteDisconnected, ConnectionResetError):
            return None
        headers = {k.lower(): v for k, v in response.getheaders()}
        if response.status == 101:
            return Reply(101, headers, b"", open_ended=True)
        # a stream may keep sending (stats every sampling period): it is cut after a while
        sock.settimeout(0.2)
        body = bytearray()
        deadline = time.monotonic() + STREAM_CUT
        try:
            while time.monotonic() < deadline:
                chunk = response.read1(65536)
                if not chunk:
                    return Reply(response.status, headers, bytes(body))
                body += chunk
        except (TimeoutError, http.client.IncompleteRead):
            pass
        return Reply(response.status, headers, b"", open_ended=True)
