"""`make demo-cluster` keeps working: two hosts, a cross-host ping by name, VXLAN on the wire."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.root


def test_demo_cluster_shows_a_cross_host_ping_inside_vxlan() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hatoba.demo_cluster"], capture_output=True, text=True, timeout=120
    )
    out = result.stdout
    assert result.returncode == 0, out[-3000:] + result.stderr[-3000:]
    for expected in (
        "Store: etcd://192.0.2.254:2379 (connected)",
        "ov1       overlay   global",
        "64 bytes from web2.ov1",
        "> 192.0.2.2.4789: VXLAN, flags [I] (0x08), vni 4097",
        "> 10.10.0.",  # the inner packet, container to container
        # the VXLAN device is in the segment, its UDP socket in the host's namespace
        "dst 192.0.2.2 link-netnsid 0 self permanent",
        "The hosts, the underlay and etcd are gone",
    ):
        assert expected in out, expected
