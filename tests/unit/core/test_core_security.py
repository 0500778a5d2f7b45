"""What a container's processes may do (model/security.py) and the textual forms docker's CLI
reads (model/knobs.py): capability sets as moby computes them, sysctls as runc allows them,
security options, devices, sizes, CPUs and ulimits, with Docker's texts."""

from __future__ import annotations

import pytest

from hatoba.errors import InvalidArgument
from hatoba.model import knobs
from hatoba.model.security import (
    CAPABILITIES,
    DEFAULT_CAPS,
    HOST_NETWORK,
    JOINED_NETWORK,
    OWN_NETWORK,
    DeviceMapping,
    DeviceRule,
    Security,
    capabilities,
    device_rule,
    validate,
)

EVERYTHING = frozenset(CAPABILITIES)


def caps(**asked: object) -> tuple[str, ...]:
    return capabilities(Security(**asked), EVERYTHING)  # type: ignore[arg-type]


def test_the_capability_table_is_the_kernels_numbering() -> None:
    assert CAPABILITIES.index("CAP_NET_ADMIN") == 12
    assert CAPABILITIES.index("CAP_MKNOD") == 27
    assert CAPABILITIES.index("CAP_CHECKPOINT_RESTORE") == 40
    # Docker's default set, as /proc/<pid>/status shows it
    assert sum(1 << CAPABILITIES.index(c) for c in DEFAULT_CAPS) == 0xA80425FB


def test_docker_default_set_and_its_tweaks() -> None:
    assert caps() == DEFAULT_CAPS
    assert "CAP_NET_ADMIN" not in caps()
    assert caps(cap_add=("net_admin",)) == (*DEFAULT_CAPS, "CAP_NET_ADMIN")
    assert caps(cap_add=("CAP_NET_ADMIN",), cap_drop=("mknod", "Chown")) == (
        *(c for c in DEFAULT_CAPS if c not in ("CAP_MKNOD", "CAP_CHOWN")),
        "CAP_NET_ADMIN",
    )
    # ALL: everything but what is dropped, or only what is added
    assert caps(cap_add=("ALL",), cap_drop=("NET_ADMIN",)) == tuple(
        c for c in CAPABILITIES if c != "CAP_NET_ADMIN"
    )
    assert caps(cap_drop=("all",), cap_add=("chown", "CHOWN")) == ("CAP_CHOWN",)
    assert caps(cap_drop=("all",)) == ()
    # a capability both added and dropped is kept, as moby's TweakCapabilities keeps it
    assert "CAP_NET_RAW" in caps(cap_add=("NET_RAW",), cap_drop=("NET_RAW",))


def test_privileged_gets_everything_the_runtime_has() -> None:
    assert caps(privileged=True, cap_drop=("ALL",)) == CAPABILITIES
    without = EVERYTHING - {"CAP_SYS_RESOURCE"}
    found = capabilities(Security(privileged=True), without)
    assert "CAP_SYS_RESOURCE" not in found and len(found) == len(CAPABILITIES) - 1
    assert capabilities(Security(cap_add=("ALL",)), without) == found


def test_without_a_device_cgroup_mknod_is_not_in_the_default_set() -> None:
    found = capabilities(Security(), EVERYTHING, device_cgroup=False)
    assert found == tuple(c for c in DEFAULT_CAPS if c != "CAP_MKNOD")
    asked = capabilities(Security(cap_add=("MKNOD",)), EVERYTHING, device_cgroup=False)
    assert "CAP_MKNOD" in asked


@pytest.mark.parametrize(
    ("asked", "message"),
    [
        (Security(cap_add=("FOO",)), 'invalid CapAdd: unknown capability: "CAP_FOO"'),
        (Security(cap_drop=("cap_nope",)), 'invalid CapDrop: unknown capability: "CAP_NOPE"'),
        (
            Security(cap_add=("SYS_RESOURCE",)),
            'invalid CapAdd: "CAP_SYS_RESOURCE" is not among the capabilities of the hatoba '
            "service itself, so it cannot give it to a container",
        ),
        (Security(security_opt=("foo",)), 'invalid --security-opt 1: "foo"'),
        (Security(security_opt=("foo=bar",)), 'invalid --security-opt 2: "foo=bar"'),
        (
            Security(security_opt=("no-new-privileges=maybe",)),
            'invalid --security-opt 2: "no-new-privileges=maybe"',
        ),
        (
            Security(security_opt=("seccomp=/x.json",)),
            '--security-opt "seccomp=/x.json": hatoba applies no seccomp profiles (only '
            "seccomp=unconfined is accepted)",
        ),
        (
            Security(security_opt=("apparmor=docker-default",)),
            '--security-opt "apparmor=docker-default": hatoba applies no AppArmor (only '
            "apparmor=unconfined is accepted)",
        ),
        (
            Security(device_cgroup_rules=("c 1:3",)),
            "invalid device cgroup rule format: 'c 1:3'",
        ),
        (
            Security(devices=(DeviceMapping("/dev/fuse", "fuse"),)),
            "fuse is not an absolute path",
        ),
        (
            Security(devices=(DeviceMapping("/dev/fuse", "/dev/fuse", "rwx"),)),
            "bad mode specified: rwx",
        ),
        (Security(oom_score_adj=1001), "Invalid value 1001, range for oom score adj is [-1000, 1000]"),  # noqa: E501
    ],
)  # fmt: skip
def test_what_docker_refuses(asked: Security, message: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        validate(asked, OWN_NETWORK, EVERYTHING - {"CAP_SYS_RESOURCE"})
    assert refused.value.message == message


def test_security_options_hatoba_takes() -> None:
    options = (
        "no-new-privileges",
        "no-new-privileges=false",
        "no-new-privileges:true",
        "seccomp=unconfined",
        "seccomp:unconfined",
        "apparmor=unconfined",
        "label=disable",
        "label:disable",
        "disable",
    )
    validate(Security(security_opt=options), OWN_NETWORK, EVERYTHING)
    assert Security(security_opt=options).no_new_privileges
    assert not Security(
        security_opt=("no-new-privileges", "no-new-privileges=false")
    ).no_new_privileges
    assert not Security().no_new_privileges


@pytest.mark.parametrize(
    ("name", "network", "message"),
    [
        ("net.ipv4.ip_forward", OWN_NETWORK, None),
        ("net/ipv4/ip_forward", OWN_NETWORK, None),
        ("kernel.shmmax", HOST_NETWORK, None),
        ("kernel.sem", JOINED_NETWORK, None),
        ("fs.mqueue.msg_max", HOST_NETWORK, None),
        ("kernel.domainname", OWN_NETWORK, None),
        ("net.ipv4.ip_forward", HOST_NETWORK, 'sysctl "net.ipv4.ip_forward" not allowed in host network namespace'),  # noqa: E501
        ("net.core.somaxconn", JOINED_NETWORK, 'sysctl "net.core.somaxconn" not allowed in the network namespace of another container'),  # noqa: E501
        ("kernel.hostname", OWN_NETWORK, 'sysctl "kernel.hostname" is not allowed as it conflicts with the OCI "hostname" field'),  # noqa: E501
        ("kernel.domainname", HOST_NETWORK, 'sysctl "kernel.domainname" is not in a separate kernel namespace'),  # noqa: E501
        ("kernel.pid_max", OWN_NETWORK, 'sysctl "kernel.pid_max" is not in a separate kernel namespace'),  # noqa: E501
        ("vm.swappiness", OWN_NETWORK, 'sysctl "vm.swappiness" is not in a separate kernel namespace'),  # noqa: E501
    ],
)  # fmt: skip
def test_sysctls_as_runc_allows_them(name: str, network: str, message: str | None) -> None:
    asked = Security(sysctls={name: "1"})
    if message is None:
        validate(asked, network, EVERYTHING)
        return
    with pytest.raises(InvalidArgument) as refused:
        validate(asked, network, EVERYTHING)
    assert refused.value.message == message


def test_sysctls_the_docker_cli_lets_through() -> None:
    for text in ("net.ipv4.ip_forward=1", "kernel.shmmax=1", "fs.mqueue.msg_max=5"):
        assert knobs.sysctl_whitelisted(text)
    # the CLI wants a value, and only names of the IPC and network namespaces
    for text in ("net.ipv4.ip_forward", "kernel.pid_max=1", "kernel.domainname=x"):
        assert not knobs.sysctl_whitelisted(text)


def test_device_cgroup_rules() -> None:
    assert device_rule("c 1:3 rwm") == DeviceRule(True, "c", 1, 3, "rwm")
    assert device_rule("b *:* m") == DeviceRule(True, "b", -1, -1, "m")
    assert device_rule("a 7:* r") == DeviceRule(True, "a", 7, -1, "r")


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("/dev/fuse", ("/dev/fuse", "/dev/fuse", "rwm")),
        ("/dev/fuse:r", ("/dev/fuse", "/dev/fuse", "r")),
        ("/dev/fuse:/dev/f", ("/dev/fuse", "/dev/f", "rwm")),
        ("/dev/fuse:/dev/./f/:mw", ("/dev/fuse", "/dev/./f/", "mw")),
        ("/dev//fuse", ("/dev/fuse", "/dev/fuse", "rwm")),
    ],
)
def test_device_flags(text: str, found: tuple[str, str, str]) -> None:
    assert knobs.parse_device(text) == found


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("/a:/b:rw:x", "bad format for path: /a:/b:rw:x"),
        (":/b", "bad format for path: :/b"),
        ("/dev/fuse:/f:rr", "bad mode specified: rr"),
        ("/dev/fuse:x", "x is not an absolute path"),
        ("fuse", "fuse is not an absolute path"),
    ],
)
def test_bad_device_flags(text: str, message: str) -> None:
    with pytest.raises(ValueError, match="^" + message.replace("/", ".") + "$"):
        knobs.parse_device(text)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("1024", 1024),
        ("10m", 10 << 20),
        ("10M", 10 << 20),
        ("10mb", 10 << 20),
        ("1.5g", 3 << 29),
        ("512 KiB", 512 << 10),
        ("1b", 1),
    ],
)
def test_sizes(text: str, size: int) -> None:
    assert knobs.ram_in_bytes(text) == size


@pytest.mark.parametrize("text", ["10x", "", "m", "-1", "1.5.5z", "10 mb extra"])
def test_bad_sizes(text: str) -> None:
    with pytest.raises(ValueError) as bad:
        knobs.ram_in_bytes(text)
    assert str(bad.value) == f"invalid size: '{text}'"


def test_memory_swap_may_be_unlimited() -> None:
    assert knobs.memory_swap("-1") == -1
    assert knobs.memory_swap("20m") == 20 << 20


def test_cpus() -> None:
    assert knobs.nano_cpus("0.5") == 500_000_000
    assert knobs.nano_cpus("2") == 2_000_000_000
    assert knobs.nano_cpus("1/4") == 250_000_000
    assert knobs.nano_cpus("0.000000001") == 1
    for text, message in (
        ("0.0000000001", "value is too precise"),
        ("abc", "failed to parse abc as a rational number"),
        ("1/0", "failed to parse 1/0 as a rational number"),
    ):
        with pytest.raises(ValueError) as bad:
            knobs.nano_cpus(text)
        assert str(bad.value) == message


def test_ulimits() -> None:
    assert knobs.parse_ulimit("nofile=1024:2048") == ("nofile", 1024, 2048)
    assert knobs.parse_ulimit("nproc=64") == ("nproc", 64, 64)
    assert knobs.parse_ulimit("core=-1") == ("core", -1, -1)
    assert knobs.parse_ulimit("core=0:-1") == ("core", 0, -1)
    for text, message in (
        ("nofile", "invalid ulimit argument: nofile"),
        ("as=1", "invalid ulimit type: as"),
        ("nofile=1:2:3", "too many limit value arguments - 1:2:3, can only have up to two, `soft[:hard]`"),  # noqa: E501
        ("nofile=x", 'strconv.ParseInt: parsing "x": invalid syntax'),
        ("nofile=2048:1024", "ulimit soft limit must be less than or equal to hard limit: 2048 > 1024"),  # noqa: E501
        ("nofile=-1:1024", "ulimit soft limit must be less than or equal to hard limit: soft: -1 (unlimited), hard: 1024"),  # noqa: E501
    ):  # fmt: skip
        with pytest.raises(ValueError) as bad:
            knobs.parse_ulimit(text)
        assert str(bad.value) == message
