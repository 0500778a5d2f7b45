"""Fixtures of the kernel adapters' tests on the real kernel."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hatoba.testing import Sandbox


@pytest.fixture
def veths() -> Iterator[Sandbox]:
    """A sandbox whose host namespace has a veth pair a0 / b0 (down, no addresses)."""
    with Sandbox() as sandbox:
        sandbox.sh(["ip", "link", "add", "a0", "type", "veth", "peer", "name", "b0"])
        yield sandbox
