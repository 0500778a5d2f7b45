"""The fork server's spare shim: none before the first container (whose request says what a
spare is prepared for), then one waiting after a quiet spell, which the next container's
request gets; a spare that died is replaced by a fork on the spot; a shim that exits is reaped
without waiting for a request. A fork server without a mount namespace of its own leaves the
host's folder of handles mounted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.root

SCRIPT = """
import json, os, signal, sys, time
from hatoba.runtime.forkserver import ForkServer

folder = sys.argv[1]
request = {
    "id": "spare-test", "dir": folder, "bundle": folder, "crun": "/bin/false",
    "crun_root": folder, "log": folder + "/log", "tty": False, "stdin": False,
    "overlay": None, "expect_attach": 0, "netns_link": None,
    "netns_dir": folder, "cgroups": False, "hide_unified": False,
}

def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return not f.read().split(") ", 1)[1].startswith("Z")
    except FileNotFoundError:
        return False

def waiting(forkserver):
    with open(f"/proc/{forkserver.pid}/task/{forkserver.pid}/children") as f:
        return sorted(p for p in map(int, f.read().split()) if alive(p))

def spawn(forkserver):
    ready_r, ready_w = os.pipe2(os.O_CLOEXEC)
    pid = forkserver.spawn_shim(request, [ready_w])
    os.close(ready_w)
    with os.fdopen(ready_r, "rb") as ready:
        answer = ready.read().decode().strip()
    while alive(pid):
        time.sleep(0.01)
    return pid, answer

def settle(forkserver, count):
    deadline = time.monotonic() + 10
    while len(waiting(forkserver)) != count and time.monotonic() < deadline:
        time.sleep(0.02)
    return waiting(forkserver)

forkserver = ForkServer.start()
try:
    time.sleep(0.2)
    out = {"before_first": waiting(forkserver)}
    out["first"] = spawn(forkserver)
    out["spare"] = settle(forkserver, 1)
    out["second"] = spawn(forkserver)
    out["next_spare"] = settle(forkserver, 1)
    os.kill(out["next_spare"][0], signal.SIGKILL)
    while alive(out["next_spare"][0]):
        time.sleep(0.01)
    out["third"] = spawn(forkserver)
    deadline = time.monotonic() + 5
    while os.path.exists(f"/proc/{out['third'][0]}") and time.monotonic() < deadline:
        time.sleep(0.01)
    out["third_reaped"] = not os.path.exists(f"/proc/{out['third'][0]}")
    json.dump(out, sys.stdout)
finally:
    forkserver.close()
"""


def test_the_next_shim_is_the_spare_and_a_dead_spare_is_replaced(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["before_first"] == []
    first_pid, first_answer = out["first"]
    assert first_answer.startswith("ERR ")  # crun (/bin/false) refused: the shim said so
    assert out["spare"] != [first_pid]
    second_pid, second_answer = out["second"]
    assert [second_pid] == out["spare"]
    assert second_answer == first_answer
    third_pid, third_answer = out["third"]
    assert [third_pid] != out["next_spare"]
    assert third_answer == first_answer
    assert out["third_reaped"]  # no zombie left, though no request came after it exited


REFUSED = """
import json, os, sys
from hatoba.errors import KernelError
from hatoba.kernel import libc
from hatoba.runtime.forkserver import ForkServer

folder = sys.argv[1]
# this process is the host here: a mount namespace of its own, its folder of handles mounted
libc.unshare(libc.CLONE_NEWNS)
libc.mount(None, "/", None, libc.MS_REC | libc.MS_PRIVATE)
os.makedirs(folder + "/netns")
libc.mount("tmpfs", folder + "/netns", "tmpfs", 0, "size=16k")

def refused(flags):
    raise KernelError("unshare: Operation not permitted", 1)

libc.unshare = refused  # the fork server, forked next, cannot make a namespace of its own
request = {
    "id": "refused-test", "dir": folder, "bundle": folder, "crun": "/bin/false",
    "crun_root": folder, "log": folder + "/log", "tty": False, "stdin": False,
    "overlay": None, "expect_attach": 0, "netns_link": None,
    "netns_dir": folder + "/netns", "cgroups": False, "hide_unified": False,
}
forkserver = ForkServer.start()
try:
    ready_r, ready_w = os.pipe2(os.O_CLOEXEC)
    forkserver.spawn_shim(request, [ready_w])
    os.close(ready_w)
    with os.fdopen(ready_r, "rb") as ready:
        ready.read()
    with open("/proc/self/mountinfo") as f:
        mounted = any(line.split()[4] == folder + "/netns" for line in f)
    json.dump({"mounted": mounted}, sys.stdout)
finally:
    forkserver.close()
"""


def test_a_fork_server_without_a_namespace_of_its_own_leaves_the_hosts_folder(
    tmp_path: Path,
) -> None:
    """Where the kernel refuses it a namespace of its own, the fork server stays in the
    host's, and must not unmount the folder of handles there (a shim does, in its own)."""
    done = subprocess.run(
        [sys.executable, "-c", REFUSED, str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"mounted": True}
