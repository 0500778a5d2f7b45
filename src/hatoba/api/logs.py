"""`logs`: the json-file log of a container, as Docker's multiplexed or raw stream."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from hatoba.api.streams import STDERR, STDOUT, frame

_POLL = 0.1


def _entry_bytes(line: bytes, *, tty: bool, timestamps: bool, streams: set[str]) -> bytes:
    try:
        entry = json.loads(line)
    except ValueError:
        return b""
    if entry.get("stream") not in streams:
        return b""
    data = str(entry.get("log", "")).encode()
    if timestamps:
        data = str(entry.get("time", "")).encode() + b" " + data
    if tty:
        return data
    return frame(STDERR if entry.get("stream") == "stderr" else STDOUT, data)


async def stream_log(
    path: Path,
    *,
    tty: bool,
    follow: bool,
    tail: int | None,
    timestamps: bool,
    stdout: bool,
    stderr: bool,
    still_running: Callable[[], bool],
) -> AsyncIterator[bytes]:
    streams = {name for name, on in (("stdout", stdout), ("stderr", stderr)) if on}
    try:
        f = open(path, "rb")  # noqa: SIM115 - kept open while following
    except FileNotFoundError:
        return
    with f:
        lines = f.readlines()
        partial = b""
        if lines and not lines[-1].endswith(b"\n"):
            partial = lines.pop()
        if tail is not None:
            lines = lines[-tail:] if tail > 0 else []
        out = b"".join(
            _entry_bytes(x, tty=tty, timestamps=timestamps, streams=streams) for x in lines
        )
        if out:
            yield out
        while follow:
            chunk = f.read()
            if not chunk:
                if not still_running():
                    chunk = f.read()
                    if not chunk:
                        return
                else:
                    await asyncio.sleep(_POLL)
                    continue
            data = partial + chunk
            complete, _, partial = data.rpartition(b"\n")
            if complete:
                out = b"".join(
                    _entry_bytes(x, tty=tty, timestamps=timestamps, streams=streams)
                    for x in complete.split(b"\n")
                )
                if out:
                    yield out
