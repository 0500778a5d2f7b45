"""Health checks' pure policy (model/health.py) and Go durations (model/durations.py): Docker's
state machine, start period, log of five, the request over the image, its checks and texts."""

from __future__ import annotations

import pytest

from hatoba.errors import InvalidArgument
from hatoba.model import health
from hatoba.model.durations import go_duration_text, parse_go_duration
from hatoba.model.health import (
    HEALTHY,
    STARTING,
    UNHEALTHY,
    Health,
    HealthConfig,
    ProbeResult,
    config_from_json,
    record,
)

MS = 1_000_000


def result(code: int, n: int = 0) -> ProbeResult:
    return ProbeResult(f"start-{n}", f"end-{n}", code, f"out-{n}")


def run(config: HealthConfig, codes: list[int], since_start: float = 100.0) -> list[Health]:
    """The states after each probe's result, from a fresh start."""
    states, current = [], health.restarted(None)
    for n, code in enumerate(codes):
        current = record(current, result(code, n), config, since_start)
        states.append(current)
    return states


def test_a_passing_check_makes_the_container_healthy_at_once() -> None:
    assert [s.status for s in run(HealthConfig(("CMD", "true")), [0])] == [HEALTHY]


def test_retries_failures_in_a_row_make_it_unhealthy() -> None:
    states = run(HealthConfig(("CMD", "false"), retries=2), [1, 1, 1])
    assert [(s.status, s.failing_streak) for s in states] == [
        (STARTING, 1),
        (UNHEALTHY, 2),
        (UNHEALTHY, 3),
    ]


def test_default_retries_is_three_and_a_success_resets_the_streak() -> None:
    states = run(HealthConfig(("CMD", "x")), [0, 1, 1, 0, 1, 1, 1, 0])
    assert [(s.status, s.failing_streak) for s in states] == [
        (HEALTHY, 0),
        (HEALTHY, 1),  # a healthy container stays healthy until `retries` failures
        (HEALTHY, 2),
        (HEALTHY, 0),
        (HEALTHY, 1),
        (HEALTHY, 2),
        (UNHEALTHY, 3),
        (HEALTHY, 0),
    ]


def test_failures_in_the_start_period_do_not_count_until_the_first_success() -> None:
    config = HealthConfig(("CMD", "x"), start_period=2_000 * MS, retries=1)
    inside = run(config, [1, 1, 1], since_start=1.0)
    assert [(s.status, s.failing_streak) for s in inside] == [(STARTING, 0)] * 3
    # after the start period they do
    assert run(config, [1], since_start=2.5)[-1].status == UNHEALTHY
    # and once healthy, the start period no longer protects
    healthy = record(health.restarted(None), result(0), config, 0.5)
    assert record(healthy, result(1), config, 1.0).status == UNHEALTHY


def test_the_log_keeps_the_last_five_results_oldest_first() -> None:
    states = run(HealthConfig(("CMD", "x")), [0, 1, 0, 1, 0, 1, 0])
    assert [r.output for r in states[-1].log] == [f"out-{n}" for n in range(2, 7)]


def test_a_restart_starts_over_but_keeps_the_log() -> None:
    unhealthy = run(HealthConfig(("CMD", "x"), retries=1), [1])[-1]
    again = health.restarted(unhealthy)
    assert (again.status, again.failing_streak, again.log) == (STARTING, 0, unhealthy.log)


@pytest.mark.parametrize(
    ("test", "probe"),
    [
        (("CMD", "curl", "-f", "x"), ("curl", "-f", "x")),
        (("CMD-SHELL", "curl -f x || exit 1"), ("/bin/sh", "-c", "curl -f x || exit 1")),
        (("NONE",), ()),
        ((), ()),
        (("CMD-SHELL",), ()),
        (("WHAT", "x"), ()),  # Docker ignores a type it does not know
    ],
)
def test_the_probe_of_each_test_form(test: tuple[str, ...], probe: tuple[str, ...]) -> None:
    assert HealthConfig(test).probe == probe


def test_the_request_falls_back_on_the_image_field_by_field() -> None:
    image = HealthConfig(("CMD", "img"), interval=5 * MS, timeout=6 * MS, retries=7)
    mine = HealthConfig((), interval=1 * MS, start_period=9 * MS)
    assert mine.over(image) == HealthConfig(("CMD", "img"), 1 * MS, 6 * MS, 9 * MS, 7)
    assert HealthConfig(("NONE",)).over(image).probe == ()
    assert mine.over(None) == mine


def test_defaults_are_dockers() -> None:
    config = HealthConfig(("CMD", "x"))
    assert (config.interval_seconds, config.timeout_seconds) == (30.0, 30.0)
    assert (config.start_period_seconds, config.effective_retries) == (0.0, 3)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (HealthConfig(interval=MS - 1), "Interval in Healthcheck cannot be less than 1ms"),
        (HealthConfig(timeout=5), "Timeout in Healthcheck cannot be less than 1ms"),
        (HealthConfig(start_period=1), "StartPeriod in Healthcheck cannot be less than 1ms"),
        (HealthConfig(retries=-1), "Retries in Healthcheck cannot be negative"),
    ],
)
def test_dockerd_refuses_durations_below_a_millisecond(config: HealthConfig, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        health.validate(config)
    health.validate(HealthConfig(interval=MS, timeout=0, start_period=MS, retries=0))


def test_config_json_as_requests_and_images_hold_it() -> None:
    doc = {"Test": ["CMD-SHELL", "true"], "Interval": 100 * MS, "Retries": 2}
    assert config_from_json(doc) == HealthConfig(("CMD-SHELL", "true"), 100 * MS, 0, 0, 2)
    assert config_from_json(None) is None
    assert config_from_json({"Test": None}) == HealthConfig()
    for bad in ({"Interval": "1s"}, {"Test": "true"}, {"Retries": True}, ["CMD"]):
        with pytest.raises(InvalidArgument):
            config_from_json(bad)


def test_output_is_kept_to_4096_bytes_and_timeouts_read_like_docker() -> None:
    assert health.probe_output(b"x" * 4096, truncated=True) == "x" * 4096 + "..."
    assert health.probe_output(b"ok\xff", truncated=False) == "ok\ufffd"
    assert health.timed_out(100 * MS) == "Health check exceeded timeout (100ms)"
    assert health.timed_out(0) == "Health check exceeded timeout (30s)"


def test_the_status_ps_shows() -> None:
    assert health.status_suffix(None) == ""
    assert health.status_suffix(Health(STARTING)) == " (health: starting)"
    assert health.status_suffix(Health(HEALTHY)) == " (healthy)"
    assert health.status_suffix(Health(UNHEALTHY)) == " (unhealthy)"


@pytest.mark.parametrize(
    ("text", "ns", "shown"),
    [
        ("100ms", 100 * MS, "100ms"),
        ("1.5s", 1_500 * MS, "1.5s"),
        ("1m30s", 90_000 * MS, "1m30s"),
        ("2h", 7_200_000 * MS, "2h0m0s"),
        ("0", 0, "0s"),
        ("1us", 1_000, "1µs"),
        ("1µs", 1_000, "1µs"),
        ("250ns", 250, "250ns"),
        (".5s", 500 * MS, "500ms"),
        ("-1s", -1_000 * MS, "-1s"),
    ],
)
def test_go_durations(text: str, ns: int, shown: str) -> None:
    assert parse_go_duration(text) == ns
    assert go_duration_text(ns) == shown


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", 'time: invalid duration ""'),
        ("x", 'time: invalid duration "x"'),
        ("10", 'time: missing unit in duration "10"'),
        ("5d", 'time: unknown unit "d" in duration "5d"'),
        ("1..5s", 'time: invalid duration "1..5s"'),
    ],
)
def test_bad_go_durations_get_gos_messages(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}$"):
        parse_go_duration(text)
