"""Container limits (model/resources.py): Docker's checks, defaults and update rules, with its
texts; a limit whose cgroup controller the host lacks is refused by name. And the probe of
the host's cgroups (kernel/cgroups.py) on cgroup trees made of plain files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fakes import FULL_CGROUPS
from hatoba.errors import Conflict, InvalidArgument
from hatoba.kernel import cgroups
from hatoba.model.resources import (
    CPU,
    DEVICES,
    FREEZER,
    MEMORY,
    PIDS,
    CgroupSupport,
    Resources,
    Ulimit,
    check,
    updated,
)

MB = 1 << 20


def test_dockers_defaults() -> None:
    limits, warnings = check(Resources(memory=10 * MB, cpu_shares=1), FULL_CGROUPS)
    assert warnings == []
    # swap as much again, shares within the kernel's bounds, /dev/shm 64 MiB
    assert (limits.memory_swap, limits.cpu_shares, limits.shm_size) == (20 * MB, 2, 64 * MB)
    assert check(Resources(cpu_shares=10**6), FULL_CGROUPS)[0].cpu_shares == 262144
    assert check(Resources(memory=10 * MB, memory_swap=-1), FULL_CGROUPS)[0].memory_swap == -1
    assert check(Resources(), FULL_CGROUPS)[0] == Resources(shm_size=64 * MB)


def test_cpus_are_a_quota_of_a_100ms_period() -> None:
    assert Resources(nano_cpus=500_000_000).cfs == (50_000, 100_000)
    assert Resources(nano_cpus=1_500_000_000).cfs == (150_000, 100_000)
    assert Resources(cpu_quota=20_000, cpu_period=50_000).cfs == (20_000, 50_000)


@pytest.mark.parametrize(
    ("asked", "message"),
    [
        (Resources(memory=MB), "Minimum memory limit allowed is 6MB"),
        (Resources(memory=10 * MB, memory_swap=8 * MB), "Minimum memoryswap limit should be larger than memory limit, see usage"),  # noqa: E501
        (Resources(memory_swap=8 * MB), "You should always set the Memory limit when using Memoryswap limit, see usage"),  # noqa: E501
        (Resources(nano_cpus=10**9, cpu_period=10**5), "Conflicting options: Nano CPUs and CPU Period cannot both be set"),  # noqa: E501
        (Resources(nano_cpus=10**9, cpu_quota=10**5), "Conflicting options: Nano CPUs and CPU Quota cannot both be set"),  # noqa: E501
        (Resources(nano_cpus=3 * 10**9), "Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available"),  # noqa: E501
        (Resources(nano_cpus=-1), "Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available"),  # noqa: E501
        (Resources(cpu_period=999), "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"),  # noqa: E501
        (Resources(cpu_quota=999), "CPU cfs quota can not be less than 1ms (i.e. 1000)"),
        (Resources(shm_size=-1), "SHM size can not be less than 0"),
        (Resources(ulimits=(Ulimit("bogus", 1, 1),)), "invalid ulimit type: bogus"),
        (Resources(ulimits=(Ulimit("nofile", 2, 1),)), "ulimit soft limit must be less than or equal to hard limit: 2 > 1"),  # noqa: E501
    ],
)  # fmt: skip
def test_what_docker_refuses(asked: Resources, message: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        check(asked, FULL_CGROUPS)
    assert refused.value.message == message


@pytest.mark.parametrize(
    ("asked", "field", "controller"),
    [
        (Resources(memory=10 * MB), "Memory", MEMORY),
        (Resources(cpu_shares=512), "CpuShares", CPU),
        (Resources(nano_cpus=10**9), "NanoCpus", CPU),
        (Resources(cpu_quota=50_000), "CpuQuota", CPU),
        (Resources(pids_limit=10), "PidsLimit", PIDS),
    ],
)
def test_a_limit_without_its_controller_is_refused_by_name(
    asked: Resources, field: str, controller: str
) -> None:
    # cgroup v2 here has no controller of its own (a hybrid host's cgroup2 tree)
    v2 = CgroupSupport(2, frozenset({FREEZER, DEVICES}), cpus=2)
    with pytest.raises(InvalidArgument) as refused:
        check(asked, v2)
    assert refused.value.message == (
        f'HostConfig.{field} needs the cgroup "{controller}" controller, which this host does '
        "not give hatoba (cgroup v2 (/sys/fs/cgroup/cgroup.controllers))"
    )
    with pytest.raises(InvalidArgument, match="no writable cgroup file system"):
        check(asked, CgroupSupport(cpus=2))
    # what needs no controller passes everywhere
    check(Resources(shm_size=MB, ulimits=(Ulimit("nofile", 1, 2),)), CgroupSupport())


def test_without_swap_accounting() -> None:
    no_swap = CgroupSupport(1, frozenset({MEMORY}), swap=False, cpus=2)
    limits, warnings = check(Resources(memory=10 * MB), no_swap)
    assert limits.memory_swap == 0
    assert warnings == [
        "Your kernel does not support swap limit capabilities or the cgroup is not mounted. "
        "Memory limited without swap."
    ]
    with pytest.raises(InvalidArgument, match="MemorySwap needs swap accounting"):
        check(Resources(memory=10 * MB, memory_swap=20 * MB), no_swap)


def test_update_replaces_what_it_sets() -> None:
    current = Resources(memory=10 * MB, memory_swap=20 * MB, nano_cpus=10**9, pids_limit=5)
    change = Resources(memory=15 * MB, cpu_shares=100)
    assert updated(current, change, None, swap=True) == Resources(
        memory=15 * MB, memory_swap=20 * MB, nano_cpus=10**9, cpu_shares=100, pids_limit=5
    )
    # PidsLimit: null keeps it, 0 or less lifts it
    assert updated(current, Resources(), 9, swap=True).pids_limit == 9
    assert updated(current, Resources(), -1, swap=True).pids_limit == 0
    assert updated(current, Resources(), 0, swap=True).pids_limit == 0


@pytest.mark.parametrize(
    ("current", "change", "message"),
    [
        (Resources(cpu_period=10**5), Resources(nano_cpus=10**9), "Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set"),  # noqa: E501
        (Resources(cpu_quota=10**5), Resources(nano_cpus=10**9), "Conflicting options: Nano CPUs cannot be updated as CPU Quota has already been set"),  # noqa: E501
        (Resources(nano_cpus=10**9), Resources(cpu_period=10**5), "Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set"),  # noqa: E501
        (Resources(nano_cpus=10**9), Resources(cpu_quota=10**5), "Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set"),  # noqa: E501
        (Resources(memory=10 * MB, memory_swap=20 * MB), Resources(memory=30 * MB), "Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time"),  # noqa: E501
        (Resources(), Resources(memory=30 * MB), "Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time"),  # noqa: E501
    ],
)  # fmt: skip
def test_update_refusals(current: Resources, change: Resources, message: str) -> None:
    with pytest.raises(Conflict) as refused:
        updated(current, change, None, swap=True)
    assert refused.value.message == message


def test_update_of_memory_where_swap_is_not_accounted() -> None:
    assert updated(Resources(), Resources(memory=30 * MB), None, swap=False).memory == 30 * MB
    # an unlimited swap stays unlimited
    unlimited = Resources(memory=10 * MB, memory_swap=-1)
    assert updated(unlimited, Resources(memory_swap=40 * MB), None, swap=True).memory_swap == (
        40 * MB
    )


# --- the probe, on trees of plain files ----------------------------------------------------


def tree(root: Path, files: dict[str, str]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return root


def test_probe_of_cgroup_v1(tmp_path: Path) -> None:
    root = tree(
        tmp_path,
        {
            "memory/cgroup.procs": "",
            "memory/memory.memsw.limit_in_bytes": "",
            "cpu/cgroup.procs": "",
            "pids/cgroup.procs": "",
            "freezer/cgroup.procs": "",
            "devices/cgroup.procs": "",
            "unified/cgroup.controllers": "hugetlb\n",
        },
    )
    support = cgroups.probe("hx", root)
    assert (support.version, support.controllers, support.swap) == (
        1,
        frozenset({MEMORY, CPU, PIDS, FREEZER, DEVICES}),
        True,
    )
    assert (root / "memory" / "hx").is_dir() and (root / "pids" / "hx").is_dir()
    assert cgroups.hybrid(root)
    (root / "cpu" / "hx" / "abc").mkdir()
    cgroups.remove_parent("hx", root)
    assert not any(root.glob("*/hx"))


def test_probe_of_a_v1_host_without_some_controllers(tmp_path: Path) -> None:
    root = tree(tmp_path, {"memory/cgroup.procs": "", "freezer/cgroup.procs": ""})
    support = cgroups.probe("hx", root)
    assert (support.version, support.controllers, support.swap) == (
        1,
        frozenset({MEMORY, FREEZER}),
        False,
    )
    assert not cgroups.hybrid(root)


def test_probe_of_cgroup_v2(tmp_path: Path) -> None:
    root = tree(
        tmp_path,
        {
            "cgroup.controllers": "cpuset cpu io memory hugetlb pids rdma misc\n",
            "hx/cgroup.freeze": "0\n",
            "hx/memory.swap.max": "max\n",
        },
    )
    support = cgroups.probe("hx", root)
    assert (support.version, support.controllers, support.swap) == (
        2,
        frozenset({MEMORY, CPU, PIDS, FREEZER, DEVICES}),
        True,
    )
    # a cgroup2 tree without controllers still freezes and filters devices
    bare = tree(tmp_path / "bare", {"cgroup.controllers": "\n", "hx/cgroup.freeze": "0\n"})
    assert cgroups.probe("hx", bare).controllers == frozenset({FREEZER, DEVICES})
    assert not cgroups.hybrid(root)


def test_probe_where_nothing_can_be_written(tmp_path: Path) -> None:
    assert cgroups.probe("hx", tmp_path).version == 0
    # a hierarchy where the parent folder cannot be made does not count
    blocked = tree(tmp_path / "blocked", {"memory/cgroup.procs": "", "memory/hx": "a file"})
    assert cgroups.probe("hx", blocked) == CgroupSupport(cpus=len(os.sched_getaffinity(0)))


def test_a_sandboxs_cgroups_are_found_and_removed(tmp_path: Path) -> None:
    root = tree(
        tmp_path,
        {
            "pids/cgroup.procs": "1\n",
            "pids/hx/cgroup.procs": "",
            "pids/hx/c1/cgroup.procs": "11\n12\n",
            "freezer/hx/c2/cgroup.procs": "13\n",
        },
    )
    assert cgroups.processes("hx", root) == {11, 12, 13}
    for leftover in root.glob("*/hx/*/cgroup.procs"):
        leftover.unlink()
    (root / "pids/hx/cgroup.procs").unlink()
    cgroups.remove_parent("hx", root, patience=0)
    assert not any(root.glob("*/hx"))
