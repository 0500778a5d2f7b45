"""Containers from images through the CLI: the image's Cmd, Entrypoint, Env and WorkingDir
with `run`'s overrides, a private writable layer per container, and nothing left after `rm`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.busybox_images import busybox_images
from fixtures.image_sandbox import import_busybox, leftovers, mounts_naming, run_output
from hatoba.images.busybox import RootfsImage
from hatoba.testing import Sandbox

__all__ = ["busybox_images"]

pytestmark = pytest.mark.root

SHOW = "echo $GREETING $PWD"


@pytest.fixture(scope="module")
def sb(busybox_images: tuple[RootfsImage, RootfsImage]) -> Iterator[Sandbox]:
    with Sandbox() as sb:
        import_busybox(sb, busybox_images)
        sb.hatoba(
            "import",
            *("-c", 'ENTRYPOINT ["/bin/echo","entry"]'),
            *("-c", 'CMD ["default","args"]'),
            *("-c", "ENV GREETING=hello OTHER=kept"),
            *("-c", "WORKDIR /tmp"),
            str(sb.dir / "alpine-latest.tar"),
            "configured:1",
        )
        yield sb


@pytest.mark.parametrize(
    ("args", "output"),
    [
        (["configured:1"], "entry default args"),
        (["configured:1", "mine"], "entry mine"),
        (["--entrypoint", "/bin/sh", "configured:1", "-c", SHOW], "hello /tmp"),
        (["-e", "GREETING=bye", "--entrypoint", "/bin/sh", "configured:1", "-c", SHOW], "bye /tmp"),
        (["-w", "/etc", "--entrypoint", "/bin/sh", "configured:1", "-c", SHOW], "hello /etc"),
        (["--entrypoint", "/bin/sh", "configured:1", "-c", "echo $OTHER"], "kept"),
        # a new entrypoint drops the image's CMD
        (["--entrypoint", "/bin/echo", "configured:1"], ""),
        (["alpine", "sh", "-c", "echo $PWD; cat /etc/hostname | wc -c"], "/\n13"),
    ],
)
def test_image_config_and_overrides(sb: Sandbox, args: list[str], output: str) -> None:
    assert run_output(sb, *args) == output + "\n"


def test_inspect_shows_the_image_and_what_was_filled_in(sb: Sandbox) -> None:
    cid = sb.hatoba("create", "httpd").stdout.strip()
    fmt = "{{.Image}}|{{.Config.Image}}|{{json .Config.Cmd}}"
    image = sb.hatoba("image", "inspect", "--format", "{{.Id}}", "httpd").stdout.strip()
    assert sb.hatoba("inspect", "--format", fmt, cid).stdout.strip() == (
        f'{image}|httpd|["/bin/busybox","httpd","-f","-v","-p","80","-h","/www"]'
    )
    sb.hatoba("rm", cid)


def test_no_command_and_unknown_image(sb: Sandbox) -> None:
    sb.hatoba("import", str(sb.dir / "alpine-latest.tar"), "nocmd:1")
    no_cmd = sb.hatoba("create", "nocmd:1", check=False)
    assert no_cmd.returncode != 0
    assert "No command specified" in no_cmd.stderr
    sb.hatoba("rmi", "nocmd:1")
    unknown = sb.hatoba("create", "nope:1", "true", check=False)
    assert unknown.returncode != 0
    assert "Error response from daemon: No such image: nope:1" in unknown.stderr


def test_containers_of_one_image_do_not_see_each_others_writes(sb: Sandbox) -> None:
    first = sb.hatoba("run", "-d", "alpine", "sleep", "infinity").stdout.strip()
    second = sb.hatoba("run", "-d", "alpine", "sleep", "infinity").stdout.strip()
    layer = next((sb.root / "images" / "layers").iterdir()) / "diff"
    before = sorted(p.name for p in (layer / "bin").iterdir())
    sb.hatoba("exec", first, "sh", "-c", "echo mine > /tmp/f && rm /bin/ls && echo x >> /etc/group")
    assert sb.hatoba("exec", first, "cat", "/tmp/f").stdout == "mine\n"
    assert sb.hatoba("exec", first, "ls", check=False).returncode != 0
    missing = sb.hatoba("exec", second, "cat", "/tmp/f", check=False)
    assert missing.returncode == 1 and "No such file or directory" in missing.stderr
    assert sb.hatoba("exec", second, "ls", "/bin/ls").stdout == "/bin/ls\n"
    assert sb.hatoba("exec", second, "tail", "-n1", "/etc/group").stdout == "nogroup:x:65534:\n"
    # the shared layer itself never changes
    assert sorted(p.name for p in (layer / "bin").iterdir()) == before
    assert not (layer / "tmp" / "f").exists()
    sb.hatoba("rm", "-f", first, second)


def test_rm_leaves_nothing_behind(sb: Sandbox) -> None:
    stopped = sb.hatoba("run", "-d", "alpine", "sh", "-c", "echo x > /written").stdout.strip()
    running = sb.hatoba("run", "-d", "alpine", "sleep", "infinity").stdout.strip()
    assert sb.hatoba("wait", stopped).stdout.strip() == "0"
    upper = sb.root / "containers" / stopped / "upper"
    assert (upper / "written").read_text() == "x\n"  # the container's layer, kept until rm
    # the overlay exists in the running container's shim only, never in the machine's table
    mounts = mounts_naming(running)
    assert any(f"upperdir={sb.root}/containers/{running}/upper" in m for m in mounts)
    machine = Path("/proc/self/mountinfo").read_text().splitlines()
    assert not [line for line in machine if " - overlay " in line and running in line]
    sb.hatoba("rm", stopped)
    sb.hatoba("rm", "-f", running)
    assert leftovers(sb, stopped) == []
    assert leftovers(sb, running) == []
