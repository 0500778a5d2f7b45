"""What every use case shares: the ports, the live state and how changes are committed."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from hatoba.engine.ports import (
    Firewall,
    Images,
    NetKernel,
    PortReserver,
    Resolver,
    Runtime,
    Store,
    StoreTransaction,
)
from hatoba.engine.state import State
from hatoba.firewall import FirewallState
from hatoba.model.container import Container
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


Listener = Callable[[], None]


@dataclass
class Core:
    paths: Paths
    store: Store
    kernel: NetKernel
    runtime: Runtime
    images: Images
    state: State = field(default_factory=State)
    # called after every committed change (DNS tables, firewall, waiters)
    listeners: list[Listener] = field(default_factory=list)
    # the embedded DNS server; without one, containers keep the host's resolvers
    dns: Resolver | None = None
    # hatoba's nftables tables and the host ports published through them; without them,
    # nothing is masqueraded, isolated or published
    firewall: Firewall | None = None
    port_reserver: PortReserver | None = None
    # what the tables were last asked to hold; None until bootstrap synced them
    fw_state: FirewallState | None = None

    def commit(
        self,
        *,
        networks: Iterable[Network] = (),
        containers: Iterable[Container] = (),
        removed_networks: Iterable[str] = (),
        removed_containers: Iterable[str] = (),
        extra: Callable[[StoreTransaction], None] | None = None,
    ) -> None:
        """Write the changes in one transaction, then (only then) make them live in memory."""
        networks, containers = list(networks), list(containers)
        removed_networks, removed_containers = list(removed_networks), list(removed_containers)
        with self.store.transaction() as tx:
            for n in networks:
                tx.put_network(n)
            for c in containers:
                tx.put_container(c)
            for nid in removed_networks:
                tx.delete_network(nid)
            for cid in removed_containers:
                tx.delete_container(cid)
            tx.set_meta("last_address", self.state.last_address)
            tx.set_meta("pending", self.state.pending)
            if extra is not None:
                extra(tx)
        for n in networks:
            self.state.networks[n.id] = n
        for c in containers:
            self.state.containers[c.id] = c
        for nid in removed_networks:
            self.state.networks.pop(nid, None)
            self.state.last_address.pop(nid, None)
        for cid in removed_containers:
            self.state.containers.pop(cid, None)
        for listener in self.listeners:
            listener()
