"""Health checks as Docker runs them: the configuration (`Config.Healthcheck`, an image's
HEALTHCHECK), the state a container reports (`State.Health`) and the policy between them —
what one probe's result does to the status, which result is kept, and how the request's
configuration falls back on the image's. Pure: the service runs the probes (api/health.py)
and the engine records their results (engine/health.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hatoba.errors import InvalidArgument
from hatoba.model.durations import go_duration_text

NONE, CMD, CMD_SHELL = "NONE", "CMD", "CMD-SHELL"
STARTING, HEALTHY, UNHEALTHY, NO_HEALTHCHECK = "starting", "healthy", "unhealthy", "none"
STATUSES = (STARTING, HEALTHY, UNHEALTHY, NO_HEALTHCHECK)

SECOND = 1_000_000_000
# Docker's containertypes.MinimumDuration: a duration is 0 (use the default) or at least this
MINIMUM_DURATION = 1_000_000
DEFAULT_INTERVAL = 30 * SECOND
DEFAULT_TIMEOUT = 30 * SECOND
DEFAULT_START_PERIOD = 0
DEFAULT_RETRIES = 3
# what Docker keeps of each probe: the last five results, 4096 bytes of output each
MAX_LOG_ENTRIES = 5
MAX_OUTPUT = 4096
# the exit code Docker reports for a probe that could not run or ran out of time
PROBE_ERROR = -1
SHELL = ("/bin/sh", "-c")


@dataclass(frozen=True)
class HealthConfig:
    """Docker's HealthConfig; durations in nanoseconds, 0 meaning "not set"."""

    # () inherit the image's; ("NONE",) no check; ("CMD", argv…); ("CMD-SHELL", command)
    test: tuple[str, ...] = ()
    interval: int = 0
    timeout: int = 0
    start_period: int = 0
    retries: int = 0

    def over(self, image: HealthConfig | None) -> HealthConfig:
        """Docker's merge at create: what the request leaves unset comes from the image."""
        if image is None:
            return self
        return HealthConfig(
            test=self.test or image.test,
            interval=self.interval or image.interval,
            timeout=self.timeout or image.timeout,
            start_period=self.start_period or image.start_period,
            retries=self.retries or image.retries,
        )

    @property
    def probe(self) -> tuple[str, ...]:
        """The command a check runs in the container; () when there is no check (no test,
        NONE, or a type Docker does not know, which it ignores too)."""
        kind, args = (self.test[0], self.test[1:]) if self.test else ("", ())
        if kind == CMD:
            return args
        if kind == CMD_SHELL and args:
            return (*SHELL, *args)
        return ()

    @property
    def interval_seconds(self) -> float:
        return (self.interval or DEFAULT_INTERVAL) / SECOND

    @property
    def timeout_seconds(self) -> float:
        return (self.timeout or DEFAULT_TIMEOUT) / SECOND

    @property
    def start_period_seconds(self) -> float:
        return (self.start_period or DEFAULT_START_PERIOD) / SECOND

    @property
    def effective_retries(self) -> int:
        return self.retries if self.retries > 0 else DEFAULT_RETRIES


def config_from_json(value: Any) -> HealthConfig | None:
    """Docker's HealthConfig JSON, as create requests and image configs hold it."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidArgument("Healthcheck must be an object")
    test = value.get("Test") or []
    if not isinstance(test, list) or not all(isinstance(word, str) for word in test):
        raise InvalidArgument("Healthcheck.Test must be a list of strings")
    numbers = []
    for key in ("Interval", "Timeout", "StartPeriod", "Retries"):
        number = value.get(key) or 0
        if not isinstance(number, int) or isinstance(number, bool):
            raise InvalidArgument(f"Healthcheck.{key} must be an integer")
        numbers.append(number)
    interval, timeout, start_period, retries = numbers
    return HealthConfig(tuple(test), interval, timeout, start_period, retries)


def validate(config: HealthConfig) -> None:
    """dockerd's checks of a create request's Healthcheck, with its texts."""
    for name, value in (
        ("Interval", config.interval),
        ("Timeout", config.timeout),
        ("StartPeriod", config.start_period),
    ):
        if value != 0 and value < MINIMUM_DURATION:
            raise InvalidArgument(
                f"{name} in Healthcheck cannot be less than {go_duration_text(MINIMUM_DURATION)}"
            )
    if config.retries < 0:
        raise InvalidArgument("Retries in Healthcheck cannot be negative")


@dataclass(frozen=True)
class ProbeResult:
    """One run of a check (Docker's HealthcheckResult); times RFC 3339 with nanoseconds."""

    start: str
    end: str
    exit_code: int
    output: str


@dataclass(frozen=True)
class Health:
    """State.Health: the status, how many checks failed in a row, the last results."""

    status: str = STARTING
    failing_streak: int = 0
    log: tuple[ProbeResult, ...] = ()


def restarted(previous: Health | None) -> Health:
    """A (re)started container: starting again with no failures; Docker keeps the log."""
    return Health(STARTING, 0, previous.log if previous is not None else ())


def record(health: Health, result: ProbeResult, config: HealthConfig, since_start: float) -> Health:
    """Docker's handleProbeResult. `since_start`: seconds from the container's start to the
    start of this probe. A failure before the first success inside the start period does not
    count; `retries` failures in a row make the container unhealthy; one success makes it
    healthy again."""
    log = (*health.log, result)[-MAX_LOG_ENTRIES:]
    if result.exit_code == 0:
        return Health(HEALTHY, 0, log)
    if health.status == STARTING and since_start < config.start_period_seconds:
        return Health(health.status, health.failing_streak, log)
    streak = health.failing_streak + 1
    status = UNHEALTHY if streak >= config.effective_retries else health.status
    return Health(status, streak, log)


def probe_output(data: bytes, truncated: bool) -> str:
    """What Docker keeps of a probe's output: the first MAX_OUTPUT bytes, `...` when there
    was more; invalid UTF-8 replaced as Go's JSON encoder replaces it."""
    return data[:MAX_OUTPUT].decode("utf-8", errors="replace") + ("..." if truncated else "")


def timed_out(timeout_ns: int) -> str:
    """Docker 20.10's Output of a probe that ran out of time."""
    return f"Health check exceeded timeout ({go_duration_text(timeout_ns or DEFAULT_TIMEOUT)})"


def status_suffix(health: Health | None) -> str:
    """What `ps` adds to `Up 5 seconds`: ` (healthy)`, ` (health: starting)`."""
    if health is None:
        return ""
    return " (health: starting)" if health.status == STARTING else f" ({health.status})"
