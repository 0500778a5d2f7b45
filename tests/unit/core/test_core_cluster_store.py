"""The cluster store adapter: `--cluster etcd://HOST:PORT[,HOST:PORT...]` as it reads it, and
loaded only by a service started with `--cluster`."""

from __future__ import annotations

import subprocess
import sys

import pytest

from hatoba.errors import InvalidArgument
from hatoba.store.etcd import Endpoint, parse_cluster_url


def test_one_or_more_members() -> None:
    assert parse_cluster_url("etcd://192.0.2.254:2379") == (Endpoint("192.0.2.254", 2379),)
    assert parse_cluster_url("etcd://a:1, b:2") == (Endpoint("a", 1), Endpoint("b", 2))


@pytest.mark.parametrize(
    "bad", ["http://a:1", "etcd://", "etcd://a", "etcd://a:x", "etcd://a:0", "etcd://:1"]
)
def test_anything_else_is_refused_by_name(bad: str) -> None:
    with pytest.raises(InvalidArgument, match="invalid cluster store"):
        parse_cluster_url(bad)


def test_a_service_without_a_cluster_loads_no_etcd_client() -> None:
    """Start-up of a host of its own costs what it did before overlay networks."""
    code = (
        "import sys, hatoba.service, hatoba.local, hatoba.api.app, hatoba.api.clusterwatch;"
        "print(sorted(m for m in ('etcd3gw', 'requests', 'hatoba.store.etcd') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
