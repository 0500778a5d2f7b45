"""Joining a container's namespace to a network, and leaving it: the addresses are the
engine's to hand out; what the endpoint is and how the kernel makes it, the driver's."""

from __future__ import annotations

from ipaddress import IPv4Address

from hatoba.drivers import registry as drivers
from hatoba.engine import overlay
from hatoba.engine.core import Core
from hatoba.engine.undo import UndoStack
from hatoba.errors import Conflict
from hatoba.ipam.addresses import allocate, claim
from hatoba.model.container import Container, Endpoint, EndpointConfig
from hatoba.model.host import InterfaceRequest, MacvlanRequest
from hatoba.model.network import Network

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


def used_addresses(core: Core, network_id: str) -> set[IPv4Address]:
    """In use by an endpoint, or held until the kernel has removed a detached one's veth."""
    return core.state.addresses_in_use(network_id) | core.addresses.held(network_id)


def hold_until_gone(core: Core, endpoint: Endpoint) -> None:
    if endpoint.ipv4 is not None and endpoint.host_ifname:
        core.addresses.pending.setdefault(endpoint.network_id, {})[str(endpoint.ipv4)] = (
            endpoint.host_ifname
        )


def choose_address(
    core: Core, container: Container, network: Network, cfg: EndpointConfig
) -> IPv4Address:
    release_gone(core, network.id, RELEASE_CHECKS_PER_ALLOCATION)
    last = core.addresses.last.get(network.id)
    try:
        address = _pick(core, container, network, cfg, IPv4Address(last) if last else None)
    except Conflict:
        # everything looks taken: look at every held address before giving up
        release_gone(core, network.id)
        address = _pick(core, container, network, cfg, IPv4Address(last) if last else None)
    core.addresses.last[network.id] = str(address)
    return address


def _pick(
    core: Core,
    container: Container,
    network: Network,
    cfg: EndpointConfig,
    last: IPv4Address | None,
) -> IPv4Address:
    used = used_addresses(core, network.id)
    if cfg.ipv4 is not None:
        return claim(network, cfg.ipv4, used)
    used |= core.state.reserved_static(network.id, excluding=container.id)
    return allocate(network, used, last)


def check_static(core: Core, network: Network, ipv4: IPv4Address, container_id: str = "") -> None:
    """`--ip` as Docker checks it, against addresses in use and other containers' `--ip`."""
    taken = used_addresses(core, network.id)
    claim(network, ipv4, taken | core.state.reserved_static(network.id, container_id))


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
        return overlay.claim_endpoint(core, undo, container, network, cfg, slot, default_route, mac)
    address = choose_address(core, container, network, cfg) if driver.gives_interface else None
    return driver.plan_endpoint(network, address, slot, default_route, mac=mac)


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
    make_interface(core, netns, request)
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
    if endpoint.host_ifname:
        core.kernel.detach(endpoint.host_ifname)
    elif in_namespace_only(endpoint) and container.netns:
        # deleted now rather than with the namespace, which may outlive it (DNS sockets hold
        # it): when this returns, its address and MAC are free on the parent's segment
        core.kernel.delete_inside(container.netns, endpoint.ifname)
    release(core, endpoint)


def release(core: Core, endpoint: Endpoint) -> None:
    """The endpoint is gone or going: its address may be handed out again, here once the
    kernel has reaped its veth, in the cluster store at once (another host's container gets
    a namespace of its own)."""
    network = core.state.networks.get(endpoint.network_id)
    if network is not None and drivers.of(network).cluster_scoped:
        overlay.release(core, endpoint)
    else:
        hold_until_gone(core, endpoint)
