"""`logs`: the json-file log of a container, as Docker's multiplexed or raw stream.

Docker's json-file reader: `tail` takes the last lines of the file first, then `since` and
`until` (unix seconds, nanoseconds after the point) keep the entries of that span; `follow`
goes on until the container stops or `until` has passed. `timestamps` puts each entry's time
in front (nine digits of fraction always), `details` its attributes (none here: a space).
"""

from __future__ import annotations

import asyncio
import calendar
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

from hatoba.api.streams import STDERR, STDOUT, frame
from hatoba.errors import InvalidArgument
from hatoba.model.humanize import parse_timestamp

_POLL = 0.1


@dataclass(frozen=True)
class LogQuery:
    stdout: bool = True
    stderr: bool = True
    follow: bool = False
    tail: int | None = None
    timestamps: bool = False
    details: bool = False
    # nanoseconds since the epoch; None: from the first entry, or to the last
    since_ns: int | None = None
    until_ns: int | None = None

    def check(self) -> None:
        if not (self.stdout or self.stderr):
            raise InvalidArgument("You must choose at least one stream")


def stamp_ns(stamp: str) -> int:
    """Nanoseconds since the epoch of the shim's RFC 3339 UTC stamp (up to nine digits)."""
    whole = calendar.timegm(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S"))
    fraction = stamp[19:].rstrip("Z").lstrip(".")
    return whole * 1_000_000_000 + int((fraction + "000000000")[:9] or 0)


def point_ns(value: str) -> int:
    """A `since`/`until` argument in nanoseconds: the docker CLI sends unix seconds with up to
    nine digits of fraction (read exactly); durations and RFC 3339 as /events reads them."""
    whole, dot, fraction = value.partition(".")
    if whole.isdigit() and (not dot or (fraction.isdigit() and len(fraction) <= 9)):
        return int(whole) * 1_000_000_000 + int((fraction + "000000000")[:9])
    return round(parse_timestamp(value, time.time()) * 1e9)


def _fixed(stamp: str) -> str:
    """Docker's RFC3339NanoFixed: always nine digits of fraction."""
    head, _, fraction = stamp.rstrip("Z").partition(".")
    return f"{head}.{(fraction + '000000000')[:9]}Z"


def _entry_bytes(line: bytes, tty: bool, query: LogQuery) -> bytes:
    try:
        entry = json.loads(line)
        stream, stamp = entry.get("stream"), str(entry.get("time", ""))
    except (ValueError, AttributeError):
        return b""
    if stream not in (("stdout",) if query.stdout else ()) + (("stderr",) if query.stderr else ()):
        return b""
    if query.since_ns is not None or query.until_ns is not None:
        try:
            at = stamp_ns(stamp)
        except ValueError:
            return b""
        if (query.since_ns is not None and at < query.since_ns) or (
            query.until_ns is not None and at > query.until_ns
        ):
            return b""
    data = str(entry.get("log", "")).encode()
    if query.details:
        data = b" " + data
    if query.timestamps:
        data = _fixed(stamp).encode() + b" " + data
    if tty:
        return data
    return frame(STDERR if stream == "stderr" else STDOUT, data)


async def stream_log(
    path: Path, query: LogQuery, *, tty: bool, still_running: Callable[[], bool]
) -> AsyncIterator[bytes]:
    try:
        f = open(path, "rb")  # noqa: SIM115 - kept open while following
    except FileNotFoundError:
        return
    with f:
        lines = f.readlines()
        partial = b""
        if lines and not lines[-1].endswith(b"\n"):
            partial = lines.pop()
        if query.tail is not None:
            lines = lines[-query.tail :] if query.tail > 0 else []
        out = b"".join(_entry_bytes(x, tty, query) for x in lines)
        if out:
            yield out
        while query.follow:
            if query.until_ns is not None and time.time_ns() > query.until_ns:
                return
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
                out = b"".join(_entry_bytes(x, tty, query) for x in complete.split(b"\n"))
                if out:
                    yield out
