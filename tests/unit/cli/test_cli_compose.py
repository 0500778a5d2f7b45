"""The compose command's client side without a service: the cached project load, the progress
lines, and the start-up cost it must not add to the other commands."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hatoba.cli.compose import session as compose_session
from hatoba.cli.compose.progress import Progress
from hatoba.compose.project import Options


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HATOBA_COMPOSE_CACHE", str(tmp_path / "cache"))
    project = tmp_path / "proj"
    project.mkdir()
    (project / "compose.yaml").write_text("services:\n  web: {image: 'alpine:${TAG:-1}'}\n")
    return project


def load(folder: Path) -> str:
    return compose_session._load_cached(Options(), str(folder)).service("web").image


def loads_counted(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    from hatoba.compose import project

    calls: list[int] = []
    real = project.load

    def counting(*args: object) -> object:
        calls.append(1)
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(project, "load", counting)
    return calls


def test_cached_load_is_used_until_a_file_or_variable_changes(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TAG", raising=False)
    calls = loads_counted(monkeypatch)
    assert load(folder) == "alpine:1"
    assert load(folder) == "alpine:1"
    assert len(calls) == 1
    monkeypatch.setenv("TAG", "2")  # a variable the file reads
    assert load(folder) == "alpine:2"
    (folder / ".env").write_text("UNRELATED=1\n")  # a file the load looked for
    assert load(folder) == "alpine:2"
    (folder / "compose.yaml").write_text("services:\n  web: {image: 'busybox'}\n")
    assert load(folder) == "busybox"
    assert len(calls) == 4
    assert oct(os.stat(os.environ["HATOBA_COMPOSE_CACHE"]).st_mode & 0o777) == "0o700"


def test_a_cache_folder_others_can_write_is_not_trusted(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = loads_counted(monkeypatch)
    load(folder)
    os.chmod(os.environ["HATOBA_COMPOSE_CACHE"], 0o777)
    load(folder)
    assert len(calls) == 2


def test_plain_progress_lines(capsys: pytest.CaptureFixture[str]) -> None:
    progress = Progress("Running", "plain")
    progress.event("Network p_default", "Creating")
    progress.done("Network p_default", "Created")
    progress.failed("Container p-web-1", "Error")
    assert capsys.readouterr().err == (
        " Network p_default  Creating\n Network p_default  Created\n Container p-web-1  Error\n"
    )
    Progress("Running", "quiet").done("Container p-web-1", "Started")
    assert capsys.readouterr().err == ""


def test_terminal_progress_redraws_the_block(capsys: pytest.CaptureFixture[str]) -> None:
    progress = Progress("Running", "tty")
    progress.event("Container p-web-1", "Starting")
    progress.done("Container p-web-1", "Started")
    err = capsys.readouterr().err
    assert "[+] Running 0/1" in err and "[+] Running 1/1" in err
    assert "\x1b[2A" in err and "✔ Container p-web-1  Started" in err


def test_other_commands_do_not_load_compose_modules() -> None:
    code = (
        "import sys; from hatoba.cli import main; main.main(['--help']);"
        "bad = [m for m in sys.modules if m.startswith(('hatoba.compose', 'yaml', 'jsonschema'))];"
        "print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines()[-1] == "[]"


def test_the_cache_keeps_the_most_recent_loads(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(compose_session, "_KEEP", 2)
    for name in ("a", "b", "c"):
        compose_session._load_cached(Options(project_name=name), str(folder))
    assert len(os.listdir(os.environ["HATOBA_COMPOSE_CACHE"])) == 2
