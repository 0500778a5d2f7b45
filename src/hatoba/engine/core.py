"""What every use case shares: the ports, the live state and how changes are committed."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from hatoba.dns import DnsRecord
from hatoba.engine import faults
from hatoba.engine.ports import (
    NO_CLUSTER,
    NO_DNS,
    NO_FIREWALL,
    NO_PORTS,
    Cluster,
    Firewall,
    Images,
    NetKernel,
    PortReserver,
    Resolver,
    Runtime,
    Storage,
    Store,
)
from hatoba.engine.state import Addresses, HeldNetwork, OverlayBook, State
from hatoba.firewall import FirewallState
from hatoba.model.container import Container
from hatoba.model.daemon import DaemonConfig
from hatoba.model.mounts import Volume
from hatoba.model.network import Network


@dataclass(frozen=True)
class Paths:
    root: Path
    run_root: Path
    resolv_conf: Path

    @property
    def netns_dir(self) -> Path:
        return self.run_root / "netns"

    def netns(self, container_id: str) -> str:
        return str(self.netns_dir / container_id)

    @staticmethod
    def process_netns(pid: int) -> str:
        """The namespace a process runs in (how `--net container:` finds another's, as
        Docker does: it may have no handle of its own)."""
        return f"/proc/{pid}/ns/net"


Listener = Callable[[], None]
# container id -> (the container, its DNS records), as the DNS server was last told
NameCache = dict[str, tuple[Container | None, tuple[DnsRecord, ...]]]


@dataclass
class Core:
    paths: Paths
    store: Store
    kernel: NetKernel
    runtime: Runtime
    images: Images
    storage: Storage
    # replaced whole on every commit, never changed in place (see engine/state.py)
    state: State = field(default_factory=State)
    addresses: Addresses = field(default_factory=Addresses)
    # network id -> a removed network whose bridges are still being deleted
    held_networks: dict[str, HeldNetwork] = field(default_factory=dict)
    # called after every committed change (DNS tables, firewall, waiters)
    listeners: list[Listener] = field(default_factory=list)
    # the embedded DNS server; without one (NO_DNS), containers keep the host's resolvers
    dns: Resolver = NO_DNS
    # hatoba's nftables tables and the host ports published through them; without them
    # (NO_FIREWALL, NO_PORTS), nothing is masqueraded, isolated or published
    firewall: Firewall = NO_FIREWALL
    port_reserver: PortReserver = NO_PORTS
    # what the tables were last asked to hold; None until bootstrap synced them
    fw_state: FirewallState | None = None
    # containers whose part in the tables may differ from their records: committed since the
    # tables last followed a change, or taken then as they were about to be (engine/firewall.py)
    fw_unsure: set[str] = field(default_factory=set)
    # the store shared with other hosts (overlay networks); without one (NO_CLUSTER) the
    # host is on its own
    cluster: Cluster = NO_CLUSTER
    overlay: OverlayBook = field(default_factory=OverlayBook)
    # <root>/daemon.json as the service read it at start
    config: DaemonConfig = field(default_factory=DaemonConfig)
    # what the DNS server was last told (engine/resolver.py `publish`)
    name_cache: NameCache = field(default_factory=dict)
    # containers whose names may differ from what the server was told: committed since, or
    # told as they were about to be; None: every container (nothing was told yet)
    names_unsure: set[str] | None = None
    # other hosts' containers whose names the server was told
    remote_named: set[str] = field(default_factory=set)

    def commit(
        self,
        *,
        networks: Iterable[Network] = (),
        containers: Iterable[Container] = (),
        removed_networks: Iterable[str] = (),
        removed_containers: Iterable[str] = (),
        volumes: Iterable[Volume] = (),
        removed_volumes: Iterable[str] = (),
    ) -> None:
        """Write the changes in one transaction, then (only then) make them live in memory:
        the next snapshot replaces the current one in one reference assignment."""
        networks, containers = list(networks), list(containers)
        removed_networks, removed_containers = list(removed_networks), list(removed_containers)
        volumes, removed_volumes = list(volumes), list(removed_volumes)
        for nid in removed_networks:
            self.addresses.forget_network(nid)
        with self.store.transaction() as tx:
            for n in networks:
                tx.put_network(n)
            for c in containers:
                tx.put_container(c)
            for nid in removed_networks:
                tx.delete_network(nid)
            for cid in removed_containers:
                tx.delete_container(cid)
            for volume in volumes:
                tx.put_volume(volume)
            for name in removed_volumes:
                tx.delete_volume(name)
            tx.set_meta("last_address", self.addresses.last)
            tx.set_meta("pending", self.addresses.pending)
        faults.reached("commit")
        self.state = self.state.changed(
            networks, containers, removed_networks, removed_containers, volumes, removed_volumes
        )
        self._unsure(c.id for c in containers)
        self._unsure(removed_containers)
        for listener in self.listeners:
            listener()

    def commit_in_memory(self, containers: Iterable[Container]) -> None:
        """A change not worth a disk write and of no interest to listeners (a health check's
        result with the same status): the next snapshot only. The store catches up with the
        container's next commit."""
        containers = list(containers)
        self.state = self.state.changed(containers=containers)
        self._unsure(c.id for c in containers)

    def _unsure(self, ids: Iterable[str]) -> None:
        ids = list(ids)
        self.fw_unsure.update(ids)
        if self.names_unsure is not None:
            self.names_unsure.update(ids)
