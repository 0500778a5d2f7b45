"""The engine on fake adapters, bootstrapped: (engine, kernel, store, runtime)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fakes import FakeImages, FakeKernel, FakeRuntime, MemoryStore
from hatoba.engine.core import Paths
from hatoba.engine.engine import Engine
from hatoba.engine.state import State


@pytest.fixture
def world(tmp_path: Path):
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 198.51.100.53\n")
    kernel, store, runtime = FakeKernel(), MemoryStore(), FakeRuntime()
    engine = Engine.open(
        Paths(tmp_path / "root", tmp_path / "run", resolv),
        store,
        kernel,
        runtime,
        FakeImages(),
        State(),
    )
    engine.bootstrap()
    return engine, kernel, store, runtime
