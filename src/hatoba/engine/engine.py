"""The engine in one object: what the API server (or a Python program) calls.

Not thread-safe by design: the service calls it from a single worker thread, so every use case
runs alone and sees a consistent state. Waiting (for exits, for timeouts) is the caller's job.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from ipaddress import IPv4Address, IPv6Address

from hatoba.engine import (
    cluster,
    containers,
    firewall,
    health,
    links,
    networks,
    processes,
    repair,
    resolver,
    system,
    volumes,
)
from hatoba.engine.containers import CreateRequest, UpdateRequest
from hatoba.engine.core import Core, Paths
from hatoba.engine.ports import (
    NO_CLUSTER,
    NO_DNS,
    NO_FIREWALL,
    NO_PORTS,
    NO_STORAGE,
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
from hatoba.engine.processes import ExecRequest
from hatoba.engine.state import Addresses, State
from hatoba.errors import HatobaError
from hatoba.firewall import FirewallState
from hatoba.model.cluster import ClusterHost, ClusterInfo
from hatoba.model.container import Container
from hatoba.model.daemon import DaemonConfig
from hatoba.model.health import ProbeResult
from hatoba.model.launch import FileView, ProcessSpec
from hatoba.model.mounts import Volume
from hatoba.model.network import Network, NetworkSpec
from hatoba.model.resources import CgroupSupport


class Engine:
    def __init__(self, core: Core) -> None:
        self.core = core
        # what of daemon.json could not be applied at start (the service runs on without it)
        self.config_warnings: list[str] = []

    @classmethod
    def open(
        cls,
        paths: Paths,
        store: Store,
        kernel: NetKernel,
        runtime: Runtime,
        images: Images,
        state: State,
        dns: Resolver = NO_DNS,
        firewall: Firewall = NO_FIREWALL,
        ports: PortReserver = NO_PORTS,
        addresses: Addresses | None = None,
        cluster: Cluster = NO_CLUSTER,
        storage: Storage = NO_STORAGE,
        config: DaemonConfig | None = None,
    ) -> Engine:
        core = Core(
            paths,
            store,
            kernel,
            runtime,
            images,
            storage,
            state,
            dns=dns,
            firewall=firewall,
            port_reserver=ports,
            addresses=addresses or Addresses(),
            cluster=cluster,
            config=config or DaemonConfig(),
        )
        core.listeners.append(partial(resolver.publish, core))
        return cls(core)

    @property
    def state(self) -> State:
        """The current snapshot: safe to read from any thread (see engine/state.py)."""
        return self.core.state

    def on_change(self, listener: Callable[[], None]) -> None:
        self.core.listeners.append(listener)

    # --- system -----------------------------------------------------------------------------

    def bootstrap(self) -> list[str]:
        """Predefined networks, then reconciliation; returns the ids of running containers."""
        system.ensure_predefined(self.core)
        running = system.reconcile(self.core)
        self.config_warnings = system.apply_config(self.core)
        firewall.restore(self.core, running)
        resolver.restore(self.core, running)
        return running

    def due_at_start(self) -> list[str]:
        """After bootstrap: the stopped containers whose restart policy starts them now."""
        return system.due_at_start(self.core)

    def repair(self) -> list[Container]:
        """Links changed behind our back: make them match the records again (engine/repair.py).
        Returns the containers that could not be repaired whole."""
        running = [c.id for c in self.state.containers.values() if c.state.running]
        return repair.repair_links(self.core, running)

    def cluster_info(self) -> ClusterInfo | None:
        """The cluster store, this host's id in it and the hosts it sees (None: no cluster);
        from the store's cache: any thread may ask."""
        return self.core.cluster.info()

    def network_peers(self, network: Network) -> tuple[ClusterHost, ...]:
        """The hosts with endpoints on a cluster-scoped network (Docker's `Peers`), from the
        store's cache: any thread may ask."""
        return cluster.peers_of(self.core, network)

    def follow_cluster(self) -> None:
        """The cluster store's cache changed (or reconnected): networks, peers, names and
        this host's registrations follow it (engine/cluster.py)."""
        cluster.sync(self.core)

    def reset(self) -> None:
        system.reset(self.core)

    def firewall_reload(self) -> None:
        """Rebuild hatoba's tables from the records, in one transaction."""
        firewall.reload(self.core)

    def firewall_warnings(self) -> list[str]:
        """What keeps containers' forwarded traffic from passing the host's own firewalls."""
        return self.core.firewall.warnings()

    def cgroup_support(self) -> CgroupSupport:
        """What the host lets containers limit (`/info`)."""
        return self.core.runtime.cgroups()

    def firewall_state(self) -> FirewallState:
        """What the tables hold (empty before bootstrap and after a reset)."""
        return self.core.fw_state or FirewallState()

    # --- networks ---------------------------------------------------------------------------

    def network(self, ref: str) -> Network:
        return self.state.network(ref)

    def create_network(self, spec: NetworkSpec) -> Network:
        return networks.create_network(self.core, spec)

    def network_warnings(self, network: Network) -> list[str]:
        """What the host's own firewalls do to the network's traffic, and what its driver
        wants the user to know of it."""
        return networks.warnings(self.core, network)

    def remove_network(self, ref: str) -> Network:
        return networks.remove_network(self.core, ref)

    def prune_networks(self, matches: Callable[[Network], bool]) -> list[str]:
        return networks.prune_networks(self.core, matches)

    def connect(
        self,
        network: str,
        container: str,
        aliases: Sequence[str] = (),
        ipv4: IPv4Address | None = None,
        links: Sequence[str] = (),
        mac: str = "",
        ipv6: IPv6Address | None = None,
        driver_opts: Mapping[str, str] | None = None,
        link_local_ips: Sequence[IPv4Address | IPv6Address] = (),
    ) -> Container:
        return networks.connect(
            self.core,
            network,
            container,
            aliases,
            ipv4,
            links,
            mac,
            ipv6,
            driver_opts,
            link_local_ips,
        )

    def disconnect(self, network: str, container: str, force: bool = False) -> Container:
        return networks.disconnect(self.core, network, container, force)

    # --- containers -------------------------------------------------------------------------

    def container(self, ref: str) -> Container:
        return self.state.container(ref)

    def create_container(self, request: CreateRequest) -> Container:
        # a start usually follows: the runtime gets the kernel ready for it meanwhile
        with self.core.runtime.creating():
            return containers.create(self.core, request)

    def create_containers(self, requests: Sequence[CreateRequest]) -> list[Container | HatobaError]:
        """Each container, or why it was not made; one commit (engine/containers.py)."""
        return containers.create_many(self.core, requests)

    def start(self, ref: str, expect_attach: int = 0) -> Container:
        return containers.start(self.core, ref, expect_attach)

    def start_many(self, wanted: Sequence[tuple[str, int]]) -> list[Container | HatobaError]:
        """Start these containers (by id, with the attach clients each shim waits for) in one
        operation: one firewall transaction, one DNS update, one commit (engine/starts.py)."""
        return containers.start_many(self.core, wanted)

    def restart_by_policy(self, container_id: str) -> Container | None:
        return containers.restart_by_policy(self.core, container_id)

    def kill(self, ref: str, signum: int) -> Container:
        return containers.kill(self.core, ref, signum)

    def pause(self, ref: str) -> Container:
        return containers.pause(self.core, ref)

    def unpause(self, ref: str) -> Container:
        return containers.unpause(self.core, ref)

    def update(self, ref: str, request: UpdateRequest) -> Container:
        return containers.update(self.core, ref, request)

    def stop_restarting(self, container_id: str) -> Container:
        return containers.stop_restarting(self.core, container_id)

    def exited(self, container_id: str, may_restart: bool = True) -> Container | None:
        return containers.exited(self.core, container_id, may_restart)

    def exited_many(self, exits: Sequence[tuple[str, bool]]) -> list[Container | None]:
        """`exited` of several containers (id, may restart): one firewall transaction and
        one commit."""
        return containers.exited_many(self.core, exits)

    def record_health(
        self, container_id: str, started_at: str, result: ProbeResult
    ) -> Container | None:
        return health.record(self.core, container_id, started_at, result)

    def rename(self, ref: str, new_name: str) -> Container:
        return containers.rename(self.core, ref, new_name)

    def remove(self, ref: str, with_volumes: bool = False) -> Container:
        return containers.remove(self.core, ref, with_volumes)

    def remove_link(self, name: str) -> Container:
        """`rm --link /parent/alias`: returns the parent, which no longer has the link."""
        return links.remove(self.core, name)

    # --- volumes ----------------------------------------------------------------------------

    def create_volume(
        self,
        name: str,
        driver: str = "",
        labels: Mapping[str, str] | None = None,
        options: Mapping[str, str] | None = None,
    ) -> Volume:
        return volumes.create(self.core, name, driver, labels, options)

    def remove_volume(self, name: str, force: bool = False) -> None:
        volumes.remove(self.core, name, force)

    def prune_volumes(self, matches: Callable[[Volume], bool]) -> tuple[list[str], int]:
        return volumes.prune(self.core, matches)

    def volume_path(self, name: str) -> str:
        """Where a volume's files are (what inspect calls its Mountpoint)."""
        return self.core.storage.volume_path(name)

    def volume_size(self, name: str) -> int:
        """Bytes in the volume's folder (reads files: call off the event loop)."""
        return self.core.storage.volume_size(name)

    def file_view(self, ref: str) -> FileView:
        """What `cp`, `export`, `diff` and `commit` see of a container (reads the image
        store: call off the event loop)."""
        return volumes.file_view(self.core, self.state.container(ref))

    def prune_containers(self, matches: Callable[[Container], bool]) -> list[Container]:
        """Remove the containers that do not run (nor wait for a restart) that `matches`
        picks; returns them."""
        return containers.prune(self.core, matches)

    def remove_many(self, ids: Sequence[str]) -> list[Container | HatobaError]:
        return containers.remove_many(self.core, ids)

    def exec_process(self, ref: str, request: ExecRequest) -> ProcessSpec:
        """What `exec` runs in a running container (changes nothing: any thread may ask)."""
        container = self.core.state.container(ref)
        linked = links.at_start(self.core, container)
        return processes.exec_process(self.core, container, request, linked.env)
