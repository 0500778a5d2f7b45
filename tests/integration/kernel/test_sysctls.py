"""Sysctl writes on the real kernel: the namespace's own (the home namespace's from any thread,
a container namespace's from a thread inside it), a directory's several at once, and errors
that name the whole key; each namespace's own whichever procfs instance they are looked up
through, and the mounted /proc's where the kernel makes none."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from hatoba.errors import KernelError
from hatoba.kernel import libc, netns
from hatoba.kernel.fw_netns import HomeNetns
from hatoba.kernel.netns import call_in_netns, open_sysctl, write_sysctl, write_sysctls
from hatoba.testing import Sandbox

pytestmark = pytest.mark.root


def sysctl(veths: Sandbox, key: str) -> str:
    return veths.sh(["cat", f"/proc/sys/{key}"]).stdout.strip()


def test_the_home_namespace_is_written_from_a_thread_elsewhere(veths: Sandbox) -> None:
    home = call_in_netns(str(veths.host), HomeNetns)
    try:
        home.write_sysctls("net/ipv6/conf/a0", {"accept_ra": "0", "disable_ipv6": "1"})
        home.write_sysctl("net/ipv6/conf/b0/accept_dad", "0")
        home.write_sysctl("net/ipv4/conf/a0/route_localnet", "1")
        # the directory kept from the writes before serves another link's
        home.write_sysctls("net/ipv6/conf/b0", {"disable_ipv6": "1"})
        with pytest.raises(KernelError) as refused:
            home.write_sysctls("net/ipv6/conf/gone0", {"disable_ipv6": "1"})
    finally:
        home.close()
    assert refused.value.errno == errno.ENOENT
    assert "net.ipv6.conf.gone0.disable_ipv6" in str(refused.value)
    assert [
        sysctl(veths, key)
        for key in (
            "net/ipv6/conf/a0/accept_ra",
            "net/ipv6/conf/a0/disable_ipv6",
            "net/ipv6/conf/b0/accept_dad",
            "net/ipv4/conf/a0/route_localnet",
            "net/ipv6/conf/b0/disable_ipv6",
        )
    ] == ["0", "1", "0", "1", "1"]


def test_a_namespace_is_written_from_a_thread_inside_it(veths: Sandbox) -> None:
    call_in_netns(
        str(veths.host), lambda: write_sysctls("net/ipv6/conf/default", {"accept_ra": "0"})
    )
    call_in_netns(str(veths.host), lambda: write_sysctl("net/ipv6/conf/a0/accept_ra", "0"))
    assert sysctl(veths, "net/ipv6/conf/default/accept_ra") == "0"
    assert sysctl(veths, "net/ipv6/conf/a0/accept_ra") == "0"
    with pytest.raises(KernelError) as refused:
        call_in_netns(str(veths.host), lambda: write_sysctl("net/ipv6/conf/a0/no_such", "1"))
    assert "net.ipv6.conf.a0.no_such" in str(refused.value)


def _read(key: str) -> str:
    fd = open_sysctl(key)
    try:
        return os.read(fd, 64).decode().strip()
    finally:
        os.close(fd)


def test_each_namespace_reads_its_own_through_every_procfs_instance(veths: Sandbox) -> None:
    host = str(veths.host)
    own_before = Path("/proc/sys/net/ipv6/conf/default/accept_ra").read_text().strip()
    seen = []
    # more lookups than one procfs instance serves, from two namespaces in turn
    for i in range(2 * netns._LOOKUPS_PER_PROC + 1):
        value = str(i % 3)
        call_in_netns(host, lambda v=value: write_sysctl("net/ipv6/conf/a0/accept_ra", v))
        inside = call_in_netns(host, lambda: _read("net/ipv6/conf/a0/accept_ra"))
        seen.append((inside, _read("net/ipv6/conf/default/accept_ra")))
    assert seen == [(str(i % 3), own_before) for i in range(len(seen))]
    assert sysctl(veths, "net/ipv6/conf/a0/accept_ra") == str((len(seen) - 1) % 3)


def test_without_a_procfs_of_its_own_the_mounted_one_serves(
    veths: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    refusals = []

    def refused(fstype: str) -> int:
        refusals.append(fstype)
        raise KernelError("fsopen proc: Operation not permitted", errno.EPERM)

    monkeypatch.setattr(libc, "detached_mount", refused)
    monkeypatch.setattr(netns, "_SYSCTL_ROOT", netns._SysctlRoot())
    host = str(veths.host)
    call_in_netns(host, lambda: write_sysctl("net/ipv6/conf/a0/accept_ra", "2"))
    assert call_in_netns(host, lambda: _read("net/ipv6/conf/a0/accept_ra")) == "2"
    assert refusals == ["proc"]  # asked once, not at every lookup
