"""What the containers' mount namespaces are copied from: the fork server's own, without the
service's folder of network namespace handles (a copy of every handle's mount made each start
slower with every running container), made again from the host's once its mount table
changed and the engine was quiet for a second (where the host's mounts are private, as on
this machine, nothing else brings a later mount to it)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.busybox_images import busybox_images
from fixtures.image_sandbox import import_busybox
from fixtures.processes import eventually
from hatoba.images.busybox import RootfsImage
from hatoba.kernel import libc
from hatoba.testing import Sandbox

__all__ = ["busybox_images"]

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def sb(busybox_images: tuple[RootfsImage, RootfsImage]) -> Iterator[Sandbox]:
    with Sandbox() as sb:
        import_busybox(sb, busybox_images)
        sb.hatoba("network", "create", "app")
        for name in ("web", "db"):
            sb.hatoba("run", "-d", "--name", name, "--net", "app", "alpine", "sleep", "infinity")
        yield sb


def test_no_process_but_the_hosts_sees_the_folder_of_every_handle(sb: Sandbox) -> None:
    """Not the fork server, nor the shims, nor the spare waiting for the next container (each
    shim binds its container's handle from a descriptor)."""
    sb.hatoba("run", "-d", "--name", "third", "--net", "container:web", "alpine", "sleep", "60")
    try:
        folder = f" {sb.run_root / 'netns'}/"
        forkserver = _forkserver(sb)
        assert os.readlink(f"/proc/{forkserver}/ns/mnt") != os.readlink("/proc/self/ns/mnt")
        assert eventually(lambda: len(_descendants(forkserver)) >= 4)  # 3 shims, the spare
        seen = {pid: _mounts_under(pid, folder) for pid in (forkserver, *_descendants(forkserver))}
        assert seen == dict.fromkeys(seen, 0)
        assert _mounts_under("self", folder) >= 2  # web's and db's handles, in the host's
        third, web = (sb.hatoba("exec", c, "readlink", "/proc/1/ns/net") for c in ("third", "web"))
        assert third.stdout == web.stdout
    finally:
        sb.hatoba("rm", "-f", "third")


def test_a_mount_the_host_made_later_is_seen_once_the_engine_was_quiet(sb: Sandbox) -> None:
    later = sb.dir / "later"
    later.mkdir()
    forkserver = _forkserver(sb)
    before = os.readlink(f"/proc/{forkserver}/ns/mnt")
    libc.mount("tmpfs", str(later), "tmpfs", 0, "size=1m")
    try:
        (later / "note").write_text("made after the service started\n")
        assert eventually(lambda: os.readlink(f"/proc/{forkserver}/ns/mnt") != before, 10)
        out = sb.hatoba("run", "--rm", "-v", f"{later}:/data", "alpine", "cat", "/data/note")
        assert out.stdout == "made after the service started\n"
        # and the copy made again has no handles either
        assert _mounts_under(str(forkserver), f" {sb.run_root / 'netns'}/") == 0
    finally:
        libc.umount(str(later))


def _forkserver(sb: Sandbox) -> str:
    service = sb.service_pid()
    assert service is not None
    children = Path(f"/proc/{service}/task/{service}/children").read_text().split()
    assert len(children) == 1
    return children[0]


def _descendants(pid: str) -> list[str]:
    found = []
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        found += [child, *_descendants(child)]
    return found


def _mounts_under(pid: str, folder: str) -> int:
    try:
        with open(f"/proc/{pid}/mountinfo", encoding="utf-8") as f:
            return sum(folder in line for line in f)
    except FileNotFoundError:  # ended meanwhile: it sees nothing
        return 0
