"""Every bad archive `hatoba import` or `hatoba load` is given is refused with a clear error,
and leaves the image store exactly as it was, with nothing in its staging folder."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from fixtures.bad_archives import BadArchive, bad_archives
from fixtures.busybox_images import busybox_images
from fixtures.image_sandbox import import_busybox, staging_files, store_state
from hatoba.images.busybox import RootfsImage
from hatoba.testing import Sandbox

__all__ = ["busybox_images"]

pytestmark = pytest.mark.root

CASES = bad_archives()


@pytest.fixture(scope="module")
def sb(busybox_images: tuple[RootfsImage, RootfsImage]) -> Iterator[Sandbox]:
    with Sandbox() as sb:
        import_busybox(sb, busybox_images[:1])
        yield sb


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_refused_and_nothing_left(sb: Sandbox, case: BadArchive) -> None:
    archive = sb.dir / "bad.tar"
    archive.write_bytes(case.data)
    before = store_state(sb)
    listed = sb.hatoba("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}").stdout
    if case.verb == "import":
        result = sb.hatoba("import", str(archive), "bad:1", check=False)
        # the service refused the request: docker's prefix, as for any daemon error
        prefix = "Error response from daemon: "
    else:
        result = sb.hatoba("load", "-i", str(archive), check=False)
        # docker prints a load error from the progress stream as it is
        prefix = ""
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith(prefix)
    assert re.search(case.message, result.stderr), result.stderr
    assert store_state(sb) == before
    assert staging_files(sb) == []
    assert sb.hatoba("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}").stdout == listed
    archive.unlink()
