"""The meters on the real kernel: a process in a memory cgroup of its own (a child of the test's
own, removed after) is found through /proc/<pid>/cgroup and read with its limit, as stats
will read containers once they get cgroups; one in the service's cgroup has none; the
processes of a PID namespace are found by the namespace, not by ancestry."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hatoba.kernel.cgroups import V2, membership, mount_points, own_cgroup
from hatoba.kernel.meters import ContainerMeter, machine_memory, processes

pytestmark = pytest.mark.root

MB = 1 << 20
# waits for a line, takes 16 MB (touched, so it is charged), waits again
EATER = "import sys; sys.stdin.readline(); x = b'x' * (16 << 20); print(len(x), flush=True); " \
    "sys.stdin.readline()"  # fmt: skip


def our_memory_cgroup() -> Path | None:
    """The memory controller's folder of this process's cgroup (v1 or v2)."""
    ours = membership(Path("/proc/self/cgroup").read_text())
    mounts = mount_points(Path("/proc/self/mountinfo").read_text())
    for key, limit_file in (("memory", "memory.limit_in_bytes"), (V2, "memory.max")):
        if key in ours and key in mounts:
            point, root = mounts[key]
            path = ours[key][len(root) :] if root != "/" else ours[key]
            folder = Path(point + path)
            if (folder / limit_file).exists() or (key == V2 and _v2_memory(folder)):
                return folder
    return None


def _v2_memory(folder: Path) -> bool:
    try:
        return "memory" in (folder / "cgroup.subtree_control").read_text().split()
    except OSError:
        return False


@pytest.fixture
def child_cgroup() -> Iterator[Path]:
    parent = our_memory_cgroup()
    if parent is None:
        pytest.skip("no memory cgroup controller for this process")
    child = parent / f"hatoba-test-{os.getpid()}"
    child.mkdir()
    try:
        yield child
    finally:
        for _ in range(50):
            try:
                child.rmdir()
                break
            except OSError:
                time.sleep(0.05)  # its process is still being reaped


def test_a_process_in_a_cgroup_of_its_own_is_read(child_cgroup: Path) -> None:
    eater = subprocess.Popen(
        [sys.executable, "-c", EATER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert eater.stdin is not None and eater.stdout is not None
    try:
        assert own_cgroup(eater.pid) is None  # still in ours
        limit = (
            "memory.limit_in_bytes"
            if (child_cgroup / "memory.limit_in_bytes").exists()
            else "memory.max"
        )
        (child_cgroup / limit).write_text(str(256 * MB))
        (child_cgroup / "cgroup.procs").write_text(str(eater.pid))
        eater.stdin.write("\n")
        eater.stdin.flush()
        assert eater.stdout.readline().strip() == str(16 * MB)
        found = own_cgroup(eater.pid)
        assert found is not None
        usage = found.usage(machine_memory())
        assert usage.memory is not None
        assert usage.memory.limit == 256 * MB
        assert 16 * MB <= usage.memory.usage < 256 * MB
        sample = ContainerMeter(eater.pid, "").sample([])
        assert sample.cgroup is not None and sample.cgroup.memory is not None
        assert sample.networks == {} and sample.online_cpus == os.cpu_count()
    finally:
        eater.kill()
        eater.wait()


def test_the_processes_of_a_pid_namespace() -> None:
    # a new PID namespace whose init starts two more processes; `unshare --fork` stays outside
    unshare = subprocess.Popen(
        ["unshare", "--pid", "--fork", "--mount-proc", "sh", "-c", "sleep 60 & sleep 60 & wait"],
        start_new_session=True,
    )
    try:
        init = 0
        for _ in range(100):
            children = Path(f"/proc/{unshare.pid}/task/{unshare.pid}/children").read_text().split()
            if children:
                init = int(children[0])
                if len(processes(init)) == 3:
                    break
            time.sleep(0.02)
        found = processes(init)
        assert len(found) == 3 and init in found and unshare.pid not in found
        assert os.getpid() not in found
    finally:
        os.killpg(unshare.pid, 9)
        unshare.wait()
