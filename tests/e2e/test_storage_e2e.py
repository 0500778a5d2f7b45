"""Storage through the CLI: named and anonymous volumes (filled from the image at first use),
binds, tmpfs mounts, --volumes-from and rm -v, each checked in the container's mount table
and on disk; Docker's errors for bad mounts with nothing made; hatoba's roots out of reach of
binds; cp both ways, diff, export, commit; prune and df.

One sandbox for the module; each test cleans up what it made.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fixtures.busybox_images import busybox_images
from fixtures.image_sandbox import error_line, import_busybox, tar_names
from hatoba.images.busybox import RootfsImage
from hatoba.testing import Sandbox

__all__ = ["busybox_images"]

pytestmark = pytest.mark.root

SEED_UID = 1000
SEED_TEXT = "seeded by the image\n"


def seeded_image(alpine: RootfsImage) -> RootfsImage:
    """alpine with /seed/hello (owner 1000, folder mode 0750) and `VOLUME /seed`."""
    out = io.BytesIO()
    with (
        tarfile.open(fileobj=io.BytesIO(alpine.rootfs)) as base,
        tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tf,
    ):
        for member in base.getmembers():
            tf.addfile(member, base.extractfile(member) if member.isreg() else None)
        folder = tarfile.TarInfo("seed")
        folder.type, folder.mode, folder.uid, folder.gid = tarfile.DIRTYPE, 0o750, SEED_UID, 0
        tf.addfile(folder)
        hello = tarfile.TarInfo("seed/hello")
        hello.size, hello.uid = len(SEED_TEXT), SEED_UID
        tf.addfile(hello, io.BytesIO(SEED_TEXT.encode()))
    return RootfsImage("seeded:latest", out.getvalue(), (*alpine.changes, "VOLUME /seed"))


@pytest.fixture(scope="module")
def sb(busybox_images: tuple[RootfsImage, RootfsImage]) -> Iterator[Sandbox]:
    with Sandbox() as sandbox:
        import_busybox(sandbox, (*busybox_images, seeded_image(busybox_images[0])))
        (sandbox.dir / "hostdir").mkdir()
        (sandbox.dir / "hostdir" / "greeting").write_text("hello from the host\n")
        yield sandbox


def inspect(sb: Sandbox, name: str) -> Any:
    return json.loads(sb.hatoba("inspect", name).stdout)[0]


def mountinfo(pid: int) -> dict[str, list[str]]:
    """The container's mount table (read on the host): mount point -> its fields."""
    with open(f"/proc/{pid}/mountinfo", encoding="utf-8") as f:
        return {line.split()[4]: line.split() for line in f}


def volume_folders(sb: Sandbox) -> set[str]:
    return set(os.listdir(sb.root / "volumes"))


def exec_in(sb: Sandbox, name: str, script: str, check: bool = True) -> str:
    done = sb.hatoba("exec", name, "sh", "-c", script, check=check)
    return done.stdout + done.stderr


def test_volumes_binds_and_tmpfs_are_mounted_as_asked(sb: Sandbox) -> None:
    hostdir = sb.dir / "hostdir"
    assert sb.hatoba("volume", "create", "--label", "tier=db", "data").stdout == "data\n"
    cid = sb.hatoba(
        "run",
        "-d",
        "--name",
        "st1",
        "-v",
        "data:/data",
        "-v",
        f"{hostdir}:/host:ro",
        "--tmpfs",
        "/scratch:size=1m",
        "--mount",
        "type=tmpfs,dst=/cache,tmpfs-size=2m",
        "seeded",
        "sleep",
        "300",
    ).stdout.strip()
    info = inspect(sb, cid)
    table = mountinfo(info["State"]["Pid"])
    # the volume is its folder under the state root, the bind the host's, read-only
    assert table["/data"][3].endswith("/root/volumes/data/_data")
    assert table["/host"][3] == str(hostdir) and table["/host"][5].startswith("ro,")
    assert "tmpfs" in table["/scratch"] and "size=1024k" in table["/scratch"][-1]
    assert "size=2048k" in table["/cache"][-1]
    assert "Read-only file system" in exec_in(sb, "st1", "touch /host/x", check=False)
    exec_in(sb, "st1", "echo kept > /data/file; cat /host/greeting > /scratch/g")
    assert (sb.root / "volumes" / "data" / "_data" / "file").read_text() == "kept\n"
    # the image's VOLUME: an anonymous volume filled from the image, owner and mode too
    mounts = {m["Destination"]: m for m in info["Mounts"]}
    seed = mounts["/seed"]
    assert seed["Type"] == "volume" and len(seed["Name"]) == 64 and seed["Mode"] == ""
    seed_folder = Path(seed["Source"])
    assert (seed_folder / "hello").read_text() == SEED_TEXT
    assert seed_folder.stat().st_uid == SEED_UID and seed_folder.stat().st_mode & 0o777 == 0o750
    assert mounts["/data"] == {
        "Type": "volume",
        "Name": "data",
        "Source": str(sb.root / "volumes/data/_data"),
        "Destination": "/data",
        "Driver": "local",
        "Mode": "z",
        "RW": True,
        "Propagation": "",
    }
    assert mounts["/host"]["Mode"] == "ro" and mounts["/host"]["Propagation"] == "rprivate"
    assert mounts["/cache"]["Type"] == "tmpfs" and "/scratch" not in mounts
    assert info["HostConfig"]["Tmpfs"] == {"/scratch": "size=1m"}
    assert info["Config"]["Volumes"] == {"/seed": {}}
    # in use: Docker's conflict; then rm -v takes the anonymous volume only
    refused = sb.hatoba("volume", "rm", "data", check=False)
    assert f"remove data: volume is in use - [{cid}]" in refused.stderr
    sb.hatoba("rm", "-f", "-v", "st1")
    assert volume_folders(sb) == {"data"}
    assert sb.hatoba("volume", "ls", "-q").stdout == "data\n"
    sb.hatoba("volume", "rm", "data")
    assert volume_folders(sb) == set()


def test_volumes_from_and_a_named_volume_made_by_run(sb: Sandbox) -> None:
    sb.hatoba("run", "-d", "--name", "st2", "-v", "shared:/shared", "alpine", "sleep", "300")
    exec_in(sb, "st2", "echo one > /shared/a")
    out = sb.hatoba(
        "run",
        "--rm",
        "--volumes-from",
        "st2:ro",
        "alpine",
        "sh",
        "-c",
        "cat /shared/a; touch /shared/b",
        check=False,
    )
    assert out.stdout == "one\n" and "Read-only file system" in out.stderr
    sb.hatoba("rm", "-f", "-v", "st2")  # a named volume stays
    assert json.loads(sb.hatoba("volume", "inspect", "shared").stdout)[0]["Labels"] is None
    sb.hatoba("volume", "rm", "shared")


def test_run_rm_and_a_failed_run_leave_no_anonymous_volume(sb: Sandbox) -> None:
    sb.hatoba("run", "--rm", "-v", "/anon", "seeded", "true")
    failed = sb.hatoba("run", "-d", "-v", "/anon", "alpine", "/nonexistent", check=False)
    assert failed.returncode == 127
    assert sb.hatoba("ps", "-aq").stdout == ""
    assert sb.hatoba("volume", "ls", "-q").stdout == "" and volume_folders(sb) == set()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-v", "a@b:/x"], 'create a@b: "a@b" includes invalid characters for a local volume'),
        (["-v", "/srv:x"], "invalid volume specification: '/srv:x': invalid mount config"),
        (["-v", "/srv:/x:rx"], "invalid mode: rx"),
        (["-v", "/srv:/x", "-v", "vv:/x"], "Duplicate mount point: /x"),
        (["--mount", "type=bind,src=/nonexistent,dst=/x"], "bind source path does not exist"),
        (["--mount", "type=bind,src=/srv,dst=/x,bind-propagation=rshared"], "propagation"),
        (["--tmpfs", "/t:bogus"], 'Invalid tmpfs option ["bogus"]'),
        (["--tmpfs", "t"], "invalid mount path: 't' mount path must be absolute"),
        (["--volumes-from", "ghost"], "No such container: ghost"),
        (["-v", "keep:/k", "--mount", "type=volume,dst=/x,ro"], "must not set ReadOnly mode"),
    ],
)
def test_bad_mounts_are_refused_and_make_nothing(
    sb: Sandbox, args: list[str], message: str
) -> None:
    done = sb.hatoba("run", "-d", *args, "alpine", "true", check=False)
    assert done.returncode == 125 and message in error_line(done), done.stderr
    assert sb.hatoba("ps", "-aq").stdout == ""
    assert sb.hatoba("volume", "ls", "-q").stdout == "" and volume_folders(sb) == set()


def test_hatobas_roots_are_out_of_reach_of_binds(sb: Sandbox) -> None:
    for source in (sb.root, sb.run_root / "hatoba.sock", sb.root / "volumes"):
        done = sb.hatoba("run", "--rm", "-v", f"{source}:/x", "alpine", "true", check=False)
        assert f"bind source path {source} is inside hatoba's root" in error_line(done)
    # through a link too, resolved at create and again at every start
    link = sb.dir / "sneaky"
    link.symlink_to(sb.root)
    done = sb.hatoba("run", "--rm", "-v", f"{link}:/x", "alpine", "true", check=False)
    assert "is inside hatoba's root" in error_line(done)
    link.unlink()
    link.mkdir()
    sb.hatoba("create", "--name", "st3", "-v", f"{link}:/x", "alpine", "ls", "/x")
    link.rmdir()
    link.symlink_to(sb.run_root)
    started = sb.hatoba("start", "st3", check=False)
    assert "is inside hatoba's root" in started.stderr
    sb.hatoba("rm", "st3")
    link.unlink()
    # a bind that holds the roots (the host's /) sees them masked
    seen = sb.hatoba(
        "run",
        "--rm",
        "-v",
        "/:/host",
        "alpine",
        "ls",
        "-A",
        f"/host{sb.root}",
        f"/host{sb.run_root}",
    ).stdout
    assert "hatoba.sock" not in seen and "hatoba.db" not in seen and "volumes" not in seen
    assert sb.hatoba("ps", "-aq").stdout == ""


def container_events(sb: Sandbox, container: str, since: float) -> list[str]:
    """The actions of the container's events from `since` until now."""
    return sb.hatoba(
        "events", "--since", str(since), "--until", str(time.time()),
        "--filter", f"container={container}", "--format", "{{.Action}}",
    ).stdout.splitlines()  # fmt: skip


def test_cp_diff_export_and_commit(sb: Sandbox) -> None:
    sb.hatoba(
        "run",
        "-d",
        "--name",
        "st4",
        "-v",
        "cpvol:/vol",
        "alpine",
        "sh",
        "-c",
        "echo made > /tmp/made; rm /etc/group; exec sleep 300",
    )
    local = sb.dir / "local"
    local.mkdir()
    (local / "a.txt").write_text("A\n")
    sb.hatoba("cp", str(local), "st4:/tmp/")
    sb.hatoba("cp", str(local / "a.txt"), "st4:/vol/renamed.txt")
    assert exec_in(sb, "st4", "cat /tmp/local/a.txt /vol/renamed.txt") == "A\nA\n"
    assert (sb.root / "volumes" / "cpvol" / "_data" / "renamed.txt").exists()
    sb.hatoba("cp", "st4:/tmp/made", str(sb.dir / "made.out"))
    assert (sb.dir / "made.out").read_text() == "made\n"
    sb.hatoba("cp", "st4:/tmp/local", str(sb.dir / "copied"))
    assert (sb.dir / "copied" / "a.txt").read_text() == "A\n"
    missing = sb.hatoba("cp", "st4:/nonexistent", str(sb.dir), check=False)
    assert "No such container:path: st4:/nonexistent" in missing.stderr
    diff = sb.hatoba("diff", "st4").stdout.splitlines()
    for line in ("C /etc", "D /etc/group", "C /tmp", "A /tmp/made", "A /tmp/local/a.txt"):
        assert line in diff
    assert not any(line.endswith(("/etc/hosts", "/etc/resolv.conf")) for line in diff)
    exported = subprocess.run(
        ["nsenter", f"--net={sb.host}", *sb.hatoba_argv, "export", "st4"],
        capture_output=True,
        env=sb.env,
        check=True,
    ).stdout
    names = tar_names(exported)
    assert "tmp/made" in names and "bin/busybox" in names
    assert "etc/group" not in names and "vol/renamed.txt" not in names  # no volumes
    since = time.time()
    image = sb.hatoba("commit", "-c", "ENV FROM_COMMIT=1", "st4", "snap:1").stdout.strip()
    assert image.startswith("sha256:")
    # paused while its layer was written (Docker's default), and running again
    assert container_events(sb, "st4", since) == ["pause", "unpause"]
    assert sb.hatoba("inspect", "-f", "{{.State.Status}}", "st4").stdout == "running\n"
    since = time.time()
    sb.hatoba("commit", "--pause=false", "st4", "snap:2")
    assert container_events(sb, "st4", since) == []
    out = sb.hatoba(
        "run",
        "--rm",
        "snap:1",
        "sh",
        "-c",
        'cat /tmp/made; echo "$FROM_COMMIT"; test -e /etc/group || echo gone',
    ).stdout
    assert out == "made\n1\ngone\n"
    # a stopped container's files: read and written with its layer mounted afresh
    sb.hatoba("stop", "-t", "0", "st4")
    sb.hatoba("cp", str(local / "a.txt"), "st4:/etc/")
    assert "A /etc/a.txt" in sb.hatoba("diff", "st4").stdout
    archive = subprocess.run(
        ["nsenter", f"--net={sb.host}", *sb.hatoba_argv, "cp", "st4:/vol/renamed.txt", "-"],
        capture_output=True,
        env=sb.env,
        check=True,
    ).stdout
    assert tar_names(archive) == ["renamed.txt"]
    hostfs = sb.hatoba("run", "-d", "hostfs", "true").stdout.strip()
    assert "hostfs container" in sb.hatoba("diff", hostfs, check=False).stderr
    sb.hatoba("rm", "-f", "st4", hostfs)
    sb.hatoba("rmi", "snap:1")
    sb.hatoba("volume", "rm", "cpvol")


def test_prune_and_disk_usage(sb: Sandbox) -> None:
    sb.hatoba("run", "--name", "st5", "-v", "pv:/pv", "alpine", "sh", "-c", "echo 12345 > /pv/f")
    sb.hatoba("volume", "create", "--label", "keep=yes", "kept")
    df = sb.hatoba("system", "df").stdout.splitlines()
    assert df[0].split() == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
    assert df[2].split()[:3] == ["Containers", "1", "0"]
    assert df[3].split()[:4] == ["Local", "Volumes", "2", "1"]
    pruned = sb.hatoba("container", "prune", "-f").stdout
    assert "Deleted Containers:" in pruned and "Total reclaimed space:" in pruned
    volumes = sb.hatoba("volume", "prune", "-f", "--filter", "label!=keep=yes").stdout
    assert volumes.startswith("Deleted Volumes:\npv\n") and "Total reclaimed space: 6B" in volumes
    assert volume_folders(sb) == {"kept"}
    sb.hatoba("volume", "rm", "kept")
