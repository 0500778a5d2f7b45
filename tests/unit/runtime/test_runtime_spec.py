"""The OCI process a container runs: its user and groups, and tini in front with `--init`."""

from __future__ import annotations

from hatoba.model.launch import CONTAINER_UMASK, ProcessSpec, ProcessUser
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
