"""Container processes: OCI bundles run by crun under a small per-container shim."""
