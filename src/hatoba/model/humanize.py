"""Docker's human-readable durations and container status words."""

from __future__ import annotations

import calendar
import re
import time
from datetime import datetime

from hatoba.errors import InvalidArgument
from hatoba.model.durations import human_duration

__all__ = ["human_duration", "parse_rfc3339", "parse_timestamp", "status_text"]

_GO_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


def parse_rfc3339(stamp: str) -> float:
    """Seconds since the epoch of an RFC 3339 UTC timestamp with up to nanoseconds."""
    whole = calendar.timegm(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S"))
    frac = stamp[19:].rstrip("Z")
    return whole + (float("0" + frac) if frac.startswith(".") else 0.0)


def parse_timestamp(value: str, now: float) -> float:
    """Seconds since the epoch of a `since`/`until` argument, read as Docker reads them: unix
    seconds (`1700000000.5`), a Go duration back from now (`10m`, `1h30m`) or RFC 3339."""
    try:
        return float(value)
    except ValueError:
        pass
    parts = _GO_DURATION.findall(value)
    if parts and "".join(n + u for n, u in parts) == value:
        return now - sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)
    # Python reads up to microseconds; Docker's stamps carry nanoseconds
    trimmed = re.sub(r"(\.\d{6})\d+", r"\1", value.replace("Z", "+00:00"))
    try:
        return datetime.fromisoformat(trimmed).timestamp()
    except ValueError:
        raise InvalidArgument(f'failed to parse value as time or duration: "{value}"') from None


def status_text(status: str, started_at: str, finished_at: str, exit_code: int, now: float) -> str:
    if status == "running":
        return "Up " + human_duration(now - parse_rfc3339(started_at))
    if status == "exited":
        return f"Exited ({exit_code}) {human_duration(now - parse_rfc3339(finished_at))} ago"
    if status == "restarting":
        return f"Restarting ({exit_code}) {human_duration(now - parse_rfc3339(finished_at))} ago"
    return status.capitalize()
