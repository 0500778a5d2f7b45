"""hatoba's roots are root's alone (issue 8, points 8 and 7b): no other local user reads what
is in them (a container's environment, its log), no container sees them or reaches the API
socket, and containers still read their own files as any user."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.busybox_images import busybox_images
from fixtures.image_sandbox import import_busybox, run_output
from hatoba.images.busybox import RootfsImage
from hatoba.testing import Sandbox

__all__ = ["busybox_images"]

pytestmark = pytest.mark.root

SECRET = "s3cret-7b1e"
NOBODY = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")

# run as uid 65534: what of each path (given on stdin, relative to the folder open as the
# descriptor in argv[1]) can be read, listed or connected to. Paths go through that descriptor,
# so the folders above it (pytest's private temporary folder) play /var/lib and /run, which
# everyone may walk through.
_READER = """
import json, os, socket, stat, sys
found = {}
for name in sys.stdin.read().splitlines():
    path = f"/proc/self/fd/{sys.argv[1]}/{name}"
    try:
        mode = os.lstat(path).st_mode
        if stat.S_ISDIR(mode):
            found[name] = " ".join(os.listdir(path))
        elif stat.S_ISSOCK(mode):
            socket.socket(socket.AF_UNIX).connect(path)
            found[name] = "connected"
        elif not stat.S_ISLNK(mode):
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
            found[name] = os.read(fd, 1 << 20).decode("latin-1")
    except OSError:
        pass
print(json.dumps(found))
"""

# run inside a container: what it sees of the roots and whether the API socket answers
_PROBE = """
import os, socket, sys
for root in sys.argv[1:]:
    print(root, sorted(os.listdir(root)) if os.path.isdir(root) else "absent")
try:
    socket.socket(socket.AF_UNIX).connect(os.path.join(sys.argv[2], "hatoba.sock"))
    print("socket answers")
except OSError as e:
    print("socket:", type(e).__name__)
"""


@pytest.fixture(scope="module")
def sb(busybox_images: tuple[RootfsImage, RootfsImage]) -> Iterator[Sandbox]:
    # the run root a plain folder, as /run/hatoba is inside /run, and the sandbox's own folder
    # open to everyone, as /var/lib and /run are; both roots as open as an older install left
    # them (the service closes them when it starts)
    with Sandbox(run_root_on_tmpfs=False) as sb:
        sb.dir.chmod(0o755)
        for root in (sb.root, sb.run_root):
            root.mkdir(exist_ok=True)
            root.chmod(0o755)
        import_busybox(sb, busybox_images)
        yield sb


def _tree(base: Path, *roots: Path) -> list[str]:
    """Every path from each root down, relative to `base`; symlinks are not followed."""
    paths = []
    for root in roots:
        paths.append(str(root))
        for parent, dirs, files in os.walk(root):
            paths += [os.path.join(parent, name) for name in (*dirs, *files)]
    return [os.path.relpath(path, base) for path in paths]


def _readable_by_nobody(base: Path, paths: list[str]) -> dict[str, str]:
    """What uid 65534 reads of `paths` (relative to `base`): path → listing or content."""
    fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY)
    try:
        reader = subprocess.run(
            [*NOBODY, sys.executable, "-I", "-c", _READER, str(fd)],
            input="\n".join(paths),
            capture_output=True,
            text=True,
            check=True,
            pass_fds=(fd,),
        )
    finally:
        os.close(fd)
    found: dict[str, str] = json.loads(reader.stdout)
    return found


def test_no_other_user_reads_anything_under_the_roots(sb: Sandbox) -> None:
    env = ("-e", f"DB_PASSWORD={SECRET}")
    said = "echo logged $DB_PASSWORD"
    done = sb.hatoba("run", "-d", *env, "alpine", "sh", "-c", said).stdout.strip()
    assert sb.hatoba("wait", done).stdout.strip() == "0"
    assert sb.hatoba("logs", done).stdout == f"logged {SECRET}\n"
    running = sb.hatoba("run", "-d", *env, "hostfs", "sleep", "infinity").stdout.strip()
    # the secret is where the issue found it, for root
    assert SECRET in (sb.run_root / "containers" / running[:12] / "config.json").read_text()

    paths = _tree(sb.dir, sb.root, sb.run_root)
    # the reader works: it reads what everyone may read
    assert _readable_by_nobody(sb.dir, ["resolv.conf"]) == {
        "resolv.conf": sb.resolv_conf.read_text()
    }
    readable = _readable_by_nobody(sb.dir, paths)
    leaks = sorted(path for path, content in readable.items() if SECRET in content)
    assert (leaks, sorted(readable)) == ([], [])
    assert stat.S_IMODE(sb.root.stat().st_mode) == 0o700
    assert stat.S_IMODE(sb.run_root.stat().st_mode) == 0o700
    assert stat.S_IMODE((sb.run_root / "hatoba.sock").stat().st_mode) == 0o660
    # what hatoba writes itself is private as well, not only hidden behind the roots
    for private in (
        sb.root / "hatoba.db",
        sb.root / "containers" / done / f"{done}-json.log",
        sb.run_root / "containers" / running[:12] / "config.json",
    ):
        assert stat.S_IMODE(private.stat().st_mode) == 0o600, private
    sb.hatoba("rm", "-f", done, running)


@pytest.mark.parametrize(
    ("image", "as_nobody"),
    [("alpine", ("su", "-s", "/bin/sh", "nobody", "-c")), ("hostfs", (*NOBODY, "sh", "-c"))],
)
def test_containers_read_their_own_files_as_any_user(
    sb: Sandbox, image: str, as_nobody: tuple[str, ...]
) -> None:
    look = "cat /etc/hostname /etc/hosts /etc/resolv.conf >/dev/null && ls / >/dev/null && umask"
    assert run_output(sb, image, *as_nobody, look) == "0022\n"
    # files made in the container (and by exec) get the usual modes, not the service's
    cid = sb.hatoba("run", "-d", image, "sleep", "infinity").stdout.strip()
    made = sb.hatoba("exec", cid, "sh", "-c", "umask; cd /tmp && touch f.$$ && stat -c %a f.$$")
    sb.hatoba("exec", cid, "sh", "-c", "rm -f /tmp/f.*")
    assert made.stdout == "0022\n644\n"
    sb.hatoba("rm", "-f", cid)


def test_no_container_sees_the_roots_or_reaches_the_api(sb: Sandbox) -> None:
    sb.hatoba("network", "create", "--internal", "walled")
    sb.hatoba("network", "create", "open")
    sb.hatoba("run", "-d", "--net", "open", "--name", "target", "hostfs", "sleep", "infinity")
    probe = sb.hatoba(
        "run", "-d", "--net", "walled", "--name", "probe", "hostfs", "sleep", "infinity"
    ).stdout.strip()
    roots = (str(sb.root), str(sb.run_root))
    seen = sb.hatoba("exec", "probe", "python3", "-I", "-c", _PROBE, *roots).stdout
    assert seen == f"{roots[0]} []\n{roots[1]} []\nsocket: FileNotFoundError\n"
    # its own files are still there
    assert sb.hatoba("exec", "probe", "cat", "/etc/hostname").stdout == probe[:12] + "\n"
    # and the API cannot move it off its internal network
    escape = sb.hatoba(
        "exec",
        *("-e", f"HATOBA_ROOT={roots[0]}", "-e", f"HATOBA_RUN_ROOT={roots[1]}"),
        "probe",
        *sb.hatoba_argv,
        *("network", "connect", "open", "probe"),
        check=False,
    )
    assert escape.returncode != 0
    assert "Cannot connect to the hatoba service" in escape.stderr
    networks = sb.hatoba("inspect", "-f", "{{json .NetworkSettings.Networks}}", "probe").stdout
    assert list(json.loads(networks)) == ["walled"]
    # image containers get the same masks, for whatever may be mounted into them
    image = sb.hatoba("run", "-d", "alpine", "sleep", "infinity").stdout.strip()
    config = json.loads((sb.run_root / "containers" / image[:12] / "config.json").read_text())
    assert set(roots) <= set(config["linux"]["maskedPaths"])
    sb.hatoba("rm", "-f", "probe", "target", image)
    sb.hatoba("network", "rm", "walled", "open")
