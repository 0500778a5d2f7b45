"""What the engine needs from the outside world, as Protocols; adapters match them by shape.

The embedded DNS server, hatoba's firewall tables and the host port reservations are optional
pieces: an engine without one gets the no-op object below (netavark's `fwnone` is the
precedent), so the use cases call them alike and never test for their absence.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from contextlib import AbstractContextManager
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any, Protocol

from hatoba.dns import DnsAttachment, DnsRecord, Upstream
from hatoba.errors import HatobaError, InvalidArgument
from hatoba.firewall import FirewallState, FwPort
from hatoba.model.cluster import ClusterEndpoint, ClusterInfo, ClusterView
from hatoba.model.container import Container
from hatoba.model.host import (
    AttachRequest,
    HostFacts,
    HostLink,
    MacvlanRequest,
    OwnedLink,
    TunnelPeer,
)
from hatoba.model.image import ImageInfo
from hatoba.model.launch import ExitStatus, LaunchRequest, Started
from hatoba.model.mounts import Volume
from hatoba.model.network import IPAddress, Network
from hatoba.model.ports import PortMapping
from hatoba.model.resources import CgroupSupport, Resources
from hatoba.model.security import DeviceMapping


class NetKernel(Protocol):
    # ipv6: IPv6's routes and addresses too (a network without IPv6 needs no look at them)
    def host_facts(self, ipv6: bool = True) -> HostFacts: ...
    # what a driver may look up while it plans a network (model.host.HostView)
    def host_link(self, name: str) -> HostLink | None: ...
    def supports_link_kind(self, kind: str) -> bool: ...
    def create_bridge(
        self, name: str, mac: str, mtu: int, gateways: tuple[Any, ...], owner: str
    ) -> None: ...
    def repair_bridge(self, name: str, gateways: tuple[Any, ...]) -> None: ...
    # `segment`: in that segment's namespace ("" the host's)
    def enslave(self, name: str, bridge: str, segment: str = "") -> None: ...
    def delete_link(self, name: str, segment: str = "") -> None: ...
    def link_exists(self, name: str) -> bool: ...
    def owned_links(self, segment: str = "") -> list[OwnedLink]: ...
    # a segment: a namespace of its own holding `bridge`, with the host's link into it (a
    # veth named `bridge` in the host's namespace with `mac` and the gateways)
    def create_segment(
        self, segment: str, bridge: str, mac: str, mtu: int, gateways: tuple[Any, ...], owner: str
    ) -> None: ...
    # the host's link into a segment again (someone deleted it)
    def link_segment(
        self, segment: str, bridge: str, mac: str, mtu: int, gateways: tuple[Any, ...], owner: str
    ) -> None: ...
    def segment_ok(self, segment: str) -> bool: ...
    def remove_segment(self, segment: str) -> None: ...
    # starts making a namespace; the call it returns waits until it is made (raising why
    # not, at every call)
    def begin_netns(self, path: str) -> Callable[[], None]: ...
    def remove_netns(self, path: str) -> None: ...
    def netns_ok(self, path: str) -> bool: ...
    def rebind_netns(self, path: str, pid: int) -> None: ...
    def netns_handles(self, directory: str) -> list[str]: ...
    def attach(self, netns: str, request: AttachRequest) -> None: ...
    # a bridge with no ports out of service now, kept for the next create_bridge (False: one
    # is kept already, or this one could not be: the caller deletes it)
    def retire_bridge(self, name: str, gateways: tuple[Any, ...]) -> bool: ...
    # delete a link in the background (a veth pair by its host end, a bridge)
    def detach(self, name: str) -> None: ...
    # returns once the background deletions of these links are done
    def settle(self, names: Sequence[str]) -> None: ...
    # whether a background deletion of any of these links is not done yet
    def being_deleted(self, names: Sequence[str]) -> bool: ...
    # a VXLAN port of `bridge`, its tunnel's local end at `local` (the advertise address)
    def create_tunnel(
        self,
        name: str,
        vni: int,
        mtu: int,
        bridge: str,
        local: IPv4Address,
        owner: str,
        segment: str = "",
    ) -> None: ...
    # exactly these remote endpoints behind the tunnel (forwarding and neighbour entries)
    def set_tunnel_peers(
        self, name: str, peers: Collection[TunnelPeer], segment: str = ""
    ) -> None: ...
    def attach_macvlan(self, netns: str, request: MacvlanRequest) -> None: ...
    # interfaces with no host end (macvlan): deleted, and listed, in their namespace
    def delete_inside(self, netns: str, ifname: str) -> None: ...
    def owned_links_inside(self, netns: str) -> list[OwnedLink]: ...


class StoreTransaction(Protocol):
    def put_network(self, network: Network) -> None: ...
    def delete_network(self, network_id: str) -> None: ...
    def put_container(self, container: Container) -> None: ...
    def delete_container(self, container_id: str) -> None: ...
    def put_volume(self, volume: Volume) -> None: ...
    def delete_volume(self, name: str) -> None: ...
    def set_meta(self, key: str, value: Any) -> None: ...


class Store(Protocol):
    def transaction(self) -> AbstractContextManager[StoreTransaction]: ...


class Runtime(Protocol):
    # held around the spawns of a start (the runtime may get the kernel ready for them)
    def creating(self) -> AbstractContextManager[None]: ...
    def spawn(self, request: LaunchRequest) -> None: ...
    # once crun's create is done: the container exists, its process waits to be started
    def created(self, container_id: str) -> Started: ...
    # lets the process run (after `created`, which it waits for if nobody did)
    def start(self, container_id: str) -> Started: ...
    def abort(self, container_id: str) -> None: ...
    def signal(self, pid: int, signum: int) -> None: ...
    def exit_status(self, container_id: str) -> ExitStatus | None: ...
    def is_alive(self, pid: int, start_time: int) -> bool: ...
    def rewrite_file(self, container_id: str, path: str, content: str) -> None: ...
    def kill_leftover(self, container_id: str) -> None: ...
    # returns once these shims (pid, start time) have exited, or after a while
    def wait_exited(self, shims: Sequence[tuple[int, int]]) -> None: ...
    def cleanup(self, container_id: str) -> None: ...
    def remove(self, container_id: str) -> None: ...
    def reap_leftovers(self, live: set[str]) -> None: ...
    def log_path(self, container_id: str) -> Path: ...
    # a small file as the container sees it (its layer over `layers`); None if it has none
    def read_file(self, container_id: str, layers: Sequence[str], path: str) -> str | None: ...
    # what the host lets containers limit (kernel/cgroups.py)
    def cgroups(self) -> CgroupSupport: ...
    # the capabilities the runtime can give a container (its own bounding set)
    def capabilities(self) -> frozenset[str]: ...
    # InvalidArgument (Docker's text) when a host path gives no device node
    def check_devices(self, mappings: Sequence[DeviceMapping]) -> None: ...
    # the cgroup freezer, and new limits for a running container
    def pause(self, container_id: str) -> None: ...
    def resume(self, container_id: str) -> None: ...
    def update(self, container_id: str, limits: Resources) -> None: ...


class Storage(Protocol):
    """Volume folders under the state root, and the host paths asked for as bind sources."""

    # where a volume's files are (the folder bound into containers)
    def volume_path(self, name: str) -> str: ...
    # its folder, made if missing
    def create_volume(self, name: str) -> None: ...
    # best effort: "already gone" is success
    def remove_volume(self, name: str) -> None: ...
    # the volumes that have a folder on disk
    def volume_names(self) -> set[str]: ...
    # bytes of file content (each inode once)
    def volume_size(self, name: str) -> int: ...
    # refuses (InvalidArgument, Docker's texts) a source in hatoba's roots, and a missing one
    # when it `must_exist` (`--mount`; a `-v` source is made at start); True when the
    # source holds a root (the runtime masks it there)
    def check_bind_source(self, path: str, *, must_exist: bool) -> bool: ...


class Images(Protocol):
    def resolve(self, reference: str) -> ImageInfo: ...
    # by full id: the exact image a container was created from, even untagged since
    def get(self, image_id: str) -> ImageInfo: ...
    # no container uses the image any more (frees an image removed with force meanwhile)
    def release(self, image_id: str) -> None: ...


class Resolver(Protocol):
    """The embedded DNS server (127.0.0.11 in container namespaces)."""

    # False: containers keep the host's resolvers, whatever their networks
    serves_containers: bool

    # these containers' names are now these records (none: they have none), the others'
    # stay; `gateways` maps network id → gateway address
    def update(
        self, changes: Mapping[str, Sequence[DnsRecord]], gateways: Mapping[str, IPv4Address]
    ) -> None: ...
    # `fresh`: the namespace was just made (no resolver of an earlier run to take over)
    def attach(
        self,
        container_id: str,
        netns_path: str,
        upstreams: Sequence[Upstream],
        forward: bool,
        *,
        fresh: bool = False,
    ) -> None: ...
    # after a restart of the service, all at once: the ones that failed, with their errors
    def restore(self, attachments: Sequence[DnsAttachment]) -> list[tuple[str, HatobaError]]: ...
    def detach(self, container_id: str) -> None: ...


class Firewall(Protocol):
    """hatoba's nftables tables in the host namespace; each call is one transaction."""

    def sync(self, state: FirewallState) -> None: ...
    # `meanwhile`: the caller's kernel work, done while the transaction runs (it must not
    # use the firewall); its failure undoes the transaction, the transaction's leaves the
    # work to the caller to undo
    def apply(
        self, old: FirewallState, new: FirewallState, meanwhile: Callable[[], None] = ...
    ) -> None: ...
    def remove(self) -> None: ...
    # per-bridge kernel settings the rules rely on, after the bridge was (re)created
    def bridge_ready(self, bridge: str, internal: bool, routed: bool = False) -> None: ...
    def clear_udp_conntrack(self, ports: Sequence[FwPort]) -> None: ...
    # what keeps containers' forwarded traffic from passing the host's own firewalls
    def warnings(self) -> list[str]: ...


class PortReserver(Protocol):
    """Host ports held for published mappings (all or nothing, with Docker's error texts);
    what reaches a held port on [::1] goes on to `proxy_to` (IPv6 cannot NAT it)."""

    def reserve(
        self,
        container_id: str,
        mappings: Sequence[PortMapping],
        *,
        endpoint: str = "",
        endpoint_id: str = "",
        proxy_to: IPAddress | None = None,
    ) -> tuple[PortMapping, ...]: ...
    def release(self, container_id: str, mappings: Sequence[PortMapping] | None = None) -> None: ...


class Cluster(Protocol):
    """The store the hosts of a cluster share (etcd): overlay networks, the addresses on them
    and every host's endpoints, read through a local cache that a watch keeps current.

    Calls that write go to the store and wait for its answer; one it cannot give (the store
    is unreachable) is a StoreError naming the store. `view()` never waits.
    """

    # this host's id in the cluster, and the underlay address its tunnels start from
    host_id: str
    advertise: IPv4Address

    def view(self) -> ClusterView: ...
    # False: the VNI or subnet was taken meanwhile (the view has been refreshed: plan again);
    # Conflict when the name is taken
    def create_network(self, network: Network) -> bool: ...
    # Forbidden while any host has an endpoint on it; gone already counts as done
    def delete_network(self, network: Network) -> None: ...
    # the endpoint's address, claimed for it with its record (False: another holds it)
    def claim(self, endpoint: ClusterEndpoint) -> bool: ...
    # this host's record of that address, if it still holds it, removed
    def release(self, network_id: str, address: IPv4Address) -> None: ...
    def info(self) -> ClusterInfo | None: ...


_NO_CLUSTER = (
    "overlay networks need a cluster store: start the service with --cluster etcd://HOST:PORT"
)


class NoCluster:
    """A host of its own: no overlay network can be made, and none is ever seen."""

    host_id = ""
    advertise = IPv4Address(0)

    def view(self) -> ClusterView:
        return ClusterView(synced=True)

    def create_network(self, network: Network) -> bool:
        raise InvalidArgument(_NO_CLUSTER)

    def delete_network(self, network: Network) -> None:
        pass

    def claim(self, endpoint: ClusterEndpoint) -> bool:
        raise InvalidArgument(_NO_CLUSTER)

    def release(self, network_id: str, address: IPv4Address) -> None:
        pass

    def info(self) -> ClusterInfo | None:
        return None


class NoResolver:
    """No embedded DNS server: containers keep the host's resolvers."""

    serves_containers = False

    def update(
        self, changes: Mapping[str, Sequence[DnsRecord]], gateways: Mapping[str, IPv4Address]
    ) -> None:
        pass

    def attach(
        self,
        container_id: str,
        netns_path: str,
        upstreams: Sequence[Upstream],
        forward: bool,
        *,
        fresh: bool = False,
    ) -> None:
        pass

    def restore(self, attachments: Sequence[DnsAttachment]) -> list[tuple[str, HatobaError]]:
        return []

    def detach(self, container_id: str) -> None:
        pass


class NoFirewall:
    """No tables: nothing is masqueraded, isolated or published."""

    def sync(self, state: FirewallState) -> None:
        pass

    def apply(
        self, old: FirewallState, new: FirewallState, meanwhile: Callable[[], None] = lambda: None
    ) -> None:
        meanwhile()

    def remove(self) -> None:
        pass

    def bridge_ready(self, bridge: str, internal: bool, routed: bool = False) -> None:
        pass

    def clear_udp_conntrack(self, ports: Sequence[FwPort]) -> None:
        pass

    def warnings(self) -> list[str]:
        return []


class NoPortReserver:
    """Holds no host port, so a container publishes none."""

    def reserve(
        self,
        container_id: str,
        mappings: Sequence[PortMapping],
        *,
        endpoint: str = "",
        endpoint_id: str = "",
        proxy_to: IPAddress | None = None,
    ) -> tuple[PortMapping, ...]:
        return ()

    def release(self, container_id: str, mappings: Sequence[PortMapping] | None = None) -> None:
        pass


class NoStorage:
    """No volume folders and no host paths: volumes and binds are refused."""

    def volume_path(self, name: str) -> str:
        return ""

    def create_volume(self, name: str) -> None:
        raise InvalidArgument("this engine has no volume storage")

    def remove_volume(self, name: str) -> None:
        pass

    def volume_names(self) -> set[str]:
        return set()

    def volume_size(self, name: str) -> int:
        return 0

    def check_bind_source(self, path: str, *, must_exist: bool) -> bool:
        raise InvalidArgument("this engine has no storage: binds are not available")


# stateless: one of each serves every engine
NO_DNS, NO_FIREWALL, NO_PORTS = NoResolver(), NoFirewall(), NoPortReserver()
NO_CLUSTER = NoCluster()
NO_STORAGE = NoStorage()
