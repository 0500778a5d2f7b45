"""Restart policies' pure rules (model/restart.py): Docker's decision after an exit, its rule at
daemon start, its backoff, and dockerd's checks of a create request."""

from __future__ import annotations

import pytest

from hatoba.errors import InvalidArgument
from hatoba.model.restart import (
    ALWAYS,
    NO,
    ON_FAILURE,
    UNLESS_STOPPED,
    RestartPolicy,
    after_exit,
    at_service_start,
    next_delay,
    validate,
)


@pytest.mark.parametrize(
    ("policy", "code", "stopped", "count", "again"),
    [
        (RestartPolicy(), 1, False, 0, False),
        (RestartPolicy(NO), 1, False, 0, False),
        (RestartPolicy(ALWAYS), 0, False, 0, True),
        (RestartPolicy(ALWAYS), 0, True, 99, True),
        (RestartPolicy(UNLESS_STOPPED), 0, False, 5, True),
        (RestartPolicy(UNLESS_STOPPED), 1, True, 0, False),
        (RestartPolicy(ON_FAILURE), 0, False, 0, False),
        (RestartPolicy(ON_FAILURE), 1, False, 1000, True),  # 0: no limit
        (RestartPolicy(ON_FAILURE, 2), 1, False, 1, True),
        (RestartPolicy(ON_FAILURE, 2), 1, False, 2, False),
    ],
)
def test_after_an_exit(
    policy: RestartPolicy, code: int, stopped: bool, count: int, again: bool
) -> None:
    assert after_exit(policy, code, stopped, count) is again


def test_on_failure_two_restarts_exactly_twice() -> None:
    policy, count = RestartPolicy(ON_FAILURE, 2), 0
    while after_exit(policy, 3, False, count):
        count += 1
    assert count == 2


@pytest.mark.parametrize(
    ("policy", "code", "stopped", "count", "started_before", "again"),
    [
        # Docker: `always` comes back at daemon start even after a stop by the user
        (RestartPolicy(ALWAYS), 137, True, 0, True, True),
        (RestartPolicy(UNLESS_STOPPED), 137, True, 0, True, False),
        (RestartPolicy(UNLESS_STOPPED), 0, False, 0, True, True),
        (RestartPolicy(ON_FAILURE), 1, False, 0, True, True),
        (RestartPolicy(ON_FAILURE, 3), 1, False, 3, True, False),
        # hatoba, unlike Docker: a container the user stopped did not fail
        (RestartPolicy(ON_FAILURE), 143, True, 0, True, False),
        # never a container that was only created
        (RestartPolicy(ALWAYS), 0, False, 0, False, False),
        (RestartPolicy(NO), 1, False, 0, True, False),
    ],
)
def test_at_service_start(
    policy: RestartPolicy, code: int, stopped: bool, count: int, started_before: bool, again: bool
) -> None:
    assert at_service_start(policy, code, stopped, count, started_before) is again


def test_backoff_doubles_from_100ms_to_a_minute_and_resets_after_10s_of_running() -> None:
    delays, delay = [], 0.0
    for _ in range(12):
        delay = next_delay(delay, ran_for=0.5)
        delays.append(delay)
    assert delays[:4] == [0.1, 0.2, 0.4, 0.8]
    assert delays[-1] == 60.0 and max(delays) == 60.0
    assert next_delay(60.0, ran_for=10.0) == 0.1
    assert next_delay(0.8, ran_for=9.9) == 1.6


RETRIES_WITH = "maximum retry count cannot be used with restart policy"


@pytest.mark.parametrize(
    ("policy", "auto_remove", "message"),
    [
        (RestartPolicy(ALWAYS, 2), False, f"{RETRIES_WITH} 'always'"),
        (RestartPolicy(NO, 1), False, f"{RETRIES_WITH} 'no'"),
        (RestartPolicy(ON_FAILURE, -1), False, "maximum retry count cannot be negative"),
        (RestartPolicy("sometimes"), False, "invalid restart policy 'sometimes'"),
        (
            RestartPolicy(UNLESS_STOPPED),
            True,
            "can't create 'AutoRemove' container with restart policy",
        ),
    ],
)
def test_dockerd_refuses(policy: RestartPolicy, auto_remove: bool, message: str) -> None:
    with pytest.raises(InvalidArgument, match=f"^{message}$"):
        validate(policy, auto_remove)


def test_valid_policies() -> None:
    for policy in (RestartPolicy(), RestartPolicy(NO), RestartPolicy(ON_FAILURE, 5)):
        validate(policy, auto_remove=False)
    validate(RestartPolicy(NO), auto_remove=True)
