"""scripts/install.sh, the first step of both quick-start commands, with stand-in tools.

`make demo` runs it without `--dev` and `make test` with it; both must succeed on a machine
where everything is already installed, and install the package with the right extras.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


def _stub(path: Path, body: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "scripts").mkdir()
    shutil.copy(REPO / "scripts" / "install.sh", tmp_path / "scripts" / "install.sh")
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    # every Debian package counts as installed; pip and compileall record their arguments
    _stub(tmp_path / "bin" / "dpkg-query", "echo 'install ok installed'\n")
    _stub(tmp_path / ".venv" / "bin" / "pip", f'echo "$@" >> {tmp_path}/pip.log\n')
    _stub(tmp_path / ".venv" / "bin" / "python", "exit 0\n")
    # gcc records its arguments and makes its output (the file after -o)
    _stub(
        tmp_path / "bin" / "gcc",
        f'echo "$@" >> {tmp_path}/gcc.log\n'
        'while [ "$1" != -o ]; do shift; done; touch "$2"; chmod +x "$2"\n',
    )
    (tmp_path / "src" / "hatoba" / "runtime").mkdir(parents=True)
    (tmp_path / "src" / "hatoba" / "runtime" / "monitor.c").write_text("int main(void);\n")
    return tmp_path


def _install(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{project / 'bin'}:{os.environ['PATH']}"}
    return subprocess.run(
        ["bash", str(project / "scripts" / "install.sh"), *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def test_runtime_install_succeeds_and_installs_the_package(project: Path) -> None:
    result = _install(project)
    assert result.returncode == 0, result.stderr
    assert (project / ".venv" / ".installed").exists()
    assert (project / "pip.log").read_text().split()[-1] == "."


def test_dev_install_adds_the_extras(project: Path) -> None:
    result = _install(project, "--dev")
    assert result.returncode == 0, result.stderr
    assert (project / ".venv" / ".installed-dev").exists()
    assert (project / "pip.log").read_text().split()[-1] == ".[dev]"


def test_second_run_installs_nothing(project: Path) -> None:
    assert _install(project).returncode == 0
    (project / "pip.log").unlink()
    assert _install(project).returncode == 0
    assert not (project / "pip.log").exists()


def test_the_monitor_is_built_once_and_again_when_its_source_changed(project: Path) -> None:
    monitor = project / ".venv" / "libexec" / "hatoba-monitor"
    assert _install(project).returncode == 0
    assert os.access(monitor, os.X_OK)
    assert "src/hatoba/runtime/monitor.c" in (project / "gcc.log").read_text()
    (project / "gcc.log").unlink()
    assert _install(project).returncode == 0
    assert not (project / "gcc.log").exists()
    source = project / "src" / "hatoba" / "runtime" / "monitor.c"
    later = monitor.stat().st_mtime + 10
    os.utime(source, (later, later))
    assert _install(project).returncode == 0
    assert (project / "gcc.log").exists()
