"""A container's own cgroup, found and read: cgroup v2 and v1 files as the kernel writes them,
and none when the container shares the service's cgroup (crun's cgroup manager disabled)."""

from __future__ import annotations

from pathlib import Path

from hatoba.kernel.cgroups import V2, Cgroup, directories, membership, mount_points
from hatoba.observe.usage import BlockIo

HYBRID_SERVICE = """\
9:name=systemd:/
4:memory:/process_api/4e1b
2:cpuacct:/
1:cpu:/
0::/
"""
MOUNTINFO = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
MB = 1 << 20


def test_a_container_in_the_service_s_cgroup_has_none_of_its_own() -> None:
    ours = membership(HYBRID_SERVICE)
    assert ours == {"memory": "/process_api/4e1b", "cpuacct": "/", "cpu": "/", V2: "/"}
    assert directories(ours, ours, mount_points(MOUNTINFO)) == {}


def test_v1_controllers_of_its_own_are_found_below_their_mounts() -> None:
    theirs = membership(
        HYBRID_SERVICE.replace("4e1b", "4e1b/web").replace("2:cpuacct:/", "2:cpuacct:/web")
    )
    found = directories(theirs, membership(HYBRID_SERVICE), mount_points(MOUNTINFO))
    assert found == {
        "memory": Path("/sys/fs/cgroup/memory/process_api/4e1b/web"),
        "cpuacct": Path("/sys/fs/cgroup/cpuacct/web"),
    }
    # a hybrid host's unified hierarchy only when no v1 controller is the container's own
    in_both = {**theirs, V2: "/web"}
    assert directories(in_both, membership(HYBRID_SERVICE), mount_points(MOUNTINFO)) == found
    only_v2 = {**membership(HYBRID_SERVICE), V2: "/web"}
    assert directories(only_v2, membership(HYBRID_SERVICE), mount_points(MOUNTINFO)) == {
        V2: Path("/sys/fs/cgroup/unified/web")
    }


def test_on_a_v2_host_the_unified_cgroup_below_the_mount_s_root() -> None:
    mountinfo = "50 1 0:40 /system.slice /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"
    ours = {V2: "/system.slice/hatoba.service"}
    theirs = {V2: "/system.slice/hatoba/web"}
    assert directories(theirs, ours, mount_points(mountinfo)) == {
        V2: Path("/sys/fs/cgroup/hatoba/web")
    }


def write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def test_v2_files_read_as_docker_reads_them(tmp_path: Path) -> None:
    folder = write(
        tmp_path,
        {
            "cpu.stat": "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 4\n"
            "nr_throttled 1\nthrottled_usec 20\n",
            "memory.current": f"{3 * MB}\n",
            "memory.max": "max\n",
            "memory.stat": "anon 1048576\nfile 2097152\ninactive_file 1048576\n",
            "pids.current": "2\n",
            "io.stat": "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n",
        },
    )
    usage = Cgroup({V2: folder}).usage(machine_memory=1024 * MB)
    assert (usage.cpu_total_ns, usage.cpu_user_ns, usage.cpu_kernel_ns) == (
        1_500_000,
        1_000_000,
        500_000,
    )
    assert usage.throttling == (4, 1, 20_000)
    assert usage.memory is not None
    assert (usage.memory.usage, usage.memory.limit) == (3 * MB, 1024 * MB)
    assert usage.memory.stats["inactive_file"] == MB
    assert usage.pids == 2
    assert usage.io == (BlockIo(8, 0, "read", 4096), BlockIo(8, 0, "write", 8192))
    (folder / "memory.max").write_text(f"{64 * MB}\n")
    limited = Cgroup({V2: folder}).usage(machine_memory=1024 * MB).memory
    assert limited is not None and limited.limit == 64 * MB


def test_v1_files_read_as_docker_reads_them(tmp_path: Path) -> None:
    acct = write(
        tmp_path / "cpuacct",
        {
            "cpuacct.usage": "3000\n",
            "cpuacct.usage_percpu": "1000 2000 \n",
            "cpuacct.stat": "user 2\nsystem 1\n",
        },
    )
    memory = write(
        tmp_path / "memory",
        {
            "memory.usage_in_bytes": f"{2 * MB}\n",
            "memory.limit_in_bytes": "9223372036854771712\n",
            "memory.max_usage_in_bytes": f"{5 * MB}\n",
            "memory.failcnt": "0\n",
            "memory.stat": "cache 0\ntotal_inactive_file 4096\n",
        },
    )
    usage = Cgroup({"cpuacct": acct, "memory": memory}).usage(machine_memory=1024 * MB)
    assert usage.cpu_total_ns == 3000 and usage.percpu_ns == (1000, 2000)
    assert usage.cpu_user_ns > usage.cpu_kernel_ns > 0
    assert usage.memory is not None
    assert (usage.memory.usage, usage.memory.limit, usage.memory.max_usage) == (
        2 * MB,
        1024 * MB,
        5 * MB,
    )
    assert usage.memory.stats == {"cache": 0, "total_inactive_file": 4096}
    assert usage.pids is None and usage.io == ()
