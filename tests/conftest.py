"""Suite-wide rules: root-only tests skip without root, and the run must leave nothing of
hatoba's behind (`fixtures/leakcheck.py`)."""

from __future__ import annotations

import os

import pytest

pytest_plugins = ["fixtures.leakcheck"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="needs root")
    for item in items:
        if "root" in item.keywords:
            item.add_marker(skip)
