"""In-memory stand-ins for the engine's ports, for tests without root or a kernel."""

from __future__ import annotations

import contextlib
import itertools
import shutil
from collections.abc import Callable, Collection, Iterator, Sequence
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

from hatoba.engine.core import Paths
from hatoba.engine.engine import Engine
from hatoba.engine.state import State
from hatoba.errors import InvalidArgument, KernelError, NotFound
from hatoba.model.container import Container
from hatoba.model.daemon import DaemonConfig
from hatoba.model.host import (
    AttachRequest,
    HostFacts,
    HostLink,
    IPInterface,
    MacvlanRequest,
    OwnedLink,
    TunnelPeer,
)
from hatoba.model.image import ImageInfo
from hatoba.model.launch import ExitStatus, LaunchRequest, Started
from hatoba.model.mounts import Volume
from hatoba.model.network import IPNetwork, Network
from hatoba.model.resources import CPU, DEVICES, FREEZER, MEMORY, PIDS, CgroupSupport, Resources
from hatoba.model.security import CAPABILITIES, DeviceMapping

# a cgroup v1 host with every controller and swap accounting, as the machine the tests run on
FULL_CGROUPS = CgroupSupport(1, frozenset({MEMORY, CPU, PIDS, FREEZER, DEVICES}), swap=True, cpus=2)


class FakeKernel:
    """Records calls; `fail_on` names a method that raises once, to exercise undo paths."""

    def __init__(self, taken: tuple[IPNetwork, ...] = (), uplink_mtu: int = 1500) -> None:
        self.facts = HostFacts(uplink_mtu, taken)
        # the `ipv6` of each host_facts call
        self.facts_asked: list[bool] = []
        self.links: dict[str, OwnedLink] = {}
        # segments (overlay networks): name -> the owned links in its namespace
        self.segments: dict[str, dict[str, OwnedLink]] = {}
        self.netns: set[str] = set()
        self.attached: dict[str, list[AttachRequest]] = {}
        self.calls: list[str] = []
        self.fail_on: str | None = None
        self.peers: dict[str, frozenset[TunnelPeer]] = {}
        # the host's own interfaces (a macvlan's parent) and the link kinds it can make
        self.host_links: dict[str, HostLink] = {}
        self.link_kinds: set[str] = {"bridge", "veth", "macvlan"}
        # macvlans made inside namespaces: netns -> ifname -> request
        self.inside: dict[str, dict[str, MacvlanRequest]] = {}
        self.gateways: dict[str, tuple[IPInterface, ...]] = {}
        # links whose deletion the reaper has not finished yet (see detach)
        self.slow_reaper = False
        # whether retire_bridge keeps a bridge (the real kernel's: one at a time)
        self.keeps_bridges = False
        self.spare: str | None = None
        self.deleting: set[str] = set()

    def _maybe_fail(self, name: str) -> None:
        self.calls.append(name)
        if self.fail_on == name:
            self.fail_on = None
            raise KernelError(f"{name} failed (injected)")

    def host_facts(self, ipv6: bool = True) -> HostFacts:
        self.facts_asked.append(ipv6)
        return self.facts

    def host_link(self, name: str) -> HostLink | None:
        return self.host_links.get(name)

    def supports_link_kind(self, kind: str) -> bool:
        return kind in self.link_kinds

    def create_bridge(
        self, name: str, mac: str, mtu: int, gateways: tuple[IPInterface, ...], owner: str
    ) -> None:
        self._maybe_fail("create_bridge")
        if self.spare is not None:
            self.calls.append("remake")
            self.links.pop(self.spare, None)
            self.spare = None
        self.links[name] = OwnedLink(name, "bridge", owner)
        self.gateways[name] = gateways

    def retire_bridge(self, name: str, gateways: tuple[IPInterface, ...]) -> bool:
        if not self.keeps_bridges or self.spare is not None:
            return False
        self.calls.append("retire_bridge")
        self.links.pop(name, None)
        self.gateways.pop(name, None)
        self.spare = "hatoba-spare"
        self.links[self.spare] = OwnedLink(self.spare, "bridge", "spare")
        return True

    def repair_bridge(self, name: str, gateways: tuple[IPInterface, ...]) -> None:
        self.calls.append("repair_bridge")

    def _links_of(self, segment: str) -> dict[str, OwnedLink]:
        return self.segments.setdefault(segment, {}) if segment else self.links

    def enslave(self, name: str, bridge: str, segment: str = "") -> None:
        self.calls.append("enslave")
        links = self._links_of(segment)
        link = links[name]
        links[name] = OwnedLink(link.name, link.kind, link.owner, bridge)

    def create_segment(
        self,
        segment: str,
        bridge: str,
        mac: str,
        mtu: int,
        gateways: tuple[IPInterface, ...],
        owner: str,
    ) -> None:
        self._maybe_fail("create_segment")
        self.segments.setdefault(segment, {})[bridge] = OwnedLink(bridge, "bridge", owner)
        self.link_segment(segment, bridge, mac, mtu, gateways, owner)

    def link_segment(
        self,
        segment: str,
        bridge: str,
        mac: str,
        mtu: int,
        gateways: tuple[IPInterface, ...],
        owner: str,
    ) -> None:
        self.links[bridge] = OwnedLink(bridge, "veth", owner)
        self.gateways[bridge] = gateways

    def segment_ok(self, segment: str) -> bool:
        return segment in self.segments

    def remove_segment(self, segment: str) -> None:
        self.calls.append("remove_segment")
        self.segments.pop(segment, None)

    def netns_ok(self, path: str) -> bool:
        return path in self.netns

    def create_tunnel(
        self,
        name: str,
        vni: int,
        mtu: int,
        bridge: str,
        local: IPv4Address,
        owner: str,
        segment: str = "",
    ) -> None:
        self._maybe_fail("create_tunnel")
        self._links_of(segment)[name] = OwnedLink(name, "vxlan", owner, bridge)

    def set_tunnel_peers(self, name: str, peers: Collection[TunnelPeer], segment: str = "") -> None:
        self._maybe_fail("set_tunnel_peers")
        self.peers[name] = frozenset(peers)

    def rebind_netns(self, path: str, pid: int) -> None:
        self._maybe_fail("rebind_netns")
        self.netns.add(path)

    def delete_link(self, name: str, segment: str = "") -> None:
        self.calls.append("delete_link")
        if segment and segment not in self.segments:
            return
        self._links_of(segment).pop(name, None)

    def link_exists(self, name: str) -> bool:
        return name in self.links

    def owned_links(self, segment: str = "") -> list[OwnedLink]:
        return list(self._links_of(segment).values())

    def begin_netns(self, path: str) -> Callable[[], None]:
        """Made (or failed) at once; the wait says so, every time, as the kernel's does."""
        try:
            self._maybe_fail("create_netns")
        except KernelError as exc:
            failure = exc

            def failed() -> None:
                raise failure

            return failed
        self.netns.add(path)
        return lambda: None

    def remove_netns(self, path: str) -> None:
        self.calls.append("remove_netns")
        self.netns.discard(path)
        self.inside.pop(path, None)
        for req in self.attached.pop(path, []):
            self._links_of(req.segment).pop(req.host_ifname, None)

    def netns_handles(self, directory: str) -> list[str]:
        return sorted(p for p in self.netns if p.startswith(directory))

    def attach(self, netns: str, request: AttachRequest) -> None:
        self._maybe_fail("attach")
        self.attached.setdefault(netns, []).append(request)
        self._links_of(request.segment)[request.host_ifname] = OwnedLink(
            request.host_ifname, "veth", request.owner, request.bridge
        )

    def detach(self, name: str) -> None:
        """With `slow_reaper`, the link stays until `settle` (or `reap`) deletes it."""
        self.calls.append("detach")
        for reqs in self.attached.values():
            for req in [r for r in reqs if r.host_ifname == name]:
                reqs.remove(req)
        if self.slow_reaper:
            self.deleting.add(name)
        else:
            self.links.pop(name, None)

    def settle(self, names: Sequence[str]) -> None:
        self.calls.append("settle")
        for name in names:
            if name in self.deleting:
                self.deleting.discard(name)
                self.links.pop(name, None)

    def being_deleted(self, names: Sequence[str]) -> bool:
        return any(name in self.deleting for name in names)

    def reap(self) -> None:
        """The background deletions finish."""
        self.settle(list(self.deleting))

    def attach_macvlan(self, netns: str, request: MacvlanRequest) -> None:
        self._maybe_fail("attach_macvlan")
        if request.parent not in self.host_links:
            raise KernelError(f"parent interface {request.parent} not found", 19)
        if netns not in self.netns:
            raise KernelError(f"network namespace {netns} is gone", 2)
        self.inside.setdefault(netns, {})[request.ifname] = request

    def delete_inside(self, netns: str, ifname: str) -> None:
        self.calls.append("delete_inside")
        self.inside.get(netns, {}).pop(ifname, None)

    def owned_links_inside(self, netns: str) -> list[OwnedLink]:
        if netns not in self.netns:
            raise KernelError(f"network namespace {netns} is gone", 2)
        made = self.inside.get(netns, {})
        return [OwnedLink(name, "macvlan", req.owner) for name, req in made.items()]


class MemoryStore:
    def __init__(self) -> None:
        self.networks: dict[str, Network] = {}
        self.containers: dict[str, Container] = {}
        self.volumes: dict[str, Volume] = {}
        self.meta: dict[str, Any] = {}
        self.fail_next_commit = False

    @contextlib.contextmanager
    def transaction(self) -> Iterator[MemoryStore]:
        if self.fail_next_commit:
            self.fail_next_commit = False
            raise KernelError("store commit failed (injected)")
        yield self

    def put_network(self, network: Network) -> None:
        self.networks[network.id] = network

    def delete_network(self, network_id: str) -> None:
        self.networks.pop(network_id, None)

    def put_container(self, container: Container) -> None:
        self.containers[container.id] = container

    def delete_container(self, container_id: str) -> None:
        self.containers.pop(container_id, None)

    def put_volume(self, volume: Volume) -> None:
        self.volumes[volume.name] = volume

    def delete_volume(self, name: str) -> None:
        self.volumes.pop(name, None)

    def set_meta(self, key: str, value: Any) -> None:
        self.meta[key] = value


class FakeStorage:
    """Volume folders in a temporary folder; bind sources as the test says they are."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        # host paths that exist, and those inside hatoba's roots (refused)
        self.existing: set[str] = {"/srv", "/", "/var"}
        self.forbidden: set[str] = set()
        self.holding_roots: set[str] = {"/", "/var"}

    def volume_path(self, name: str) -> str:
        return str(self.root / name / "_data")

    def create_volume(self, name: str) -> None:
        (self.root / name / "_data").mkdir(parents=True, exist_ok=True)

    def remove_volume(self, name: str) -> None:
        shutil.rmtree(self.root / name, ignore_errors=True)

    def volume_names(self) -> set[str]:
        return {p.name for p in self.root.iterdir()}

    def volume_size(self, name: str) -> int:
        return sum(p.stat().st_size for p in (self.root / name).rglob("*") if p.is_file())

    def check_bind_source(self, path: str, *, must_exist: bool) -> bool:
        if path in self.forbidden:
            raise InvalidArgument(f"bind source path {path} is inside hatoba's root")
        if must_exist and path not in self.existing:
            raise InvalidArgument(
                f'invalid mount config for type "bind": bind source path does not exist: {path}'
            )
        return path in self.holding_roots


class FakeRuntime:
    def __init__(self) -> None:
        self.launched: list[LaunchRequest] = []
        self.spawned: dict[str, LaunchRequest] = {}
        self.aborted: list[str] = []
        self.signals: list[tuple[int, int]] = []
        self.exits: dict[str, ExitStatus] = {}
        self.alive: set[int] = set()
        self.fail_launch = False
        self.fail_create: set[str] = set()
        self._created: dict[str, Started] = {}
        self._pids = itertools.count(1000)
        self.files: dict[tuple[str, str], str] = {}
        self.rootfs: dict[str, str] = {}
        self.support = FULL_CGROUPS
        # as root on the machine the tests run on: all but CAP_SYS_RESOURCE
        self.bounding = frozenset(CAPABILITIES) - {"CAP_SYS_RESOURCE"}
        # host device paths that exist
        self.devices: set[str] = {"/dev/null", "/dev/zero"}
        self.paused: set[str] = set()
        # container id -> the limits written to its running cgroup
        self.limits: dict[str, Resources] = {}
        self.fail_update = False
        self.creating_depth = 0
        self.windows_opened = 0
        # for each spawn: whether `creating` held the runtime's window open then
        self.spawned_in_window: list[bool] = []

    @contextlib.contextmanager
    def creating(self) -> Iterator[None]:
        self.windows_opened += 1
        self.creating_depth += 1
        try:
            yield
        finally:
            self.creating_depth -= 1

    def spawn(self, request: LaunchRequest) -> None:
        self.spawned_in_window.append(bool(self.creating_depth))
        self.spawned[request.container_id] = request

    def created(self, container_id: str) -> Started:
        """`fail_launch` fails every container, `fail_create` those named by id."""
        done = self._created.get(container_id)
        if done is not None:
            return done
        if self.fail_launch or container_id in self.fail_create:
            raise KernelError("failed to create task for container: injected")
        pid = next(self._pids)
        done = self._created[container_id] = Started(pid=pid, shim_pid=pid + 1, shim_start_time=1)
        return done

    def start(self, container_id: str) -> Started:
        started = self.created(container_id)
        request = self.spawned.pop(container_id)
        del self._created[container_id]
        self.launched.append(request)
        self.alive.add(started.shim_pid)
        for path, content in request.files.items():
            self.files[(request.container_id, path)] = content
        return started

    def abort(self, container_id: str) -> None:
        self.spawned.pop(container_id, None)
        self._created.pop(container_id, None)
        self.aborted.append(container_id)

    def signal(self, pid: int, signum: int) -> None:
        self.signals.append((pid, signum))

    def exit_status(self, container_id: str) -> ExitStatus | None:
        return self.exits.get(container_id)

    def is_alive(self, pid: int, start_time: int) -> bool:
        return pid in self.alive

    def rewrite_file(self, container_id: str, path: str, content: str) -> None:
        self.files[(container_id, path)] = content

    def kill_leftover(self, container_id: str) -> None:
        pass

    def wait_exited(self, shims: Sequence[tuple[int, int]]) -> None:
        pass

    def reap_leftovers(self, live: set[str]) -> None:
        pass

    def cleanup(self, container_id: str) -> None:
        pass

    def remove(self, container_id: str) -> None:
        pass

    def log_path(self, container_id: str) -> Path:
        return Path("/nonexistent") / container_id

    def read_file(self, container_id: str, layers: Sequence[str], path: str) -> str | None:
        """What `rootfs` (container path -> content) holds, the same for every container."""
        return self.rootfs.get(path)

    def cgroups(self) -> CgroupSupport:
        return self.support

    def capabilities(self) -> frozenset[str]:
        return self.bounding

    def check_devices(self, mappings: Sequence[DeviceMapping]) -> None:
        for mapping in mappings:
            if mapping.path_on_host not in self.devices:
                raise InvalidArgument(
                    "error gathering device information while adding custom device "
                    f'"{mapping.path_on_host}": no such file or directory'
                )

    def pause(self, container_id: str) -> None:
        self.paused.add(container_id)

    def resume(self, container_id: str) -> None:
        self.paused.discard(container_id)

    def update(self, container_id: str, limits: Resources) -> None:
        if self.fail_update:
            raise KernelError("write memory.limit_in_bytes: Device or resource busy")
        self.limits[container_id] = limits


class FakeImages:
    def __init__(self, images: dict[str, ImageInfo] | None = None) -> None:
        self.images = images or {}
        self.released: list[str] = []

    def resolve(self, reference: str) -> ImageInfo:
        ref = reference if ":" in reference else reference + ":latest"
        if ref not in self.images:
            raise NotFound(f"No such image: {ref}")
        return self.images[ref]

    def get(self, image_id: str) -> ImageInfo:
        found = next((i for i in self.images.values() if i.id == image_id), None)
        if found is None:
            raise NotFound(f"No such image: {image_id}")
        return found

    def release(self, image_id: str) -> None:
        self.released.append(image_id)


class FakeHost:
    """A host on these fakes whose service may start again and again, over the same store,
    kernel, runtime and volume folders (under `tmp_path/volumes`); each `start` is a new
    service process."""

    def __init__(
        self,
        tmp_path: Path,
        runtime: FakeRuntime | None = None,
        *,
        images: FakeImages | None = None,
        store: MemoryStore | None = None,
        resolv_conf: str = "nameserver 198.51.100.53\n",
    ) -> None:
        resolv = tmp_path / "resolv.conf"
        resolv.write_text(resolv_conf)
        self.paths = Paths(tmp_path / "root", tmp_path / "run", resolv)
        self.kernel, self.store = FakeKernel(), store or MemoryStore()
        self.runtime, self.images = runtime or FakeRuntime(), images or FakeImages()
        self.storage = FakeStorage(tmp_path / "volumes")

    def start(self, config: DaemonConfig | None = None, state: State | None = None) -> Engine:
        """A service start (bootstrapped: the predefined networks exist) with this
        daemon.json, from `state` or else what the store holds."""
        if state is None:
            store = self.store
            state = State(store.networks, store.containers, store.volumes)
        engine = Engine.open(
            self.paths,
            self.store,
            self.kernel,
            self.runtime,
            self.images,
            state,
            storage=self.storage,
            config=config,
        )
        engine.bootstrap()
        return engine


def fake_engine(
    tmp_path: Path,
    runtime: FakeRuntime | None = None,
    images: FakeImages | None = None,
    store: MemoryStore | None = None,
    state: State | None = None,
) -> Engine:
    """An engine on these fakes, bootstrapped (the predefined networks exist), with volume
    folders under `tmp_path/volumes`."""
    host = FakeHost(tmp_path, runtime, images=images, store=store)
    return host.start(state=state or State())
