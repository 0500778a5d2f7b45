"""Health checks and restart policies through the CLI, in a sandbox: `--health-*` and an
image's HEALTHCHECK make containers healthy or unhealthy as `ps` and inspect show, and
`--restart` starts exited containers again — after a crash of their process and after a crash
of the service — but never undoes a stop."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from fixtures.busybox_images import busybox_images
from fixtures.image_sandbox import import_busybox
from fixtures.processes import eventually, kill_unsupervised
from hatoba.images.busybox import RootfsImage
from hatoba.testing import Sandbox

__all__ = ["busybox_images"]

pytestmark = pytest.mark.root

FAST = ("--health-interval", "100ms", "--health-timeout", "5s")
# the httpd stand-in with a check of its own page
CHECKED = "checked:1"
HEALTHCHECK = "HEALTHCHECK --interval=100ms --timeout=5s CMD wget -q -O /dev/null http://127.0.0.1/"


@pytest.fixture(scope="module")
def sb(busybox_images: tuple[RootfsImage, RootfsImage]) -> Iterator[Sandbox]:
    with Sandbox() as sb:
        httpd = busybox_images[1]
        import_busybox(sb, (httpd,))
        changes = [arg for change in (*httpd.changes, HEALTHCHECK) for arg in ("-c", change)]
        sb.hatoba("import", *changes, str(sb.dir / "httpd-latest.tar"), CHECKED)
        sb.hatoba("network", "create", "hc")
        yield sb


def inspect(sb: Sandbox, ref: str) -> dict[str, Any]:
    return dict(json.loads(sb.hatoba("inspect", ref).stdout)[0])


def inspect_when(sb: Sandbox, ref: str, done: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """inspect, once `done` holds for it (checks and restarts run every 100 ms here)."""
    seen: list[dict[str, Any]] = []

    def check() -> bool:
        seen.append(inspect(sb, ref))
        return done(seen[-1])

    assert eventually(check, seconds=30), json.dumps(seen[-1]["State"], indent=1)
    return seen[-1]


def health(doc: dict[str, Any]) -> str:
    return str((doc["State"].get("Health") or {}).get("Status"))


def ps_status(sb: Sandbox, name: str) -> str:
    return sb.hatoba("ps", "-a", "--filter", f"name={name}", "--format", "{{.Status}}").stdout


# --- health ----------------------------------------------------------------------------------


def test_a_passing_check_makes_the_container_healthy(sb: Sandbox) -> None:
    sb.hatoba("run", "-d", "--name", "good", "--health-cmd", "true", *FAST, "hostfs", "sleep", "1d")
    doc = inspect_when(sb, "good", lambda d: health(d) == "healthy")
    assert doc["State"]["Health"]["FailingStreak"] == 0
    assert doc["State"]["Health"]["Log"][-1]["ExitCode"] == 0
    assert ps_status(sb, "good").rstrip().endswith("(healthy)")
    table = sb.hatoba("ps", "--filter", "health=healthy").stdout
    assert "good" in table and "(healthy)" in table
    sb.hatoba("rm", "-f", "good")


def test_a_failing_check_makes_it_unhealthy_after_its_retries(sb: Sandbox) -> None:
    sb.hatoba(
        "run", "-d", "--name", "bad", "--health-cmd", "echo sick; exit 1", *FAST,
        "--health-retries", "2", "hostfs", "sleep", "1d",
    )  # fmt: skip
    doc = inspect_when(sb, "bad", lambda d: health(d) == "unhealthy")
    state = doc["State"]["Health"]
    assert state["FailingStreak"] >= 2
    assert {(r["ExitCode"], r["Output"]) for r in state["Log"]} == {(1, "sick\n")}
    assert ps_status(sb, "bad").rstrip().endswith("(unhealthy)")
    assert doc["Config"]["Healthcheck"]["Retries"] == 2
    sb.hatoba("rm", "-f", "bad")


def test_the_images_healthcheck_is_used_and_can_be_turned_off(sb: Sandbox) -> None:
    sb.hatoba("run", "-d", "--name", "web", "--net", "hc", CHECKED)
    doc = inspect_when(sb, "web", lambda d: health(d) == "healthy")
    assert doc["Config"]["Healthcheck"]["Test"] == [
        "CMD-SHELL",
        "wget -q -O /dev/null http://127.0.0.1/",
    ]
    # the request's settings go over the image's, field by field
    sb.hatoba("run", "-d", "--name", "web2", "--health-retries", "7", CHECKED)
    check = inspect(sb, "web2")["Config"]["Healthcheck"]
    assert (check["Retries"], check["Interval"]) == (7, 100_000_000)
    sb.hatoba("run", "-d", "--name", "web3", "--no-healthcheck", CHECKED)
    assert "Health" not in inspect(sb, "web3")["State"]
    assert "(" not in ps_status(sb, "web3")
    sb.hatoba("rm", "-f", "web", "web2", "web3")


# --- restarts --------------------------------------------------------------------------------


def test_on_failure_2_restarts_exactly_twice(sb: Sandbox) -> None:
    sb.hatoba(
        "run", "-d", "--name", "flaky", "--restart", "on-failure:2",
        "hostfs", "sh", "-c", "echo ran; exit 3",
    )  # fmt: skip
    doc = inspect_when(sb, "flaky", lambda d: d["State"]["Status"] == "exited")
    assert doc["RestartCount"] == 2
    assert doc["State"]["ExitCode"] == 3
    assert doc["HostConfig"]["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}
    assert sb.hatoba("logs", "flaky").stdout == "ran\n" * 3
    sb.hatoba("rm", "flaky")


def test_always_comes_back_after_its_process_dies_with_its_network(sb: Sandbox) -> None:
    sb.hatoba("run", "-d", "--name", "svc", "--net", "hc", "--restart", "always", "hostfs",
              "sleep", "1d")  # fmt: skip
    sb.hatoba("run", "-d", "--name", "peer", "--net", "hc", "hostfs", "sleep", "1d")
    first = inspect(sb, "svc")["State"]["Pid"]
    os.kill(first, signal.SIGKILL)
    doc = inspect_when(
        sb, "svc", lambda d: d["State"]["Status"] == "running" and d["State"]["Pid"] != first
    )
    assert doc["RestartCount"] == 1
    assert doc["NetworkSettings"]["Networks"]["hc"]["IPAddress"]
    # a new endpoint, found by name again
    sb.hatoba("exec", "peer", "ping", "-c", "1", "-W", "2", "svc")
    sb.hatoba("rm", "-f", "svc", "peer")


def test_a_stop_is_not_undone_by_the_policy(sb: Sandbox) -> None:
    sb.hatoba("run", "-d", "--name", "stopped", "--restart", "always", "hostfs", "sleep", "1d")
    sb.hatoba("stop", "-t", "1", "stopped")
    time.sleep(0.5)  # five first backoffs: a restart would have come by now
    doc = inspect(sb, "stopped")
    assert doc["State"]["Status"] == "exited" and doc["RestartCount"] == 0
    # a kill by the user is a stop too
    sb.hatoba("start", "stopped")
    sb.hatoba("kill", "stopped")
    time.sleep(0.5)
    assert inspect(sb, "stopped")["State"]["Status"] == "exited"
    sb.hatoba("rm", "stopped")


def test_rm_with_a_restart_policy_is_refused(sb: Sandbox) -> None:
    refused = sb.hatoba("run", "--rm", "--restart", "always", "hostfs", "true", check=False)
    assert refused.returncode == 125
    assert "Conflicting options: --restart and --rm" in refused.stderr


def test_policies_at_service_start_after_a_crash_of_the_service(sb: Sandbox) -> None:
    for name, policy in (
        ("al", "always"),
        ("us", "unless-stopped"),
        ("us-stopped", "unless-stopped"),
    ):
        sb.hatoba("run", "-d", "--name", name, "--net", "hc", "--restart", policy, "hostfs",
                  "sleep", "1d")  # fmt: skip
    sb.hatoba("stop", "-t", "1", "us-stopped")
    pids = {name: inspect(sb, name)["State"]["Pid"] for name in ("al", "us")}
    kill_unsupervised(sb)
    # while the service is down, the containers die
    for pid in pids.values():
        os.kill(pid, signal.SIGKILL)
    time.sleep(0.2)
    # the next command starts the service, which starts them again as dockerd would
    running = sb.hatoba("ps", "--format", "{{.Names}}").stdout.split()
    assert {"al", "us"} <= set(running) and "us-stopped" not in running
    for name in ("al", "us"):
        doc = inspect(sb, name)
        assert doc["State"]["Status"] == "running" and doc["State"]["Pid"] != pids[name]
        assert doc["NetworkSettings"]["Networks"]["hc"]["IPAddress"]
    sb.hatoba("exec", "al", "ping", "-c", "1", "-W", "2", "us")
    sb.hatoba("rm", "-f", "al", "us", "us-stopped")
