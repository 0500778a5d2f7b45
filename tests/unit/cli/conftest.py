from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fakeapi import FakeApi

from hatoba.cli.main import main


@pytest.fixture
def api(tmp_path: Path) -> Iterator[FakeApi]:
    server = FakeApi(tmp_path)
    yield server
    server.close()


@pytest.fixture
def hatoba(api: FakeApi) -> Callable[..., int]:
    """Run the CLI against the fake service; its output is in capfd."""

    def run(*args: str) -> int:
        return main(["-H", f"unix://{api.path}", *args])

    return run
