"""What `cp` says of a path in a container: Docker's path forms and Go's file modes."""

from __future__ import annotations

import stat

import pytest

from hatoba.runtime.fshelper import absolute, go_file_mode, go_time
from hatoba.runtime.shim import in_root


@pytest.mark.parametrize(
    ("given", "absolute_path"),
    [
        ("etc", "/etc"),
        ("/etc/../var//log", "/var/log"),
        ("/etc/", "/etc/"),
        ("/etc/.", "/etc/."),
        (".", "/"),
        ("/", "/"),
    ],
)
def test_paths_keep_a_trailing_separator_or_dot(given: str, absolute_path: str) -> None:
    assert absolute(given) == absolute_path


def test_modes_are_gos_file_modes() -> None:
    assert go_file_mode(stat.S_IFREG | 0o644) == 0o644
    assert go_file_mode(stat.S_IFDIR | 0o755) == (1 << 31) | 0o755
    assert go_file_mode(stat.S_IFLNK | 0o777) == (1 << 27) | 0o777
    assert go_file_mode(stat.S_IFCHR | 0o600) == (1 << 26) | (1 << 21) | 0o600
    assert go_file_mode(stat.S_IFDIR | 0o1777) == (1 << 31) | (1 << 20) | 0o777
    assert go_file_mode(stat.S_IFREG | 0o4755) == (1 << 23) | 0o755


def test_times_are_gos_rfc3339() -> None:
    assert go_time(1_700_000_000_000_000_000) == "2023-11-14T22:13:20Z"
    assert go_time(1_700_000_000_120_000_000) == "2023-11-14T22:13:20.12Z"


def test_links_inside_a_root_stay_inside_it(tmp_path) -> None:
    root = tmp_path / "root"
    (root / "real").mkdir(parents=True)
    (root / "abs").symlink_to("/real")
    (root / "up").symlink_to("../../../../real")
    assert in_root(str(root), "/abs/x") == str(root / "real" / "x")
    assert in_root(str(root), "/up") == str(root / "real")
    assert in_root(str(root), "/../../etc") == str(root / "etc")
