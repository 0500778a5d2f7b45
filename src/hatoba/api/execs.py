"""`exec`: processes started inside a running container with `crun exec`.

Exec sessions belong to this service process (as in Docker, they are not kept across a
restart of the engine). With a TTY, crun hands over the terminal's master side on a console
socket; without one, the process's pipes are relayed in Docker's multiplexed framing.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fcntl
import os
import socket
import struct
import tempfile
import termios
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hatoba.api.ports import ContainerIO
from hatoba.api.streams import STDERR, STDOUT, ByteReader, close_writer, frame
from hatoba.errors import Conflict, NotFound
from hatoba.model.detach_keys import DetachWatch
from hatoba.model.exec_failure import EXEC_FAILED, RUNTIME_LINE, exec_failed, start_failure
from hatoba.model.ids import new_id
from hatoba.model.launch import CONTAINER_UMASK, ProcessSpec


@dataclass(frozen=True)
class ExecSpec:
    """An exec create request (`docker_json.exec_spec` reads it)."""

    argv: tuple[str, ...]
    env: tuple[str, ...] = ()
    workdir: str = ""
    tty: bool = False
    user: str = ""
    privileged: bool = False
    attach_stdin: bool = False
    attach_stdout: bool = True
    attach_stderr: bool = True
    # the keys the request named (b"": none, the default applies)
    detach_keys: bytes = b""


@dataclass
class ExecInstance:
    id: str
    container_id: str
    argv: tuple[str, ...]
    env: tuple[str, ...]
    workdir: str
    tty: bool
    user: str
    privileged: bool
    attach_stdin: bool
    attach_stdout: bool
    attach_stderr: bool
    detach_keys: bytes = b""
    running: bool = False
    exit_code: int | None = None
    pid: int = 0
    master_fd: int | None = None
    # the client sends its terminal's size before the terminal exists: kept until then
    size: tuple[int, int] | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def json(self) -> dict[str, Any]:
        return {
            "ID": self.id,
            "Running": self.running,
            "ExitCode": self.exit_code,
            "ProcessConfig": {
                "tty": self.tty,
                "entrypoint": self.argv[0] if self.argv else "",
                "arguments": list(self.argv[1:]),
                "privileged": self.privileged,
                **({"user": self.user} if self.user else {}),  # omitted when empty, as Docker
            },
            "OpenStdin": self.attach_stdin,
            "OpenStderr": self.attach_stderr,
            "OpenStdout": self.attach_stdout,
            "CanRemove": False,
            "ContainerID": self.container_id,
            # Docker 20.10 shows the keys asked for as Go shows a []byte: base64
            "DetachKeys": base64.b64encode(self.detach_keys).decode(),
            "Pid": self.pid,
        }


class Execs:
    def __init__(self, io: ContainerIO, scratch_dir: str) -> None:
        self._io = io
        self._scratch = scratch_dir
        self._instances: dict[str, ExecInstance] = {}

    def create(self, container_id: str, spec: ExecSpec, workdir: str = "") -> ExecInstance:
        """`workdir`: the container's, where an exec without a WorkingDir of its own starts."""
        if not spec.argv:
            raise Conflict("No exec command specified")
        instance = ExecInstance(
            id=new_id(),
            container_id=container_id,
            argv=spec.argv,
            env=spec.env,
            workdir=spec.workdir or workdir,
            tty=spec.tty,
            user=spec.user,
            privileged=spec.privileged,
            attach_stdin=spec.attach_stdin,
            attach_stdout=spec.attach_stdout,
            attach_stderr=spec.attach_stderr,
            detach_keys=spec.detach_keys,
        )
        self._instances[instance.id] = instance
        return instance

    def get(self, exec_id: str) -> ExecInstance:
        instance = self._instances.get(exec_id)
        if instance is None:
            raise NotFound(f"No such exec instance: {exec_id}")
        return instance

    def resize(self, exec_id: str, height: int, width: int) -> None:
        instance = self.get(exec_id)
        instance.size = (height, width)
        _apply_size(instance)

    def forget_container(self, container_id: str) -> None:
        for key in [k for k, v in self._instances.items() if v.container_id == container_id]:
            del self._instances[key]

    def check_not_run(self, instance: ExecInstance) -> None:
        if instance.running or instance.exit_code is not None:
            raise Conflict(f"Exec command {instance.id} has already run")

    async def start(
        self,
        instance: ExecInstance,
        process: ProcessSpec,
        client: ByteReader | None,
        writer: asyncio.StreamWriter | None,
        *,
        framed: bool = True,
    ) -> None:
        """Run `process` (the engine's reading of the instance); relay it to the client when
        one is attached (None: detached), in Docker's frames unless the start asked for a
        terminal's raw stream (`framed`, as Docker's start request decides it)."""
        self.check_not_run(instance)
        instance.running = True
        held = _HeldRuntimeLine()
        try:
            # crun reads the process (user and groups included) from a file in here, and
            # hands a terminal over on a socket in here
            with tempfile.TemporaryDirectory(dir=self._scratch, prefix="exec-") as tmp:
                console = os.path.join(tmp, "console.sock")
                process_file = Path(tmp, "process.json")
                argv = self._io.exec_argv(
                    instance.container_id,
                    process,
                    process_file,
                    console if process.terminal else None,
                )
                if process.terminal:
                    await self._run_tty(instance, argv, console, client, writer, framed, held)
                else:
                    await self._run_pipes(instance, argv, client, writer, framed, held)
                error = self._io.exec_error(process_file)
            if error is not None:
                # the process never ran: Docker's words and exit code instead of crun's
                failure = start_failure(instance.argv[0], error)
                instance.exit_code = failure.exit_code if failure else EXEC_FAILED
                message = exec_failed(failure.reason if failure else error) + "\r\n"
                _send(writer, message.encode(), STDOUT if framed else None)
            else:
                _send(writer, held.release(), held.stream if framed else None)
            if writer is not None:
                with contextlib.suppress(ConnectionError):
                    await writer.drain()
        finally:
            instance.running = False
            instance.done.set()
            if writer is not None:
                await close_writer(writer)

    async def _run_pipes(
        self,
        instance: ExecInstance,
        argv: list[str],
        client: ByteReader | None,
        writer: asyncio.StreamWriter | None,
        framed: bool,
        held: _HeldRuntimeLine,
    ) -> None:
        want_stdin = client is not None and instance.attach_stdin
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE if want_stdin else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE if writer else asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE if writer else asyncio.subprocess.DEVNULL,
            umask=CONTAINER_UMASK,  # crun exec passes its own on to the process
        )
        instance.pid = proc.pid
        tasks = []
        if writer is not None:
            assert proc.stdout is not None and proc.stderr is not None
            if instance.attach_stdout:
                out = _copy_out(proc.stdout, writer, STDOUT if framed else None, None)
                tasks.append(asyncio.ensure_future(out))
            else:
                tasks.append(asyncio.ensure_future(_drain(proc.stdout)))
            if instance.attach_stderr:
                held.stream = STDERR
                err = _copy_out(proc.stderr, writer, STDERR if framed else None, held)
                tasks.append(asyncio.ensure_future(err))
            else:
                tasks.append(asyncio.ensure_future(_drain(proc.stderr)))
        feeder = None
        if want_stdin and client is not None and proc.stdin is not None:
            feeder = asyncio.ensure_future(_copy_in(client, proc.stdin))
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        instance.exit_code = await proc.wait()
        if feeder is not None:
            feeder.cancel()

    async def _run_tty(
        self,
        instance: ExecInstance,
        argv: list[str],
        console: str,
        client: ByteReader | None,
        writer: asyncio.StreamWriter | None,
        framed: bool,
        held: _HeldRuntimeLine,
    ) -> None:
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(console)
        listener.listen(1)
        listener.setblocking(False)
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            umask=CONTAINER_UMASK,
        )
        instance.pid = proc.pid
        loop = asyncio.get_running_loop()
        try:
            conn, _ = await asyncio.wait_for(loop.sock_accept(listener), timeout=30)
        except TimeoutError:
            proc.kill()
            instance.exit_code = await proc.wait()
            return
        finally:
            listener.close()
        master = await loop.run_in_executor(None, _receive_fd, conn)
        conn.close()
        instance.master_fd = master
        _apply_size(instance)
        os.set_blocking(master, False)
        try:
            await self._relay_master(instance, master, client, writer, framed, held)
        finally:
            instance.master_fd = None
            os.close(master)
        instance.exit_code = await proc.wait()

    async def _relay_master(
        self,
        instance: ExecInstance,
        master: int,
        client: ByteReader | None,
        writer: asyncio.StreamWriter | None,
        framed: bool,
        held: _HeldRuntimeLine,
    ) -> None:
        loop = asyncio.get_running_loop()
        eof = loop.create_future()
        queue: asyncio.Queue[bytes] = asyncio.Queue()

        def readable() -> None:
            try:
                data = os.read(master, 1 << 16)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if data:
                queue.put_nowait(data)
            else:
                loop.remove_reader(master)
                if not eof.done():
                    eof.set_result(None)

        loop.add_reader(master, readable)
        feeder = None
        if client is not None and instance.attach_stdin:
            # detaching ends the client's connection; the process runs on, its exit is kept
            watch = DetachWatch(instance.detach_keys)
            detach = writer.close if writer is not None else lambda: None
            feeder = asyncio.ensure_future(_copy_to_fd(client, master, watch, detach))
        try:
            while not (eof.done() and queue.empty()):
                getter = asyncio.ensure_future(queue.get())
                done, _ = await asyncio.wait({getter, eof}, return_when=asyncio.FIRST_COMPLETED)
                if getter in done:
                    data = held.pass_on(getter.result())
                    if writer is not None and data:
                        _send(writer, data, STDOUT if framed else None)
                        with contextlib.suppress(ConnectionError):
                            await writer.drain()
                else:
                    getter.cancel()
        finally:
            loop.remove_reader(master)
            if feeder is not None:
                feeder.cancel()


def _apply_size(instance: ExecInstance) -> None:
    if instance.master_fd is not None and instance.size is not None:
        with contextlib.suppress(OSError):
            packed = struct.pack("HHHH", *instance.size, 0, 0)
            fcntl.ioctl(instance.master_fd, termios.TIOCSWINSZ, packed)


def _receive_fd(conn: socket.socket) -> int:
    conn.setblocking(True)
    _msg, fds, _flags, _addr = socket.recv_fds(conn, 1024, 1)
    if not fds:
        raise OSError("no terminal received from the runtime")
    return fds[0]


class _HeldRuntimeLine:
    """The first output of the stream that crun's reason for not starting a process shares
    with the process (its stderr, or its terminal), kept while it reads like such a reason:
    crun writes it there before any process of the user runs, and only the exit tells whose
    it was (crun's, in crun's log: replaced by Docker's words; the process's own: sent then,
    so a process whose first words look like crun's has them delayed, never lost)."""

    def __init__(self) -> None:
        self.first = True
        self.held = b""
        self.stream = STDOUT  # the frame it goes out in

    def pass_on(self, data: bytes) -> bytes:
        if self.first:
            self.first = False
            if RUNTIME_LINE.match(data):
                self.held = data
                return b""
        return self.release() + data

    def release(self) -> bytes:
        held, self.held = self.held, b""
        return held


def _send(writer: asyncio.StreamWriter | None, data: bytes, stream: int | None) -> None:
    """To the client, in a frame of `stream` (None: raw, a terminal's stream), unless it
    has detached."""
    if writer is not None and data and not writer.is_closing():
        writer.write(data if stream is None else frame(stream, data))


async def _copy_out(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    stream: int | None,
    held: _HeldRuntimeLine | None,
) -> None:
    while data := await reader.read(1 << 16):
        _send(writer, held.pass_on(data) if held else data, stream)
        with contextlib.suppress(ConnectionError):
            await writer.drain()


async def _drain(reader: asyncio.StreamReader) -> None:
    while await reader.read(1 << 16):
        pass


async def _copy_in(client: ByteReader, stdin: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await client.read(1 << 16):
            stdin.write(data)
            await stdin.drain()
    stdin.close()


async def _copy_to_fd(
    client: ByteReader, fd: int, watch: DetachWatch, detach: Callable[[], None]
) -> None:
    with contextlib.suppress(OSError):
        while data := await client.read(1 << 16):
            data, detached = watch.feed(data)
            if detached:
                detach()
                return
            view = memoryview(data)
            while view:
                try:
                    written = os.write(fd, view)
                except BlockingIOError:
                    await asyncio.sleep(0.005)
                    continue
                view = view[written:]
