from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.busybox_images import busybox_archive, busybox_images
from hatoba.images import ImageStore

__all__ = ["busybox_archive", "busybox_images"]


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    store = ImageStore(tmp_path / "root")
    store.recover()
    return store
