"""HostKernel's bridges on the real kernel, in a throwaway namespace: a bridge is configured
by the index its create echoed (no lookup), and a later create of the same name, after the
first bridge was deleted, is configured by the new bridge's index."""

from __future__ import annotations

from collections.abc import Iterator
from ipaddress import IPv4Interface

import pytest

from hatoba.errors import KernelError
from hatoba.kernel.host import HostKernel
from hatoba.kernel.netns import call_in_netns
from hatoba.testing import Sandbox

pytestmark = pytest.mark.root

GATEWAY = IPv4Interface("10.30.0.1/24")


@pytest.fixture
def kernel() -> Iterator[tuple[Sandbox, HostKernel]]:
    with Sandbox() as sb:
        host = call_in_netns(str(sb.host), HostKernel)
        try:
            yield sb, host
        finally:
            host.close()


def _no_lookups(host: HostKernel, monkeypatch: pytest.MonkeyPatch) -> None:
    def refused(name: str = "", index: int = 0) -> None:
        raise KernelError(f"looked up {name or index}")

    monkeypatch.setattr(host._host, "link", refused)


def test_a_bridge_is_configured_by_the_index_its_create_echoed(
    kernel: tuple[Sandbox, HostKernel], monkeypatch: pytest.MonkeyPatch
) -> None:
    sb, host = kernel
    _no_lookups(host, monkeypatch)
    for _ in range(2):  # the second bridge of that name has an index of its own
        host.create_bridge("br-echo", "02:42:0a:1e:00:01", 1500, (GATEWAY,), "net1")
        shown = sb.sh(["ip", "-o", "addr", "show", "dev", "br-echo"]).stdout
        assert "inet 10.30.0.1/24" in shown
        assert "UP" in sb.sh(["ip", "-o", "link", "show", "dev", "br-echo"]).stdout
        host.delete_link("br-echo")
