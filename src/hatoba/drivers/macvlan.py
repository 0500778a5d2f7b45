"""The macvlan driver: containers appear on an existing host interface's segment (the parent,
`-o parent=IFACE`), each with a MAC and an address of its own from the network's subnet, as
hosts of that LAN; no bridge, no NAT, no published ports, no rules in hatoba's tables. Names
are served by the embedded DNS, as on any user-defined network.

As with Docker, the host cannot reach its own macvlan containers through the parent: the
kernel hands frames between a parent and its macvlans to neither side. The workaround is a
macvlan of the host's own on the same parent, with an address the network keeps out of its
pool (`--aux-address host=IP`) and a route to the containers through it.

Also here: the ipvlan driver and 802.1q sub-interfaces (`-o parent=eth0.10`), which this
kernel cannot make (no ipvlan and no 8021q module): both are refused with that reason, found
by asking the kernel, and hatoba has no code to make them until a kernel to test it has them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from hatoba.drivers.base import (
    NetworkDriver,
    Placement,
    check_options,
    default_gateways,
    interface_addresses,
    ipv6_enabled,
    user_pools,
)
from hatoba.errors import HatobaError, InvalidArgument
from hatoba.model.container import Endpoint
from hatoba.model.host import HostView, InterfaceRequest, MacvlanRequest
from hatoba.model.network import IPAddress, Network, NetworkSpec

MACVLAN, IPVLAN = "macvlan", "ipvlan"
OPT_PARENT, OPT_MODE = "parent", "macvlan_mode"
MODES = ("bridge", "private", "vepa", "passthru")
# the host's own macvlan in the way round its isolation from the containers
SHIM_NAME = "macvlan-host"
# `eth0.10`: the name Docker reads as VLAN 10 on eth0, a sub-interface it would make
_VLAN_PARENT = re.compile(r"^(?P<link>.+)\.(?P<vlan>\d{1,4})$")


def missing_module(what: str, module: str) -> InvalidArgument:
    return InvalidArgument(
        f"{what} cannot be made here: this kernel lacks the {module} module "
        "(it has no link driver for it and none loads)"
    )


def mode_of(options: Mapping[str, str]) -> str:
    return options.get(OPT_MODE) or "bridge"


def _parent(spec: NetworkSpec, host: HostView) -> str:
    parent = spec.options.get(OPT_PARENT, "")
    if not parent:
        # Docker makes a dummy link then, which this kernel lacks: hatoba wants a real one
        raise InvalidArgument(
            "macvlan networks need -o parent=IFACE, the host interface whose segment the "
            "containers join"
        )
    if parent == "lo":
        raise InvalidArgument("loopback interface is not a valid macvlan parent link")
    if host.host_link(parent) is not None:
        return parent
    vlan = _VLAN_PARENT.match(parent)
    if vlan is None:
        raise InvalidArgument(f"the requested parent interface {parent} was not found on the host")
    if not host.supports_link_kind("vlan"):
        raise missing_module(f"-o parent={parent} (VLAN {vlan['vlan']} on {vlan['link']})", "8021q")
    raise InvalidArgument(
        f"hatoba does not make 802.1q sub-interfaces yet: create {parent} first, "
        "then use it as the parent"
    )


class MacvlanDriver(NetworkDriver):
    name = MACVLAN
    gives_interface = True
    interfaces_in_namespace = True

    def plan_network(self, spec: NetworkSpec, placement: Placement) -> Network:
        check_options(MACVLAN, spec.options, {OPT_PARENT, OPT_MODE})
        mode = mode_of(spec.options)
        if mode not in MODES:
            # Docker's text (drivers/macvlan/macvlan_network.go)
            raise InvalidArgument(
                f"requested macvlan mode '{mode}' is not valid, 'bridge' mode is the macvlan "
                "driver default"
            )
        parent = _parent(spec, placement.host)
        if spec.internal:
            raise InvalidArgument(
                "macvlan networks cannot be --internal: their containers are hosts of the "
                "parent's segment, beyond hatoba's firewall"
            )
        pools = user_pools(spec, placement.network_subnets)
        # hatoba does not guess a LAN's subnet from its private pools (Podman refuses too)
        if spec.enable_ipv4 and not any(p.version == 4 for p in pools):
            raise InvalidArgument(
                "macvlan networks need --subnet (and --gateway, unless the segment's router "
                "is its first address): the subnet of the parent's segment"
            )
        if ipv6_enabled(spec) and not any(p.version == 6 for p in pools):
            raise InvalidArgument(
                "macvlan networks with IPv6 need an IPv6 --subnet (and --gateway, unless the "
                "segment's router is its first address): the prefix of the parent's segment"
            )
        link = placement.host.host_link(parent)
        return Network(
            id=placement.network_id,
            name=spec.name,
            driver=self.name,
            created=placement.created,
            ipam=pools,
            mtu=link.mtu if link is not None else placement.uplink_mtu,
            labels=spec.labels,
            options=spec.options,
            attachable=spec.attachable,
            enable_ipv6=ipv6_enabled(spec),
            enable_ipv4=spec.enable_ipv4,
        )

    def plan_endpoint(
        self,
        network: Network,
        addresses: Sequence[IPAddress],
        slot: int,
        default_route: bool,
        *,
        mac: str = "",
    ) -> Endpoint:
        return self._interface(network, addresses, slot, default_route, mac=mac, host_ifname=None)

    def attach_request(
        self, network: Network, endpoint: Endpoint, owner: str
    ) -> InterfaceRequest | None:
        if not endpoint.ifname or not endpoint.addresses:
            return None
        return MacvlanRequest(
            parent=network.options[OPT_PARENT],
            mode=mode_of(network.options),
            ifname=endpoint.ifname,
            mac=endpoint.mac,
            addresses=interface_addresses(endpoint),
            default_gateways=default_gateways(endpoint),
            owner=owner,
        )

    def publish_refusal(self, network: Network) -> HatobaError | None:
        return InvalidArgument(
            f"cannot publish ports on macvlan network {network.name}: its containers are "
            "reached at their own addresses on the parent's segment, without NAT"
        )

    def serves_dns(self, network: Network) -> bool:
        return True

    def warnings(self, network: Network) -> tuple[str, ...]:
        """The host cannot reach its own macvlan containers: said at create, with the way
        round it (Docker says it in its documentation)."""
        pool = network.ipam[0]
        parent = network.options[OPT_PARENT]
        shim = next(iter(pool.aux_addresses.values()), None)
        address = str(shim) if shim is not None else "IP"
        host_prefix = pool.subnet.max_prefixlen
        return (
            f"the host cannot reach containers on {network.name} through {parent}: the kernel "
            f"keeps a parent and its macvlans apart. To reach them, give the host a macvlan of "
            f"its own with an address the network keeps out of its pool (--aux-address "
            f"host=IP): ip link add {SHIM_NAME} link {parent} type macvlan mode bridge; "
            f"ip addr add {address}/{host_prefix} dev {SHIM_NAME}; ip link set {SHIM_NAME} up; "
            f"ip route add {pool.allocation_range} dev {SHIM_NAME}",
        )


class IpvlanDriver(NetworkDriver):
    """Refused: this kernel has no ipvlan module (asked at each create, in case one loads)."""

    name = IPVLAN

    def plan_network(self, spec: NetworkSpec, placement: Placement) -> Network:
        if not placement.host.supports_link_kind(IPVLAN):
            raise missing_module("ipvlan networks", "ipvlan")
        raise InvalidArgument("hatoba does not make ipvlan networks yet")
