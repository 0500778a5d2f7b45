"""Throwaway sandboxes for tests, demos and benchmarks: a namespace that plays the host, and
several of them sharing an underlay and an etcd (a cluster)."""

from hatoba.testing.cluster import Cluster
from hatoba.testing.sandbox import Sandbox

__all__ = ["Cluster", "Sandbox"]
