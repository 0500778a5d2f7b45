"""The suite's leak check (fixtures/leakcheck.py) judges only what its own run made."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.root
TESTS = Path(__file__).resolve().parents[1]


def _inner_run(tmp_path: Path, body: str) -> subprocess.CompletedProcess[str]:
    """A pytest run of one test file with the leak check, as `make test` runs it."""
    (tmp_path / "test_inner.py").write_text(body)
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "fixtures.leakcheck",
            "-p",
            "no:cacheprovider",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_work_of_others_on_the_machine_does_not_fail_the_run(tmp_path: Path) -> None:
    # another user's namespace appears and stays while the run goes on
    other = f"someone-else-{uuid.uuid4().hex[:8]}"
    body = f"""
import subprocess
def test_other_work_appears():
    subprocess.run(["ip", "netns", "add", "{other}"], check=True)
"""
    try:
        result = _inner_run(tmp_path, body)
    finally:
        subprocess.run(["ip", "netns", "delete", other], check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_leftover_sandbox_folder_fails_the_run(tmp_path: Path) -> None:
    body = """
import tempfile
def test_leaks_a_folder():
    tempfile.mkdtemp(prefix="hatoba-sbx-")
"""
    result = _inner_run(tmp_path, body)
    assert result.returncode != 0
    assert "temporary folders" in result.stdout and "hatoba-sbx-" in result.stdout


def test_a_leftover_hatoba_namespace_fails_the_run(tmp_path: Path) -> None:
    ns = f"hatoba-leakcheck-{uuid.uuid4().hex[:8]}"
    body = f"""
import subprocess
def test_leaks_a_namespace():
    subprocess.run(["ip", "netns", "add", "{ns}"], check=True)
"""
    try:
        result = _inner_run(tmp_path, body)
    finally:
        subprocess.run(["ip", "netns", "delete", ns], check=False)
    assert result.returncode != 0
    assert ns in result.stdout
