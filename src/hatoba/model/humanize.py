"""Docker's human-readable durations and container status words."""

from __future__ import annotations

import calendar
import time


def human_duration(seconds: float) -> str:
    """go-units HumanDuration, as `docker ps` prints it."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = s // 60
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = round(seconds / 3600)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds // 3600) // 24 // 365} years"


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
    return status.capitalize()
