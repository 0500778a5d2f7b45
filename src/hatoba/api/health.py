"""Runs containers' health checks: one task per running container that has a check, on the
service's loop. Each probe is a `crun exec` of the check's command in the container (as
`exec` runs processes), given the check's timeout; its result goes to the engine's worker
(engine/health.py), which applies Docker's policy (model/health.py).

What it costs: no thread and no engine time while a probe runs — a probe is a child process
read by the loop, so a hanging check holds up nothing; the worker only records each result
(a snapshot swap, and a store write when the status changes). A check that outlives its
timeout is killed with its whole process group (crun puts the command in a session of its
own), and so is a running check when its container exits or the service stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import tempfile
from pathlib import Path

from hatoba.api.ports import ContainerIO
from hatoba.api.runner import EngineRunner
from hatoba.engine.engine import Engine
from hatoba.engine.processes import ExecRequest
from hatoba.errors import HatobaError
from hatoba.model.container import Container
from hatoba.model.health import (
    MAX_OUTPUT,
    PROBE_ERROR,
    HealthConfig,
    ProbeResult,
    probe_output,
    timed_out,
)
from hatoba.model.ids import now_rfc3339
from hatoba.model.launch import CONTAINER_UMASK

log = logging.getLogger("hatoba.health")


class HealthChecks:
    def __init__(self, engine: Engine, runner: EngineRunner, io: ContainerIO, scratch: str) -> None:
        self._engine = engine
        self._runner = runner
        self._io = io
        # where each probe's process.json and pid file live while it runs
        self._scratch = scratch
        self._monitors: dict[str, asyncio.Task[None]] = {}

    def follow(self, container: Container) -> None:
        """Start checking a running container (after a start, or at boot for one that kept
        running: its status then carries on from what the store had)."""
        config = container.config.healthcheck
        if config is None or not config.probe or not container.state.running:
            return
        self.forget(container.id)
        self._monitors[container.id] = asyncio.ensure_future(
            self._monitor(container.id, container.state.started_at, config)
        )

    def forget(self, container_id: str) -> None:
        """The container exited or is gone: stop checking it (a probe under way is killed)."""
        monitor = self._monitors.pop(container_id, None)
        if monitor is not None:
            monitor.cancel()

    async def close(self) -> None:
        monitors = list(self._monitors.values())
        self._monitors.clear()
        for monitor in monitors:
            monitor.cancel()
        await asyncio.gather(*monitors, return_exceptions=True)

    async def _monitor(self, container_id: str, started_at: str, config: HealthConfig) -> None:
        # Docker 20.10: the first probe one interval after the start, each next one an
        # interval after the previous one ended
        try:
            while True:
                await asyncio.sleep(config.interval_seconds)
                result = await self._probe(container_id, config)
                recorded = await self._runner.call(
                    self._engine.record_health, container_id, started_at, result
                )
                if recorded is None:
                    return
        except Exception:
            log.exception("health checks of %s stopped", container_id)
        finally:
            if self._monitors.get(container_id) is asyncio.current_task():
                del self._monitors[container_id]

    async def _probe(self, container_id: str, config: HealthConfig) -> ProbeResult:
        start = now_rfc3339()
        try:
            # Docker's: the container's user, working directory and environment
            process = self._engine.exec_process(container_id, ExecRequest(argv=config.probe))
        except HatobaError as exc:
            return ProbeResult(start, now_rfc3339(), PROBE_ERROR, exc.message)
        # crun reads the process from a file in here and writes the command's pid in here
        with tempfile.TemporaryDirectory(dir=self._scratch, prefix="health-") as tmp:
            pid_file = os.path.join(tmp, "pid")
            argv = self._io.exec_argv(
                container_id, process, Path(tmp, "process.json"), None, pid_file=pid_file
            )
            try:
                proc = await asyncio.create_subprocess_exec(
                    *argv,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.STDOUT,
                    start_new_session=True,
                    umask=CONTAINER_UMASK,
                )
            except OSError as exc:
                return ProbeResult(start, now_rfc3339(), PROBE_ERROR, str(exc))
            assert proc.stdout is not None
            output = _Output()
            reader = asyncio.ensure_future(output.read(proc.stdout))
            try:
                code = await asyncio.wait_for(proc.wait(), config.timeout_seconds)
            except TimeoutError:
                code = None
            finally:
                if proc.returncode is None:  # timed out, or the monitor was cancelled
                    _kill_probe(proc.pid, pid_file)
                    await proc.wait()
                # the command's own children may hold the pipe: what came so far is the output
                await asyncio.wait([reader], timeout=0.05)
                reader.cancel()
        if code is None:
            return ProbeResult(start, now_rfc3339(), PROBE_ERROR, timed_out(config.timeout))
        return ProbeResult(start, now_rfc3339(), code, output.text())


def _kill_probe(crun_pid: int, pid_file: str) -> None:
    """SIGKILL the check's command with its process group, then `crun exec` (in a session of
    its own: start_new_session)."""
    try:
        with open(pid_file, encoding="ascii") as f:
            command = int(f.read().strip() or 0)
    except (OSError, ValueError):
        command = 0
    if command > 0:
        with contextlib.suppress(OSError):
            os.killpg(os.getpgid(command), signal.SIGKILL)
    with contextlib.suppress(OSError):
        os.killpg(crun_pid, signal.SIGKILL)


class _Output:
    """The probe's stdout and stderr together, the first MAX_OUTPUT bytes of them kept."""

    def __init__(self) -> None:
        self._data = bytearray()
        self._truncated = False

    async def read(self, stream: asyncio.StreamReader) -> None:
        while chunk := await stream.read(1 << 16):
            room = MAX_OUTPUT - len(self._data)
            self._data += chunk[:room]
            self._truncated = self._truncated or len(chunk) > room

    def text(self) -> str:
        return probe_output(bytes(self._data), self._truncated)
