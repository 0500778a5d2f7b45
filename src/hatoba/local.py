"""The engine in-process with its real adapters: what the service serves, and what Python
programs (tests, benchmarks) can drive directly.

    local = open_local(root, run_root, resolv_conf)    # before the process starts threads
    local.engine.bootstrap()
    ...
    local.close()

The fork server is forked here unless one is passed in, so call this before anything starts a
thread; the calling thread's network namespace becomes "the host".
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hatoba.engine.core import Paths
from hatoba.engine.engine import Engine
from hatoba.engine.ports import NO_CLUSTER, NO_DNS, Cluster, Resolver
from hatoba.engine.state import Addresses, State
from hatoba.images import ImageStore
from hatoba.images.engine_view import EngineImages
from hatoba.kernel import cgroups
from hatoba.kernel.firewall import NftFirewall
from hatoba.kernel.host import HostKernel
from hatoba.kernel.netns import make_shared_dir
from hatoba.kernel.portbind import PortReservations
from hatoba.model.daemon import DaemonConfig
from hatoba.runtime.crun import CrunRuntime
from hatoba.runtime.forkserver import ForkServer
from hatoba.runtime.storage import VolumeStorage
from hatoba.store.sqlite import SqliteStore


@dataclass
class LocalEngine:
    engine: Engine
    paths: Paths
    kernel: HostKernel
    runtime: CrunRuntime
    store: SqliteStore
    forkserver: ForkServer
    owns_forkserver: bool
    images: ImageStore
    firewall: NftFirewall
    ports: PortReservations

    def close(self) -> None:
        self.firewall.close()
        self.ports.close()
        self.kernel.close()
        self.store.close()
        if self.owns_forkserver:
            self.forkserver.close()


def open_local(
    root: Path,
    run_root: Path,
    resolv_conf: Path,
    forkserver: ForkServer | None = None,
    dns: Resolver = NO_DNS,
    cluster: Cluster = NO_CLUSTER,
    config: DaemonConfig | None = None,
    cgroup_parent: str | None = None,
) -> LocalEngine:
    """`cgroup_parent`: the folder of containers' cgroups in each hierarchy (default
    `hatoba`, kernel/cgroups.py)."""
    owns = forkserver is None
    fs = forkserver or ForkServer.start()
    paths = Paths(root=root, run_root=run_root, resolv_conf=resolv_conf)
    root.mkdir(parents=True, exist_ok=True)
    make_shared_dir(str(paths.netns_dir))
    store = SqliteStore(root)
    snapshot = store.load()
    state = State(
        networks={n.id: n for n in snapshot.networks},
        containers={c.id: c for c in snapshot.containers},
        volumes={v.name: v for v in snapshot.volumes},
    )
    addresses = Addresses(
        last=dict(snapshot.meta.get("last_address", {})),
        pending={k: dict(v) for k, v in snapshot.meta.get("pending", {}).items()},
    )
    kernel = HostKernel(str(paths.netns_dir))
    firewall, ports = NftFirewall(fs.nft, str(paths.netns_dir)), PortReservations()
    runtime = CrunRuntime(fs, root, run_root, cgroup_parent=cgroup_parent or cgroups.DEFAULT_PARENT)
    images = ImageStore(root)
    images.recover()
    engine = Engine.open(
        paths,
        store,
        kernel,
        runtime,
        EngineImages(images),
        state,
        dns,
        firewall,
        ports,
        addresses,
        cluster,
        storage=VolumeStorage(root, run_root),
        config=config,
    )
    return LocalEngine(engine, paths, kernel, runtime, store, fs, owns, images, firewall, ports)
