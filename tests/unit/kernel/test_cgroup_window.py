"""The migration window: the service's moves of itself run while a start holds the window
and a little after, stop by themselves, start again with the next start, and give up for good
on a cgroup the service may not write."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from hatoba.kernel.cgroup_window import MigrationWindow, own_procs_file

PID = str(os.getpid())


def eventually(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 5
    while not condition():
        assert time.monotonic() < deadline, "never happened"
        time.sleep(0.005)


def moves(procs: Path) -> int:
    return procs.read_text().count(PID)


@pytest.fixture
def procs(tmp_path: Path) -> Path:
    """Stands in for the service's cgroup.procs: every move is written there."""
    path = tmp_path / "cgroup.procs"
    path.touch()
    return path


def test_the_service_moves_itself_while_a_start_holds_the_window(procs: Path) -> None:
    window = MigrationWindow(procs, every=0.001, linger=0.01)
    with window.held():
        eventually(lambda: moves(procs) >= 3)
        assert window.is_open
    eventually(lambda: not window.is_open)
    stopped_at = moves(procs)
    time.sleep(0.05)
    assert moves(procs) == stopped_at


def test_the_window_opens_again_for_the_next_start(procs: Path) -> None:
    window = MigrationWindow(procs, every=0.001, linger=0.0)
    with window.held():
        eventually(lambda: moves(procs) >= 1)
    eventually(lambda: not window.is_open)
    procs.write_text("")
    with window.held(), window.held():  # two starts at once share one mover
        eventually(lambda: moves(procs) >= 2)
        assert window.is_open
    eventually(lambda: not window.is_open)


def test_a_cgroup_the_service_may_not_write_is_given_up(tmp_path: Path) -> None:
    window = MigrationWindow(tmp_path, every=0.001)  # a folder: opening it to write fails
    with window.held():
        eventually(lambda: not window.is_open)
    with window.held():
        assert not window.is_open


def test_no_hierarchy_no_mover() -> None:
    window = MigrationWindow(None)
    with window.held():
        assert not window.is_open


def test_the_service_s_own_cgroup_is_found_when_one_is_mounted() -> None:
    procs = own_procs_file()
    if procs is None:
        pytest.skip("no cgroup hierarchy is mounted here")
    assert procs.name == "cgroup.procs"
    assert PID in procs.read_text().split()
