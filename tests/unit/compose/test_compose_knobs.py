"""Compose capabilities, kernel settings, devices and limits without root: read as docker
compose v2.29 reads them, printed by `config`, sent as its create request, in the config hash
(files without them keep theirs), and the keys whose HostConfig field the engine refuses."""

from __future__ import annotations

from typing import Any

from fixtures.compose_files import Load, load_files, problems_of, project_dir, project_of
from hatoba.compose import requests
from hatoba.compose.export import project_document
from hatoba.compose.model import Device, Limits, Ulimit

__all__ = ["load_files", "project_dir"]

KNOBS = """
services:
  web:
    image: alpine
    cap_add: [NET_ADMIN, SYS_TIME]
    cap_drop: [MKNOD]
    privileged: 'true'
    sysctls: [net.core.somaxconn=1024, net.ipv4.tcp_syncookies=0]
    read_only: true
    security_opt: [no-new-privileges, 'seccomp:unconfined', systempaths=unconfined]
    ulimits:
      nproc: 65535
      nofile: {soft: 20000, hard: 40000}
    shm_size: 64m
    devices:
      - /dev/fuse
      - /dev/null:/dev/nothing
      - /dev/zero:/dev/z:r
      - {source: /dev/full, permissions: rw}
    device_cgroup_rules: ['c 42:* rmw']
    oom_score_adj: '-500'
    mem_limit: 128m
    memswap_limit: 256m
    cpus: '1.5'
    cpu_shares: 512
    cpu_quota: '50000'
    cpu_period: 100000
    pids_limit: 64
"""


def host_config(load_files: Load, text: str, service: str = "web") -> dict[str, Any]:
    project = project_of(load_files, text, project_name="p")
    body = requests.create_body(project, project.service(service), 1, f"p-{service}-1")
    host: dict[str, Any] = body["HostConfig"]
    return host


def test_knobs_are_read_as_docker_compose_reads_them(load_files: Load) -> None:
    web = project_of(load_files, KNOBS).service("web")
    assert (web.cap_add, web.cap_drop) == (("NET_ADMIN", "SYS_TIME"), ("MKNOD",))
    assert web.privileged and web.read_only
    assert web.sysctls == (("net.core.somaxconn", "1024"), ("net.ipv4.tcp_syncookies", "0"))
    assert web.ulimits == (Ulimit("nofile", 20000, 40000), Ulimit("nproc", 65535, 65535))
    assert web.devices == (
        Device("/dev/fuse", "/dev/fuse"),
        Device("/dev/null", "/dev/nothing"),
        Device("/dev/zero", "/dev/z", "r"),
        Device("/dev/full", "/dev/full", "rw"),
    )
    assert (web.shm_size, web.mem_limit, web.memswap_limit) == (64 << 20, 128 << 20, 256 << 20)
    assert (web.oom_score_adj, web.cpus, web.cpu_shares) == (-500, 1.5, 512)
    assert (web.cpu_quota, web.cpu_period, web.pids_limit) == (50000, 100000, 64)


def test_sysctls_as_a_mapping_and_merged_across_files(load_files: Load) -> None:
    files = {
        "compose.yaml": "services:\n  a:\n    image: x\n    sysctls: {net.core.somaxconn: 10}\n"
        "    ulimits: {nofile: {soft: 1, hard: 2}}\n    cap_add: [NET_ADMIN]\n",
        "compose.override.yaml": "services:\n  a:\n    sysctls: [kernel.shmmax=4096]\n"
        "    ulimits: {nofile: 5}\n    cap_add: [NET_ADMIN, SYS_TIME]\n",
    }
    a = load_files(files).project.service("a")
    assert a.sysctls == (("net.core.somaxconn", "10"), ("kernel.shmmax", "4096"))
    # a ulimit is replaced whole, capabilities append what is not there yet
    assert a.ulimits == (Ulimit("nofile", 5, 5),)
    assert a.cap_add == ("NET_ADMIN", "SYS_TIME")


def test_knobs_go_as_docker_compose_sends_them(load_files: Load) -> None:
    sent = host_config(load_files, KNOBS)
    assert sent["CapAdd"] == ["NET_ADMIN", "SYS_TIME"] and sent["CapDrop"] == ["MKNOD"]
    assert sent["Privileged"] is True and sent["ReadonlyRootfs"] is True
    assert sent["Sysctls"] == {"net.core.somaxconn": "1024", "net.ipv4.tcp_syncookies": "0"}
    # systempaths=unconfined is no security option but empty masked and read-only paths
    assert sent["SecurityOpt"] == ["no-new-privileges", "seccomp:unconfined"]
    assert sent["MaskedPaths"] == [] and sent["ReadonlyPaths"] == []
    assert sent["Ulimits"] == [
        {"Name": "nofile", "Soft": 20000, "Hard": 40000},
        {"Name": "nproc", "Soft": 65535, "Hard": 65535},
    ]
    assert sent["Devices"] == [
        {"PathOnHost": "/dev/fuse", "PathInContainer": "/dev/fuse", "CgroupPermissions": "rwm"},
        {"PathOnHost": "/dev/null", "PathInContainer": "/dev/nothing", "CgroupPermissions": "rwm"},
        {"PathOnHost": "/dev/zero", "PathInContainer": "/dev/z", "CgroupPermissions": "r"},
        {"PathOnHost": "/dev/full", "PathInContainer": "/dev/full", "CgroupPermissions": "rw"},
    ]
    assert sent["DeviceCgroupRules"] == ["c 42:* rmw"]
    assert {k: sent[k] for k in ("ShmSize", "OomScoreAdj", "Memory", "MemorySwap")} == {
        "ShmSize": 64 << 20,
        "OomScoreAdj": -500,
        "Memory": 128 << 20,
        "MemorySwap": 256 << 20,
    }
    assert {k: sent[k] for k in ("NanoCpus", "CpuShares", "CpuQuota", "CpuPeriod")} == {
        "NanoCpus": 1_500_000_000,
        "CpuShares": 512,
        "CpuQuota": 50000,
        "CpuPeriod": 100000,
    }
    assert sent["PidsLimit"] == 64


def test_cpus_in_float32_as_compose_go_keeps_them(load_files: Load) -> None:
    def nano(cpus: str) -> int:
        value: int = host_config(load_files, f"services: {{web: {{image: x, cpus: {cpus}}}}}")[
            "NanoCpus"
        ]
        return value

    assert nano("0.5") == 500_000_000
    assert nano("'1.1'") == 1_100_000_000
    # a float32 holds about 7 digits
    assert nano("0.123456789") == 123_456_792


def test_deploy_resources_limits_override_the_service_keys(load_files: Load) -> None:
    text = (
        "services:\n  web:\n    image: x\n    mem_limit: 64m\n    cpus: 0.25\n"
        "    deploy:\n      resources:\n        limits: {cpus: '0.25', memory: 64m, pids: 32}\n"
    )
    web = project_of(load_files, text).service("web")
    assert web.limits == Limits(cpus=0.25, memory=64 << 20, pids=32)
    host = host_config(load_files, text)
    assert (host["NanoCpus"], host["Memory"], host["PidsLimit"]) == (250_000_000, 64 << 20, 32)
    # a pids limit of deploy counts only when positive (docker compose's setLimits)
    text = "services: {web: {image: x, deploy: {resources: {limits: {pids: -1}}}}}\n"
    assert "PidsLimit" not in host_config(load_files, text)
    # compose-go: a limits block that leaves the key out sets it to 0, which differs
    text = "services: {web: {image: x, pids_limit: 5, deploy: {resources: {limits: {}}}}}\n"
    assert [p.split(": ", 1)[1] for p in problems_of(load_files, {"compose.yaml": text})] == [
        "services.web.pids_limit: can't set distinct values on 'pids_limit' and "
        "'deploy.resources.limits.pids'"
    ]


def test_a_service_without_knobs_asks_for_none(load_files: Load) -> None:
    host = host_config(load_files, "services: {web: {image: x}}\n")
    knobs = {"CapAdd", "CapDrop", "Privileged", "Sysctls", "ReadonlyRootfs", "SecurityOpt"}
    knobs |= {"Ulimits", "ShmSize", "Devices", "DeviceCgroupRules", "OomScoreAdj", "Memory"}
    knobs |= {"MemorySwap", "NanoCpus", "CpuShares", "CpuQuota", "CpuPeriod", "PidsLimit"}
    knobs |= {"MaskedPaths", "ReadonlyPaths"}
    assert not knobs & set(host)


def test_config_prints_them_as_compose_go(load_files: Load) -> None:
    text = KNOBS + "    deploy: {resources: {limits: {cpus: 1.5, memory: 128m, pids: 64}}}\n"
    web = project_document(project_of(load_files, text))["services"]["web"]
    shown = {k: web[k] for k in web if k not in ("image", "networks")}
    assert shown == {
        "cap_add": ["NET_ADMIN", "SYS_TIME"],
        "cap_drop": ["MKNOD"],
        "security_opt": ["no-new-privileges", "seccomp:unconfined", "systempaths=unconfined"],
        "device_cgroup_rules": ["c 42:* rmw"],
        "privileged": True,
        "read_only": True,
        "sysctls": {"net.core.somaxconn": "1024", "net.ipv4.tcp_syncookies": "0"},
        "ulimits": {"nofile": {"soft": 20000, "hard": 40000}, "nproc": 65535},
        "devices": [
            {"source": "/dev/fuse", "target": "/dev/fuse", "permissions": "rwm"},
            {"source": "/dev/null", "target": "/dev/nothing", "permissions": "rwm"},
            {"source": "/dev/zero", "target": "/dev/z", "permissions": "r"},
            {"source": "/dev/full", "target": "/dev/full", "permissions": "rw"},
        ],
        # UnitBytes: a string of bytes
        "shm_size": str(64 << 20),
        "mem_limit": str(128 << 20),
        "memswap_limit": str(256 << 20),
        "oom_score_adj": -500,
        "cpus": 1.5,
        "cpu_shares": 512,
        "cpu_quota": 50000,
        "cpu_period": 100000,
        "pids_limit": 64,
        "deploy": {"resources": {"limits": {"cpus": 1.5, "memory": str(128 << 20), "pids": 64}}},
    }


# --- errors -------------------------------------------------------------------------------


def test_bad_values_are_reported_with_their_paths(load_files: Load) -> None:
    text = (
        "services:\n  web:\n    image: x\n"
        "    ulimits: {nofile: {soft: 10, hard: 5}, nosuch: 1}\n"
        "    devices: ['/dev/a:/dev/b:rx', 'a:b:c:d']\n"
        "    security_opt: [apparmor]\n"
        "    shm_size: lots\n"
        "    cpus: many\n"
        "    pids_limit: some\n"
        "    mem_limit: 1g\n"
        "    deploy: {resources: {limits: {memory: 2g}}}\n"
    )
    found = [p.split(": ", 1)[1] for p in problems_of(load_files, {"compose.yaml": text})]
    assert found == [
        "services.web.ulimits.nofile: ulimit soft limit must be less than or equal to hard "
        "limit: 10 > 5",
        "services.web.ulimits.nosuch: invalid ulimit type: nosuch",
        "services.web.devices[0]: 'rx' is not device permissions (some of rwm)",
        "services.web.devices[1]: 'a:b:c:d' is not HOST[:CONTAINER[:PERMISSIONS]]",
        'services.web.security_opt[0]: invalid security-opt: "apparmor"',
        "services.web.shm_size: 'lots' is not a size (e.g. 65536, 64m, 1g)",
        "services.web.cpus: 'many' is not a number of CPUs (e.g. 0.5, 2)",
        "services.web.pids_limit: 'some' is not an integer",
        "services.web.mem_limit: can't set distinct values on 'mem_limit' and "
        "'deploy.resources.limits.memory'",
    ]


def test_keys_the_engine_refuses_stay_refused_by_name(load_files: Load) -> None:
    text = "services:\n  web:\n    image: x\n    mem_reservation: 1g\n    oom_kill_disable: true\n"
    found = [p.split(": ", 1)[1] for p in problems_of(load_files, {"compose.yaml": text})]
    assert found == [
        "services.web.mem_reservation: `mem_reservation` is not supported by hatoba (service "
        "web): its engine does not apply HostConfig.MemoryReservation yet",
        "services.web.oom_kill_disable: `oom_kill_disable` is not supported by hatoba (service "
        "web): its engine does not apply HostConfig.OomKillDisable yet",
    ]


# --- hashes -------------------------------------------------------------------------------


def test_files_without_knobs_keep_their_hashes(load_files: Load) -> None:
    text = (
        "services:\n  web:\n    image: alpine\n    command: [sleep, '1']\n"
        "    ports: ['8080:80']\n    environment: {A: b}\n"
        "    deploy: {replicas: 2}\n    privileged: false\n    read_only: false\n"
    )
    # the hash this service had before hatoba's compose knew these keys (and volumes)
    expected = "24a20ec909e8d6cb134005e5952213a123fd5ef19872cee02bc9cfcbc78f1b75"
    assert project_of(load_files, text).service("web").config_hash == expected


def test_the_hash_follows_each_knob(load_files: Load) -> None:
    def hash_of(extra: str) -> str:
        return (
            project_of(load_files, f"services: {{a: {{image: x{extra}}}}}\n")
            .service("a")
            .config_hash
        )

    base = hash_of("")
    variants = [
        ", cap_add: [NET_ADMIN]", ", cap_drop: [ALL]", ", privileged: true",
        ", sysctls: {net.core.somaxconn: 1}", ", read_only: true",
        ", security_opt: [no-new-privileges]", ", ulimits: {nofile: 5}", ", shm_size: 1m",
        ", devices: [/dev/fuse]", ", device_cgroup_rules: ['c 1:3 r']", ", oom_score_adj: 5",
        ", mem_limit: 1g", ", memswap_limit: -1", ", cpus: 1", ", cpu_shares: 2",
        ", cpu_quota: 1000", ", cpu_period: 1000", ", pids_limit: 5",
        ", deploy: {resources: {limits: {pids: 5}}}",
    ]  # fmt: skip
    hashes = [hash_of(v) for v in variants]
    assert base not in hashes and len(set(hashes)) == len(hashes)
    assert hash_of(", mem_limit: 1g") == hash_of(", mem_limit: 1073741824")
