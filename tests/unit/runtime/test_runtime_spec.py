"""The OCI configuration of a container: its process (user and groups, capabilities,
no-new-privileges, ulimits), tini in front with `--init`, the user's mounts over the
defaults, and Docker's defaults for masked paths, /dev/shm and the device cgroup, with what
limits, devices, sysctls, a read-only root and `--privileged` change."""

from __future__ import annotations

import dataclasses
from typing import Any

from hatoba.model.launch import CONTAINER_UMASK, ProcessSpec, ProcessUser
from hatoba.model.resources import Resources, Ulimit
from hatoba.model.security import (
    DEFAULT_CAPS,
    DEFAULT_MASKED_PATHS,
    DEFAULT_READONLY_PATHS,
    Security,
)
from hatoba.runtime import spec
from hatoba.runtime.crun import INIT_IN_CONTAINER, under_init

PROCESS = ProcessSpec(("sh", "-c", "true"), ("PATH=/bin",), user=ProcessUser(33, 44, (44, 10)))


def test_the_user_and_groups_go_to_the_runtime_as_numbers():
    user = spec.process(PROCESS)["user"]
    assert user == {"uid": 33, "gid": 44, "additionalGids": [44, 10], "umask": CONTAINER_UMASK}


def test_root_is_the_default():
    user = spec.process(ProcessSpec(("true",), ()))["user"]
    assert (user["uid"], user["gid"], user["additionalGids"]) == (0, 0, [])


def test_init_in_an_image_is_bound_read_only_where_docker_puts_it():
    process, binds = under_init(PROCESS, "/usr/bin/tini-static", hostfs=False)
    assert process.args == (INIT_IN_CONTAINER, "--", "sh", "-c", "true")
    assert process.user == PROCESS.user and process.env == PROCESS.env
    assert [b.mount() for b in binds] == [
        {
            "destination": "/sbin/docker-init",
            "type": "bind",
            "source": "/usr/bin/tini-static",
            "options": ["bind", "ro"],
        }
    ]


def test_init_in_hostfs_is_the_hosts_own_file():
    process, binds = under_init(PROCESS, "/usr/bin/tini-static", hostfs=True)
    assert process.args == ("/usr/bin/tini-static", "--", "sh", "-c", "true")
    assert binds == []


def test_a_users_mount_replaces_what_else_goes_there():
    def mounts(*user: spec.Bind | spec.Tmpfs) -> list[tuple[str, str]]:
        doc = spec.config(
            rootfs="/r",
            proc=PROCESS,
            hostname="h",
            netns="/n",
            binds=[spec.Bind("/srv", "/srv")],
            mounts=user,
            files=[spec.Bind("/run/x/hosts", "/etc/hosts")],
        )
        return [(m["destination"], m["source"]) for m in doc["mounts"]]

    plain = mounts()
    assert ("/dev/shm", "shm") in plain and ("/etc/hosts", "/run/x/hosts") in plain
    # the user's mounts come after the image's binds and before the files hatoba gives
    user = mounts(
        spec.Tmpfs("/dev/shm", ("size=1m",)),
        spec.Bind("/home/me/hosts", "/etc/hosts"),
        spec.Bind("/data", "/srv", propagation="rslave"),
    )
    assert ("/dev/shm", "shm") not in user and ("/dev/shm", "tmpfs") in user
    assert ("/etc/hosts", "/run/x/hosts") not in user and ("/srv", "/srv") not in user
    assert [d for d, _ in user].index("/dev/shm") > [d for d, _ in user].index("/sys")
    # a /dev of the user's replaces every mount below /dev
    assert [d for d, _ in mounts(spec.Bind("/dev", "/dev"))].count("/dev/pts") == 0
    assert spec.Bind("/a", "/b", True, True, "rslave").mount()["options"] == [
        "rbind",
        "ro",
        "rslave",
    ]


# --- security and limits ------------------------------------------------------------------

BASE = {"rootfs": "/r", "hostname": "h", "netns": "/n", "binds": ()}
CGROUP = spec.Cgroup("/hatoba/abc", devices=True)


def config(**kw: object) -> dict[str, Any]:
    return spec.config(proc=PROCESS, **{**BASE, **kw})  # type: ignore[arg-type]


def mount(doc: dict[str, Any], destination: str) -> dict[str, Any]:
    return next(m for m in doc["mounts"] if m["destination"] == destination)


def test_the_process_carries_its_capabilities_and_limits() -> None:
    process = dataclasses.replace(
        PROCESS,
        capabilities=("CAP_CHOWN", "CAP_NET_ADMIN"),
        no_new_privileges=True,
        rlimits=(Ulimit("nofile", 1024, 2048), Ulimit("core", -1, -1)),
        oom_score_adj=-500,
    )
    doc = spec.process(process)
    for kind in ("bounding", "effective", "permitted"):
        assert doc["capabilities"][kind] == ["CAP_CHOWN", "CAP_NET_ADMIN"]
    assert doc["noNewPrivileges"] is True
    unlimited = (1 << 64) - 1
    assert doc["rlimits"] == [
        {"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 2048},
        {"type": "RLIMIT_CORE", "soft": unlimited, "hard": unlimited},
    ]
    assert doc["oomScoreAdj"] == -500
    default = spec.process(ProcessSpec(("true",), ()))
    assert default["capabilities"]["bounding"] == list(DEFAULT_CAPS)
    assert "rlimits" not in default and "oomScoreAdj" not in default


def test_dockers_defaults() -> None:
    doc = config(cgroup=CGROUP)
    linux = doc["linux"]
    assert linux["maskedPaths"] == list(DEFAULT_MASKED_PATHS)
    assert linux["readonlyPaths"] == list(DEFAULT_READONLY_PATHS)
    assert "ro" in mount(doc, "/sys")["options"]
    assert "size=67108864" in mount(doc, "/dev/shm")["options"]
    assert doc["root"]["readonly"] is False
    assert linux["cgroupsPath"] == "/hatoba/abc"
    assert linux["resources"]["devices"] == [
        {"allow": False, "access": "rwm"},
        {"allow": True, "access": "rwm", "type": "c", "major": 1, "minor": 5},
        {"allow": True, "access": "rwm", "type": "c", "major": 1, "minor": 3},
        {"allow": True, "access": "rwm", "type": "c", "major": 1, "minor": 9},
        {"allow": True, "access": "rwm", "type": "c", "major": 1, "minor": 8},
        {"allow": True, "access": "rwm", "type": "c", "major": 5, "minor": 0},
        {"allow": True, "access": "rwm", "type": "c", "major": 5, "minor": 1},
        {"allow": False, "access": "rwm", "type": "c", "major": 10, "minor": 229},
        {"allow": True, "access": "rwm", "type": "c", "major": 10, "minor": 200},
    ]
    assert "sysctl" not in linux and "devices" not in linux


def test_without_cgroups_there_are_no_limits_and_no_device_rules() -> None:
    linux = config(limits=Resources(memory=10 << 20))["linux"]
    assert "cgroupsPath" not in linux and "resources" not in linux
    # a cgroup v1 host without the devices controller
    linux = config(cgroup=spec.Cgroup("/hatoba/abc", devices=False))["linux"]
    assert linux["resources"] == {}


def test_limits() -> None:
    limits = Resources(
        memory=10 << 20, memory_swap=20 << 20, nano_cpus=250_000_000, cpu_shares=512,
        pids_limit=30, shm_size=1 << 20,
    )  # fmt: skip
    doc = config(limits=limits, cgroup=CGROUP)
    resources = doc["linux"]["resources"]
    assert resources["memory"] == {"limit": 10 << 20, "swap": 20 << 20}
    assert resources["cpu"] == {"shares": 512, "quota": 25_000, "period": 100_000}
    assert resources["pids"] == {"limit": 30}
    assert "size=1048576" in mount(doc, "/dev/shm")["options"]
    assert spec.resources(Resources(cpu_quota=5000, cpu_period=10_000)) == {
        "cpu": {"quota": 5000, "period": 10_000}
    }
    assert spec.resources(Resources()) == {}


def test_security_settings() -> None:
    security = Security(
        read_only=True,
        sysctls={"net.ipv4.ip_forward": "1"},
        device_cgroup_rules=("c 42:* rmw",),
        masked_paths=(),
        readonly_paths=("/proc/sys",),
    )
    fuse = spec.Device("/dev/myfuse", "c", 10, 229, 0o600, permissions="r")
    doc = config(security=security, devices=[fuse], cgroup=CGROUP, masked=("/var/lib/hatoba",))
    linux = doc["linux"]
    assert doc["root"]["readonly"] is True
    assert linux["sysctl"] == {"net.ipv4.ip_forward": "1"}
    assert linux["devices"] == [
        {"path": "/dev/myfuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o600,
         "uid": 0, "gid": 0},
    ]  # fmt: skip
    assert linux["resources"]["devices"][-2:] == [
        {"allow": True, "access": "r", "type": "c", "major": 10, "minor": 229},
        {"allow": True, "access": "rmw", "type": "c", "major": 42},
    ]
    # unmasked as asked, but hatoba's own roots stay hidden
    assert linux["maskedPaths"] == ["/var/lib/hatoba"]
    assert linux["readonlyPaths"] == ["/proc/sys"]


def test_privileged() -> None:
    doc = config(security=Security(privileged=True), cgroup=CGROUP, masked=("/run/hatoba",))
    linux = doc["linux"]
    assert linux["resources"]["devices"] == [{"allow": True, "access": "rwm"}]
    assert linux["maskedPaths"] == ["/run/hatoba"] and linux["readonlyPaths"] == []
    assert "ro" not in mount(doc, "/sys")["options"]
