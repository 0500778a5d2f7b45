"""Docker's human-readable durations and container status words."""

from __future__ import annotations

import calendar
import time

from hatoba.model.durations import human_duration

__all__ = ["human_duration", "parse_rfc3339", "status_text"]


def parse_rfc3339(stamp: str) -> float:
    """Seconds since the epoch of an RFC 3339 UTC timestamp with up to nanoseconds."""
    whole = calendar.timegm(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S"))
    frac = stamp[19:].rstrip("Z")
    return whole + (float("0" + frac) if frac.startswith(".") else 0.0)


def status_text(status: str, started_at: str, finished_at: str, exit_code: int, now: float) -> str:
    if status == "running":
        return "Up " + human_duration(now - parse_rfc3339(started_at))
    if status == "exited":
        return f"Exited ({exit_code}) {human_duration(now - parse_rfc3339(finished_at))} ago"
    if status == "restarting":
        return f"Restarting ({exit_code}) {human_duration(now - parse_rfc3339(finished_at))} ago"
    return status.capitalize()
