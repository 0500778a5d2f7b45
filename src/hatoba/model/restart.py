"""Restart policies as Docker applies them (`HostConfig.RestartPolicy`): whether a container
that exited is started again, when, and which containers the service starts when it starts.
Pure: the waiting happens in api/restarts.py, the starting in the engine.

One deliberate difference: Docker starts an `on-failure` container again at daemon start even
when the user stopped it (its stop signal made the exit code non-zero; moby#35166, #47846).
hatoba does not: a container the user stopped did not fail.
"""

from __future__ import annotations

from dataclasses import dataclass

from hatoba.errors import InvalidArgument

NO, ALWAYS, UNLESS_STOPPED, ON_FAILURE = "no", "always", "unless-stopped", "on-failure"

# Docker's restart manager: 100 ms, doubled after each restart up to a minute, and back to
# 100 ms once the container ran 10 s
FIRST_DELAY = 0.1
MAX_DELAY = 60.0
STEADY_RUN = 10.0


@dataclass(frozen=True)
class RestartPolicy:
    # "" (not given) and "no" both mean no restarts; kept as given, as inspect shows it
    name: str = ""
    maximum_retry_count: int = 0

    @property
    def is_none(self) -> bool:
        return self.name in ("", NO)


def validate(policy: RestartPolicy, auto_remove: bool) -> None:
    """dockerd's checks of a create request, with its texts."""
    if policy.name in (NO, ALWAYS, UNLESS_STOPPED):
        if policy.maximum_retry_count != 0:
            raise InvalidArgument(
                f"maximum retry count cannot be used with restart policy '{policy.name}'"
            )
    elif policy.name == ON_FAILURE:
        if policy.maximum_retry_count < 0:
            raise InvalidArgument("maximum retry count cannot be negative")
    elif policy.name != "":
        raise InvalidArgument(f"invalid restart policy '{policy.name}'")
    if auto_remove and not policy.is_none:
        raise InvalidArgument("can't create 'AutoRemove' container with restart policy")


def after_exit(
    policy: RestartPolicy, exit_code: int, manually_stopped: bool, restart_count: int
) -> bool:
    """Docker's ShouldRestart: is a container that just exited started again? (A stop or kill
    with the stop signal or SIGKILL cancels the restart before this is asked.)"""
    if policy.name == ALWAYS:
        return True
    if policy.name == UNLESS_STOPPED:
        return not manually_stopped
    if policy.name == ON_FAILURE:
        limit = policy.maximum_retry_count
        return exit_code != 0 and (limit == 0 or restart_count < limit)
    return False


def at_service_start(
    policy: RestartPolicy,
    exit_code: int,
    manually_stopped: bool,
    restart_count: int,
    started_before: bool,
) -> bool:
    """Is a stopped container started when the service starts? Docker's rule at daemon start:
    `always` even after a stop by the user, `unless-stopped` unless the user stopped it,
    `on-failure` if it failed and has retries left (and, unlike Docker, was not stopped by
    the user); never a container that was only created."""
    if not started_before:
        return False
    if policy.name == ON_FAILURE and manually_stopped:
        return False
    return after_exit(policy, exit_code, manually_stopped, restart_count)


def next_delay(previous: float, ran_for: float) -> float:
    """The wait before the next restart, given the last one (0 for none yet) and how long the
    container ran."""
    if ran_for >= STEADY_RUN or previous <= 0:
        return FIRST_DELAY
    return min(previous * 2, MAX_DELAY)
