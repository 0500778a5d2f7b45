"""The runtime in a service that holds more descriptors than select() can watch."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import cast

import pytest

from fixtures.descriptors import holding_descriptors
from hatoba.model.resources import CgroupSupport
from hatoba.runtime.crun import CrunRuntime
from hatoba.runtime.forkserver import ForkServer

pytestmark = pytest.mark.root

# no cgroup probe: it would make hatoba's folder in the machine's own hierarchies
NO_CGROUPS = CgroupSupport()


def test_undoing_a_created_container_waits_for_its_shim_past_1024_descriptors(
    tmp_path: Path,
) -> None:
    runtime = CrunRuntime(
        cast(ForkServer, None), tmp_path / "root", tmp_path / "run", cgroup_support=NO_CGROUPS
    )
    shim = subprocess.Popen(["sleep", "0.2"])  # stands in for the shim, which exits by itself
    try:
        with holding_descriptors(3000):
            runtime._stop("0" * 64, shim.pid)  # its pidfd is numbered past 1024
        assert shim.poll() is not None
    finally:
        shim.kill()
        shim.wait()
