"""Throwaway sandboxes for tests, demos and benchmarks: a namespace that plays the host."""

from hatoba.testing.sandbox import Sandbox

__all__ = ["Sandbox"]
