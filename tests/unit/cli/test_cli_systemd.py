"""`hatoba service install|uninstall`: the systemd unit, written into a folder of the test (no
systemctl is called)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hatoba import keeper
from hatoba.cli.main import main


def unit_settings(text: str) -> dict[str, str]:
    settings = {}
    for line in text.splitlines():
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            settings[key] = value
    return settings


def test_install_writes_a_unit_that_restarts_the_service(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    units = tmp_path / "units"
    root, run_root = tmp_path / "state 100%", tmp_path / "run$x"
    argv = ["--root", str(root), "--run-root", str(run_root)]
    assert main(["service", "install", *argv, "--unit-dir", str(units)]) == 0
    unit = units / "hatoba.service"
    assert capsys.readouterr().out == (
        f"Wrote {unit}.\nStart it now and at every boot with:\n"
        "  systemctl daemon-reload && systemctl enable --now hatoba\n"
    )
    text = unit.read_text()
    settings = unit_settings(text)
    assert settings["ExecStart"] == (
        f'{sys.executable} -m hatoba --root "{tmp_path}/state 100%%" '
        f"--run-root {tmp_path}/run$$x service"
    )
    assert settings["Type"] == "notify"  # the service sends READY=1 when its socket serves
    assert settings["Restart"] == "always"
    assert settings["KillMode"] == "process"  # containers outlive a restart
    assert settings["RestartPreventExitStatus"] == str(keeper.ALREADY_RUNNING)
    assert settings["WantedBy"] == "multi-user.target"
    if shutil.which("systemd-analyze"):
        verified = subprocess.run(
            ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, check=False
        )
        assert (verified.returncode, verified.stderr) == (0, "")


def test_install_takes_the_global_roots_and_overwrites_its_own_unit(tmp_path: Path) -> None:
    units = tmp_path / "units"
    for run_root in ("/run/one", "/run/two"):
        args = ["--root", "/var/lib/h", "--run-root", run_root, "service", "install"]
        assert main([*args, "--unit-dir", str(units)]) == 0
    settings = unit_settings((units / "hatoba.service").read_text())
    assert settings["ExecStart"].endswith(" --root /var/lib/h --run-root /run/two service")


def test_uninstall_removes_the_unit_and_its_boot_links(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    units = tmp_path / "units"
    assert main(["service", "install", "--unit-dir", str(units)]) == 0
    (units / "multi-user.target.wants").mkdir()
    (units / "multi-user.target.wants" / "hatoba.service").symlink_to(units / "hatoba.service")
    (units / "other.service").write_text("[Service]\nExecStart=/bin/true\n")
    capsys.readouterr()
    assert main(["service", "uninstall", "--unit-dir", str(units)]) == 0
    assert capsys.readouterr().out == (
        f"Removed {units}/hatoba.service.\nIf it runs, stop it and forget the unit with:\n"
        "  systemctl stop hatoba && systemctl daemon-reload\n"
    )
    assert sorted(str(p.relative_to(units)) for p in units.rglob("*")) == [
        "multi-user.target.wants",
        "other.service",
    ]
    # already gone is fine
    assert main(["service", "uninstall", "--unit-dir", str(units)]) == 0
    assert capsys.readouterr().out == f"Nothing to remove: {units}/hatoba.service does not exist.\n"


@pytest.mark.parametrize("verb", ["install", "uninstall"])
def test_a_unit_hatoba_did_not_write_is_left_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], verb: str
) -> None:
    foreign = tmp_path / "hatoba.service"
    foreign.write_text("[Service]\nExecStart=/usr/local/bin/my-hatoba\n")
    assert main(["service", verb, "--unit-dir", str(tmp_path)]) == 1
    assert capsys.readouterr().err == (
        f"hatoba: {foreign} was not written by hatoba; leaving it alone\n"
    )
    assert foreign.read_text() == "[Service]\nExecStart=/usr/local/bin/my-hatoba\n"
