"""Joining a container's namespace to a network, and leaving it: the addresses are the
engine's to hand out; what the endpoint is and how the kernel makes it, the driver's."""

from __future__ import annotations

import dataclasses
from collections import abc
from dataclasses import dataclass

from hatoba.drivers import registry as drivers
from hatoba.engine import overlay
from hatoba.engine.core import Core
from hatoba.engine.undo import UndoStack
from hatoba.errors import Conflict, KernelError
from hatoba.ipam.addresses import allocate, claim
from hatoba.model.container import Container, Endpoint, EndpointConfig
from hatoba.model.host import InterfaceRequest, MacvlanRequest
from hatoba.model.network import IPAddress, Network

# a few kernel lookups per allocation keep the cost flat however many detaches are in flight
RELEASE_CHECKS_PER_ALLOCATION = 4


def release_gone(core: Core, network_id: str, limit: int | None = None) -> None:
    """Free the addresses of detached endpoints whose host veth the kernel has reaped,
    oldest first."""
    pending = core.addresses.pending.get(network_id)
    if not pending:
        return
    for address, veth in list(pending.items())[:limit]:
        if core.kernel.link_exists(veth):
            break  # younger entries are even less likely to be gone
        del pending[address]
    if not pending:
        del core.addresses.pending[network_id]


@dataclass(frozen=True)
class _Taken:
    """Addresses no new endpoint may have, asked one at a time: the parts are looked in, never
    merged into one set (the state's part holds every address of the network)."""

    parts: tuple[abc.Container[IPAddress], ...]

    def __contains__(self, address: object) -> bool:
        return any(address in part for part in self.parts)


def used_addresses(core: Core, network_id: str) -> _Taken:
    """In use by an endpoint, or held until the kernel has removed a detached one's veth."""
    return _Taken((core.state.addresses_in_use(network_id), core.addresses.held(network_id)))


def _taken(core: Core, network_id: str, container_id: str) -> _Taken:
    """Used, or asked for with `--ip`/`--ip6` by another container."""
    static = core.state.reserved_static(network_id, excluding=container_id)
    return _Taken((*used_addresses(core, network_id).parts, static))


def hold_until_gone(core: Core, endpoint: Endpoint) -> None:
    if endpoint.host_ifname and endpoint.addresses:
        held = core.addresses.pending.setdefault(endpoint.network_id, {})
        for address in endpoint.addresses:
            held[str(address)] = endpoint.host_ifname


def choose_addresses(
    core: Core, container: Container, network: Network, cfg: EndpointConfig
) -> tuple[IPAddress, ...]:
    """One address of each family the network has, IPv4 first."""
    release_gone(core, network.id, RELEASE_CHECKS_PER_ALLOCATION)
    chosen = []
    for version, asked in ((4, cfg.ipv4), (6, cfg.ipv6)):
        if not network.pools(version):
            continue
        last = core.addresses.last_of(network.id, version)
        try:
            address = _pick(core, container, network, version, asked, last)
        except Conflict:
            # everything looks taken: look at every held address before giving up
            release_gone(core, network.id)
            address = _pick(core, container, network, version, asked, last)
        core.addresses.handed_out(network.id, address)
        chosen.append(address)
    return tuple(chosen)


def _pick(
    core: Core,
    container: Container,
    network: Network,
    version: int,
    asked: IPAddress | None,
    last: IPAddress | None,
) -> IPAddress:
    if asked is not None:
        return claim(network, asked, used_addresses(core, network.id))
    return allocate(network, version, _taken(core, network.id, container.id), last)


def check_static(
    core: Core, network: Network, addresses: tuple[IPAddress, ...], container_id: str = ""
) -> None:
    """`--ip` and `--ip6` as Docker checks them, against addresses in use and other
    containers' `--ip` and `--ip6`."""
    taken = _taken(core, network.id, container_id)
    for address in addresses:
        claim(network, address, taken)


def plan(
    core: Core,
    undo: UndoStack,
    container: Container,
    network: Network,
    cfg: EndpointConfig,
    slot: int,
    default_route: bool,
) -> Endpoint:
    """The container's endpoint on `network` (its interface eth<slot>, if the driver gives
    one, with an address chosen: on a cluster-scoped network, claimed in the cluster store);
    nothing made yet."""
    driver = drivers.of(network)
    mac = cfg.mac or _own_mac(container, network)
    if driver.cluster_scoped:
        planned = overlay.claim_endpoint(
            core, undo, container, network, cfg, slot, default_route, mac
        )
    else:
        addresses = (
            choose_addresses(core, container, network, cfg) if driver.gives_interface else ()
        )
        planned = driver.plan_endpoint(network, addresses, slot, default_route, mac=mac)
    if cfg.link_local_ips and planned.ifname:
        planned = dataclasses.replace(planned, link_local_ips=cfg.link_local_ips)
    return planned


def _own_mac(container: Container, network: Network) -> str:
    """Config.MacAddress: for the interface on the network the container was created on
    (its network mode), as Docker applies it, also after a disconnect and connect; a MAC
    given for the endpoint itself (EndpointSettings.MacAddress) comes first."""
    mode = container.config.network_mode
    if mode in ("", "default"):
        # the default network, as `_primary_network` finds it
        named = network.predefined and network.name == "bridge"
    else:
        named = mode == network.name or network.id.startswith(mode)
    return container.config.mac_address if named else ""


def wire(
    core: Core,
    undo: UndoStack,
    container: Container,
    network: Network,
    endpoint: Endpoint,
    netns: str,
) -> None:
    """Make a planned endpoint's interface in the container's namespace."""
    request = drivers.of(network).attach_request(network, endpoint, container.id)
    if request is None:
        return
    try:
        make_interface(core, netns, request)
    except KernelError as exc:
        raise KernelError(
            f"failed to create endpoint {container.name} on network {network.name}: {exc}",
            exc.errno,
        ) from None
    # if the operation fails later, the veth dies with the namespace or is deleted: either
    # way the address must wait until the kernel has removed the host end
    undo.push("hold address", lambda: hold_until_gone(core, endpoint))


def make_interface(core: Core, netns: str, request: InterfaceRequest) -> None:
    """What the driver planned, made by the kernel: a veth pair or a macvlan."""
    if isinstance(request, MacvlanRequest):
        core.kernel.attach_macvlan(netns, request)
    else:
        core.kernel.attach(netns, request)


def attach(
    core: Core,
    undo: UndoStack,
    container: Container,
    network: Network,
    cfg: EndpointConfig,
    netns: str,
    slot: int,
    default_route: bool,
) -> Endpoint:
    """Plan and make an interface at once (`network connect` of a running container)."""
    endpoint = plan(core, undo, container, network, cfg, slot, default_route)
    wire(core, undo, container, network, endpoint, netns)
    return endpoint


def in_namespace_only(endpoint: Endpoint) -> bool:
    """Its interface has no host end (a macvlan): the namespace alone holds it."""
    return bool(endpoint.ifname) and not endpoint.host_ifname


def detach(core: Core, container: Container, endpoint: Endpoint) -> None:
    segment = segment_of(core, endpoint)
    if endpoint.host_ifname and segment:
        # a segment's port goes at once (no reaper there): its address is the store's
        core.kernel.delete_link(endpoint.host_ifname, segment)
    elif endpoint.host_ifname:
        core.kernel.detach(endpoint.host_ifname)
    elif in_namespace_only(endpoint) and container.netns:
        # deleted now rather than with the namespace, which may outlive it (DNS sockets hold
        # it): when this returns, its address and MAC are free on the parent's segment
        core.kernel.delete_inside(container.netns, endpoint.ifname)
    release(core, endpoint)


def segment_of(core: Core, endpoint: Endpoint) -> str:
    """The segment the endpoint's host end is in ("" the host namespace)."""
    network = core.state.networks.get(endpoint.network_id)
    bridges = drivers.of(network).host_bridges(network) if network is not None else ()
    return bridges[0].segment if bridges else ""


def release(core: Core, endpoint: Endpoint) -> None:
    """The endpoint is gone or going: its address may be handed out again, here once the
    kernel has reaped its veth, in the cluster store at once (another host's container gets
    a namespace of its own)."""
    network = core.state.networks.get(endpoint.network_id)
    if network is not None and drivers.of(network).cluster_scoped:
        overlay.release(core, endpoint)
    else:
        hold_until_gone(core, endpoint)
