"""Images through the CLI: import, images, inspect, tag, save/load round trips between roots,
and rmi with Docker's rules while containers use the image."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator

import pytest

from fixtures.busybox_images import busybox_images
from fixtures.image_sandbox import error_line, image_id, import_busybox, run_output, store_state
from hatoba.images.busybox import RootfsImage
from hatoba.testing import Sandbox

__all__ = ["busybox_images"]

pytestmark = pytest.mark.root

Images = tuple[RootfsImage, RootfsImage]


@pytest.fixture(scope="module")
def world(busybox_images: Images) -> Iterator[tuple[Sandbox, dict[str, str]]]:
    with Sandbox() as sb:
        yield sb, import_busybox(sb, busybox_images)


def variant(rootfs: bytes, marker: str) -> bytes:
    """The root file system plus /marker: an image with a layer of its own."""
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(rootfs)) as src, tarfile.open(fileobj=out, mode="w") as tf:
        for member in src:
            tf.addfile(member, src.extractfile(member) if member.isreg() else None)
        info = tarfile.TarInfo("marker")
        info.size = len(marker)
        tf.addfile(info, io.BytesIO(marker.encode()))
    return out.getvalue()


def test_import_prints_the_id_and_images_lists_it(world: tuple[Sandbox, dict[str, str]]) -> None:
    sb, ids = world
    assert all(i.startswith("sha256:") and len(i) == 71 for i in ids.values())
    lines = sb.hatoba("images").stdout.splitlines()
    assert lines[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    rows = {tuple(line.split()[:3]) for line in lines[1:]}
    assert ("alpine", "latest", ids["alpine:latest"][7:19]) in rows
    assert ("httpd", "latest", ids["httpd:latest"][7:19]) in rows
    assert sb.hatoba("images", "-q", "--no-trunc", "httpd").stdout == ids["httpd:latest"] + "\n"
    info = sb.hatoba("info").stdout
    assert f"Images: {len(lines) - 1}" in info


def test_image_inspect_shows_the_changes(world: tuple[Sandbox, dict[str, str]]) -> None:
    sb, ids = world
    fmt = "{{json .Config.Cmd}} {{json .Config.ExposedPorts}} {{.Id}} {{.Os}}"
    out = sb.hatoba("image", "inspect", "--format", fmt, "httpd").stdout.strip()
    assert out == (
        '["/bin/busybox","httpd","-f","-v","-p","80","-h","/www"] {"80/tcp":{}} '
        f"{ids['httpd:latest']} linux"
    )


def test_import_from_stdin_with_changes_and_message(
    world: tuple[Sandbox, dict[str, str]], busybox_images: Images
) -> None:
    sb, _ = world
    tarball = sb.dir / "alpine-latest.tar"
    hatoba = " ".join(sb.hatoba_argv)
    sb.sh(
        [
            "sh",
            "-c",
            f"{hatoba} import -m 'from stdin' -c 'ENV A=1 B=2' -c 'WORKDIR /tmp' - stdin:1"
            f" < {tarball}",
        ]
    )
    fmt = "{{.Comment}}|{{json .Config.Env}}|{{.Config.WorkingDir}}|{{json .RepoTags}}"
    assert sb.hatoba("image", "inspect", "--format", fmt, "stdin:1").stdout.strip() == (
        'from stdin|["A=1","B=2"]|/tmp|["stdin:1"]'
    )
    assert run_output(sb, "stdin:1", "sh", "-c", "echo $A $B $PWD") == "1 2 /tmp\n"
    sb.hatoba("rmi", "stdin:1")


def test_tag_and_untag(world: tuple[Sandbox, dict[str, str]]) -> None:
    sb, ids = world
    sb.hatoba("tag", "alpine", "example.com:5000/team/tools:1")
    assert image_id(sb, "example.com:5000/team/tools:1") == ids["alpine:latest"]
    out = sb.hatoba("rmi", "example.com:5000/team/tools:1").stdout
    assert out == "Untagged: example.com:5000/team/tools:1\n"
    assert image_id(sb, "alpine") == ids["alpine:latest"]
    missing = sb.hatoba("tag", "nope", "x:1", check=False)
    assert missing.returncode == 1
    assert error_line(missing) == "Error response from daemon: No such image: nope:latest"


def test_save_and_load_into_a_fresh_root_keep_the_ids(
    world: tuple[Sandbox, dict[str, str]],
) -> None:
    sb, ids = world
    archive = sb.dir / "both.tar"
    sb.hatoba("save", "-o", str(archive), "alpine", "httpd:latest")
    with Sandbox() as fresh:
        hatoba = " ".join(fresh.hatoba_argv)
        loaded = fresh.sh(["sh", "-c", f"{hatoba} load < {archive}"]).stdout
        assert loaded == "Loaded image: alpine:latest\nLoaded image: httpd:latest\n"
        for reference, expected in ids.items():
            assert image_id(fresh, reference) == expected
        # the archive a loaded image saves to is byte for byte the one it came from
        again = fresh.dir / "again.tar"
        fresh.hatoba("save", "-o", str(again), "alpine", "httpd:latest")
        assert again.read_bytes() == archive.read_bytes()
        # and the loaded image runs
        assert run_output(fresh, "alpine", "cat", "/etc/passwd").startswith("root:x:0:0:")
        # loading the same archive again adds no layer or config (only tag times change)
        before = store_state(fresh)
        assert fresh.hatoba("load", "-i", str(archive)).stdout == loaded
        after = store_state(fresh)
        assert {**after, "index.json": None} == {**before, "index.json": None}


def test_rmi_refuses_while_containers_use_the_image(
    world: tuple[Sandbox, dict[str, str]], busybox_images: Images
) -> None:
    sb, _ = world
    tarball = sb.dir / "victim.tar"
    tarball.write_bytes(variant(busybox_images[0].rootfs, "victim"))
    victim = sb.hatoba("import", "-c", 'CMD ["/bin/sh"]', str(tarball), "victim").stdout.strip()
    short = victim[7:19]
    stopped = sb.hatoba("create", "--name", "victim-user", "victim", "cat", "/marker").stdout
    stopped = stopped.strip()

    by_name = sb.hatoba("rmi", "victim", check=False)
    assert by_name.returncode == 1
    assert error_line(by_name) == (
        'Error response from daemon: conflict: unable to remove repository reference "victim"'
        f" (must force) - container {stopped[:12]} is using its referenced image {short}"
    )
    by_id = sb.hatoba("rmi", short, check=False)
    assert error_line(by_id) == (
        f"Error response from daemon: conflict: unable to delete {short} (must be forced)"
        f" - image is being used by stopped container {stopped[:12]}"
    )

    running = sb.hatoba("run", "-d", "victim", "sleep", "infinity").stdout.strip()
    forced = sb.hatoba("rmi", "-f", short, check=False)
    assert forced.returncode == 1
    assert error_line(forced) == (
        f"Error response from daemon: conflict: unable to delete {short} (cannot be forced)"
        f" - image is being used by running container {running[:12]}"
    )
    sb.hatoba("rm", "-f", running)

    # with force, the image goes; its stopped container still starts from it
    out = sb.hatoba("rmi", "-f", "victim").stdout
    assert out == f"Untagged: victim:latest\nDeleted: {victim}\n"
    assert "victim" not in sb.hatoba("images").stdout
    sb.hatoba("start", stopped)
    assert sb.hatoba("wait", stopped).stdout.strip() == "0"
    assert sb.hatoba("logs", stopped).stdout == "victim"
    # and its last container takes the image's own layer with it
    layers = {p.name for p in (sb.root / "images" / "layers").iterdir()}
    sb.hatoba("rm", stopped)
    after = {p.name for p in (sb.root / "images" / "layers").iterdir()}
    assert len(layers - after) == 1
    assert victim[7:] not in {p.name for p in (sb.root / "images" / "configs").iterdir()}


def test_rmi_of_an_unknown_image(world: tuple[Sandbox, dict[str, str]]) -> None:
    sb, _ = world
    missing = sb.hatoba("rmi", "nope:1", check=False)
    assert missing.returncode == 1
    assert error_line(missing) == "Error: No such image: nope:1"


def test_an_archive_beyond_the_in_memory_body_limit(world: tuple[Sandbox, dict[str, str]]) -> None:
    """Image bodies go to a temporary file: 80 MiB (beyond the 64 MiB cap of other requests)
    import and save without the service holding them in memory."""
    sb, _ = world
    size = 80 << 20
    tarball = sb.dir / "big.tar"
    with tarfile.open(tarball, "w") as tf:
        info = tarfile.TarInfo("blob")
        info.size = size
        with open("/dev/zero", "rb") as zeros:
            tf.addfile(info, zeros)
    pid = sb.service_pid()
    assert pid is not None
    before = peak_rss(pid)
    sb.hatoba("import", str(tarball), "big:1")
    saved = sb.dir / "big-saved.tar"
    sb.hatoba("save", "-o", str(saved), "big:1")
    assert saved.stat().st_size > size
    assert peak_rss(pid) - before < 32 << 20
    sb.hatoba("rmi", "big:1")
    tarball.unlink()
    saved.unlink()


def peak_rss(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        line = next(line for line in f if line.startswith("VmHWM:"))
    return int(line.split()[1]) << 10
