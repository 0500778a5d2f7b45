"""The driver seam: what the engine asks a network driver, and the plans a driver answers with.

A driver is a pure planner. The engine finds a network's driver by the network's driver name
(`hatoba.drivers.registry`) and asks it: what a new network is (options, subnet, interface
names), which host bridges the network keeps, what a container's endpoint on it is and how the
kernel makes it, what the firewall and the embedded DNS hold of it, and which container
settings it allows. The engine makes all of it through its kernel port, with its undo stack,
and never tests a driver's name; a driver never touches the kernel, the store or the engine's
state, so each one is tested by its answers alone.

Every answer has the default of a driver that does nothing (Docker's `null`), so a new driver
states only where it differs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_interface
from typing import ClassVar

from hatoba.errors import HatobaError, InvalidArgument
from hatoba.firewall.model import FwNetwork
from hatoba.ipam.addresses import mac_for
from hatoba.ipam.pools import check_user_subnet, make_pool
from hatoba.model.container import Endpoint
from hatoba.model.daemon import DOCKER_ADDRESS_POOLS, AddressPool, DaemonConfig
from hatoba.model.host import HostView, InterfaceRequest, IPInterface, NoHostView
from hatoba.model.ids import new_id
from hatoba.model.network import IPAddress, IpamPool, IPNetwork, Network, NetworkSpec

NO_HOST = NoHostView()


@dataclass(frozen=True)
class Placement:
    """What the engine knows of the host and its records that a new network may depend on."""

    network_id: str
    created: str
    # the networks Docker makes itself at first start (`bridge`, `host`, `none`)
    predefined: bool
    uplink_mtu: int
    # prefixes already in use: other networks' subnets, the host's routes and addresses
    taken: tuple[IPNetwork, ...]
    # of those, the other networks' subnets alone
    network_subnets: tuple[IPNetwork, ...] = ()
    # VXLAN ids other networks of the cluster hold
    taken_vnis: frozenset[int] = frozenset()
    # the host's links and link drivers, looked up when a plan depends on them
    host: HostView = NO_HOST
    # where a subnet nobody asked for comes from (daemon.json's default-address-pools)
    pools: tuple[AddressPool, ...] = DOCKER_ADDRESS_POOLS


@dataclass(frozen=True)
class VxlanTunnel:
    """A VXLAN device that makes a host bridge one segment with the same bridge on every other
    host: `vni` on the wire, no learning (peers are programmed from the cluster store), ARP
    answered locally from those entries. Its local address is the host's advertise address."""

    name: str
    vni: int
    mtu: int


@dataclass(frozen=True)
class HostBridge:
    """A Linux bridge the host keeps while its network exists, the gateway addresses on it
    (one per subnet; with an IPv6 one, the bridge has IPv6 on)."""

    name: str
    mac: str
    mtu: int
    gateways: tuple[IPInterface, ...]
    # a port that carries the bridge's segment to the other hosts (None: a local bridge)
    tunnel: VxlanTunnel | None = None
    # the namespace of its own the bridge and its tunnel are in, by name ("" the host's);
    # then `name` is also the host's link into it: a veth with the gateways and `mac`
    segment: str = ""


class NetworkDriver:
    name: ClassVar[str]
    # Docker's Scope: "local" networks are this host's, "global" ones every host's in a cluster
    scope: ClassVar[str] = "local"
    # its networks, their addresses and endpoints live in the cluster store, shared by every
    # host (networks need `--cluster`; addresses are claimed there, not chosen locally)
    cluster_scoped: ClassVar[bool] = False
    # the network made for this driver at first start, by this name (None: none is)
    predefined_network: ClassVar[str | None] = None
    # the predefined network is its only one: users create none (Docker's host and null)
    single_instance: ClassVar[bool] = False
    # a container on one of its networks may be on no other network
    exclusive: ClassVar[bool] = False
    # a container on it runs in the host's network namespace: no namespace, interface or
    # hostname of its own, the host's /etc/hosts, and no network changes while it exists
    shares_host_namespace: ClassVar[bool] = False
    # an endpoint gets an interface in the container and addresses from the network's pools
    gives_interface: ClassVar[bool] = False
    # host ports can be published to an endpoint on its networks (except internal ones)
    publishes_ports: ClassVar[bool] = False
    # its endpoints' interfaces live in the container's namespace alone, with no host end
    # (a macvlan): repair looks for them, and for leftovers of them, in the namespaces
    interfaces_in_namespace: ClassVar[bool] = False

    # --- a network: created, kept on the host, deleted ----------------------------------------

    def predefined_spec(self, config: DaemonConfig) -> NetworkSpec:
        """What its predefined network asks for, given the service's configuration (only
        asked of drivers with a predefined network)."""
        return NetworkSpec(name=self.predefined_network or self.name, driver=self.name)

    def plan_network(self, spec: NetworkSpec, placement: Placement) -> Network:
        """The network `spec` asks for, checked with Docker's errors; nothing is made yet.
        By default a network with nothing of its own: no subnet, no interface."""
        return Network(
            placement.network_id,
            spec.name,
            self.name,
            placement.created,
            predefined=placement.predefined,
        )

    def host_bridges(self, network: Network) -> tuple[HostBridge, ...]:
        """The bridges the host keeps for `network`: made with it, repaired when they are
        lost, deleted with it."""
        return ()

    # --- an endpoint: a container's attachment to one of its networks -------------------------

    def plan_endpoint(
        self,
        network: Network,
        addresses: Sequence[IPAddress],
        slot: int,
        default_route: bool,
        *,
        mac: str = "",
    ) -> Endpoint:
        """The container's endpoint on `network`, nothing made yet. `addresses` come from the
        network's pools when the driver gives an interface, one per address family the
        network has, IPv4 first (else none); `slot` N names the interface eth<N>;
        `default_route`: the container's default routes go this way; `mac`: the one the user
        chose for it (Config.MacAddress), "" for the driver's own."""
        return Endpoint(network.id, new_id(), "", None, None, 0, "", None)

    def _interface(
        self,
        network: Network,
        addresses: Sequence[IPAddress],
        slot: int,
        default_route: bool,
        *,
        mac: str,
        host_ifname: str | None,
    ) -> Endpoint:
        """eth<slot> with `addresses` (from the network's pools), their subnets' prefixes and
        gateways, and `mac` or one made of the first address (as Docker's bridge up to 27 and
        its macvlan make it); no interface when the network gave no address."""
        if not addresses:
            return NetworkDriver.plan_endpoint(self, network, addresses, slot, default_route)
        ipv4 = next((a for a in addresses if isinstance(a, IPv4Address)), None)
        ipv6 = next((a for a in addresses if isinstance(a, IPv6Address)), None)
        pool4, pool6 = _holder(network, ipv4), _holder(network, ipv6)
        return Endpoint(
            network_id=network.id,
            endpoint_id=new_id(),
            ifname=f"eth{slot}",
            host_ifname=host_ifname,
            ipv4=ipv4,
            prefixlen=pool4.subnet.prefixlen if pool4 else 0,
            mac=mac or mac_for(addresses[0]),
            gateway=pool4.gateway if pool4 and isinstance(pool4.gateway, IPv4Address) else None,
            default_route=default_route,
            ipv6=ipv6,
            prefixlen6=pool6.subnet.prefixlen if pool6 else 0,
            gateway6=pool6.gateway if pool6 and isinstance(pool6.gateway, IPv6Address) else None,
        )

    def attach_request(
        self, network: Network, endpoint: Endpoint, owner: str
    ) -> InterfaceRequest | None:
        """What the kernel makes for a planned endpoint in the container's namespace (None:
        nothing): a veth pair (AttachRequest) or a macvlan (MacvlanRequest). Detaching
        deletes the endpoint's host-side interface, or, when it has none, its interface in
        the namespace."""
        return None

    # --- what the firewall and the embedded DNS hold ------------------------------------------

    def firewall_network(self, network: Network) -> FwNetwork | None:
        """The network as hatoba's tables know it (NAT, isolation, anti-spoofing of its
        endpoints, published ports); None: the tables do not know it."""
        return None

    def serves_dns(self, network: Network) -> bool:
        """Containers on `network` find each other by name at 127.0.0.11."""
        return False

    def publish_refusal(self, network: Network) -> HatobaError | None:
        """Why ports cannot be published on `network`, when a container asks for some and
        none of its networks takes them: the request is refused with it. None: they are
        dropped, as Docker drops them on host and none."""
        return None

    def warnings(self, network: Network) -> tuple[str, ...]:
        """What the user should know of a network just made (the create's Warning)."""
        return ()

    def default_host_ip(self, network: Network) -> IPv4Address | None:
        """The host address a port published on `network` without one is bound to (None:
        every address of the host)."""
        return None


def check_options(
    driver: str, options: Mapping[str, str], known: Set[str], not_built: Set[str] = frozenset()
) -> None:
    """`-o` options a driver does not know are refused, never dropped; Docker's own options
    that hatoba does not implement yet are refused by name too."""
    unknown = sorted(set(options) - known - not_built)
    if unknown:
        raise InvalidArgument(
            f"unknown option(s) for the {driver} driver: {', '.join(unknown)} "
            f"(it knows {', '.join(sorted(known))})"
        )
    later = sorted(set(options) & not_built)
    if later:
        raise InvalidArgument(f"hatoba does not support {', '.join(later)} yet")


def check_subnet_given(spec: NetworkSpec) -> None:
    """A gateway, range or auxiliary address only means something within a subnet the user
    gave (docker's consolidateIpam)."""
    for request in spec.ipam:
        if request.subnet is None and (
            request.gateway is not None or request.ip_range is not None or request.aux_addresses
        ):
            raise InvalidArgument("every ip-range or gateway must have a corresponding subnet")


def ipv6_enabled(spec: NetworkSpec) -> bool:
    """`--ipv6`, or an IPv6 subnet, which turns IPv6 on as in Docker >= 25."""
    return spec.enable_ipv6 or any(r.version == 6 for r in spec.ipam)


def user_pools(spec: NetworkSpec, taken: Sequence[IPNetwork]) -> tuple[IpamPool, ...]:
    """The subnets `spec` asks for, IPv4 first (the order Docker shows them), each checked
    against `taken` and the ones before it; a family the network does not have is refused."""
    check_subnet_given(spec)
    for request in spec.ipam:
        if request.version == 4 and not spec.enable_ipv4:
            raise InvalidArgument(
                f"IPv4 is disabled on this network, but it was given the IPv4 subnet "
                f"{request.subnet}"
            )
    if not spec.enable_ipv4 and not ipv6_enabled(spec):
        raise InvalidArgument("IPv4 or IPv6 must be enabled")
    used = list(taken)
    pools = []
    for request in sorted(spec.ipam, key=lambda r: r.version or 4):
        if request.subnet is None:
            continue
        check_user_subnet(request.subnet, used)
        used.append(request.subnet)
        pools.append(
            make_pool(
                request.subnet,
                gateway=request.gateway,
                ip_range=request.ip_range,
                user_subnet=True,
                aux_addresses=request.aux_addresses,
            )
        )
    return tuple(pools)


# the prefix Docker gives an asked-for link-local address (libnetwork's linkLocalMask and
# linkLocalMaskIPv6, endpoint.go)
LINK_LOCAL_PREFIX = {4: 16, 6: 64}


def interface_addresses(endpoint: Endpoint) -> tuple[IPInterface, ...]:
    """The endpoint's addresses with their prefix lengths as the kernel adds them: its pool
    addresses (IPv4 first), then the link-local ones asked for."""
    pairs = [(endpoint.ipv4, endpoint.prefixlen), (endpoint.ipv6, endpoint.prefixlen6)]
    pairs += [(a, LINK_LOCAL_PREFIX[a.version]) for a in endpoint.link_local_ips]
    return tuple(ip_interface((address, length)) for address, length in pairs if address)


def default_gateways(endpoint: Endpoint) -> tuple[IPAddress, ...]:
    """The container's default routes through this endpoint, one per family it has."""
    if not endpoint.default_route:
        return ()
    return tuple(g for g in (endpoint.gateway, endpoint.gateway6) if g is not None)


def _holder(network: Network, address: IPAddress | None) -> IpamPool | None:
    """The subnet of `network` that `address` is in."""
    if address is None:
        return None
    return next((p for p in network.pools(address.version) if address in p.subnet), None)
