"""The overlay driver: one network across every host of a cluster, on VXLAN.

On each host the network is a segment: a namespace of its own (as Docker's overlay driver
has) holding a bridge and a VXLAN port that carries the segment to the other hosts, and the
endpoints' veths as ports of that bridge. The host reaches it through a veth named as the
bridge, holding the gateway address (the same on every host, so a container's way out is its
own host's NAT): the host's firewall sees the network's routed traffic on that link, never
its bridged frames. What is cluster-wide (name, subnet, VNI, each address) is claimed in the
cluster store by the engine; this module only plans.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from ipaddress import IPv4Network
from types import MappingProxyType

from hatoba.drivers.base import (
    HostBridge,
    Placement,
    VxlanTunnel,
    check_options,
    ipv6_enabled,
    user_pools,
)
from hatoba.drivers.bridge import BridgeDriver, mtu_option, random_mac
from hatoba.errors import Conflict, InvalidArgument
from hatoba.firewall.model import FwNetwork
from hatoba.ipam.pools import choose_subnet, make_pool
from hatoba.model.cluster import FIRST_VNI, LAST_VNI, VXLAN_OVERHEAD
from hatoba.model.container import Endpoint
from hatoba.model.daemon import AddressPool
from hatoba.model.host import AttachRequest
from hatoba.model.network import OPT_MTU, OPT_VNI, OVERLAY, IPNetwork, Network, NetworkSpec

KNOWN_OPTIONS = frozenset({OPT_MTU, OPT_VNI})
# Docker's default address pool for overlay networks: 10.0.0.0/8 in /24s
OVERLAY_POOL = IPv4Network("10.0.0.0/8")
OVERLAY_PREFIX = 24


def choose_overlay_subnet(taken: tuple[IPNetwork, ...]) -> IPNetwork:
    return choose_subnet(taken, (AddressPool(OVERLAY_POOL, OVERLAY_PREFIX),))


def choose_vni(options: Mapping[str, str], taken: frozenset[int]) -> int:
    raw = options.get(OPT_VNI)
    if raw is not None:
        try:
            vni = int(raw)
        except ValueError:
            raise InvalidArgument(f"invalid VXLAN id {raw!r}") from None
        if not 1 <= vni <= LAST_VNI:
            raise InvalidArgument(f"invalid VXLAN id {vni}: must be between 1 and {LAST_VNI}")
        if vni in taken:
            raise Conflict(f"VXLAN id {vni} is already in use")
        return vni
    return next(v for v in range(FIRST_VNI, LAST_VNI + 1) if v not in taken)


def bridge_of(network_id: str) -> str:
    return f"ov-{network_id[:12]}"


def tunnel_of(network_id: str) -> str:
    return f"vx-{network_id[:12]}"


def segment_of(network_id: str) -> str:
    """The name of the network's namespace (its handle's, beside the containers')."""
    return f"ov-{network_id[:12]}"


class OverlayDriver(BridgeDriver):
    """Endpoints, firewall and DNS as a user-defined bridge's (inherited); the network is
    the cluster's, with a VXLAN port beside its bridge on every host."""

    name = OVERLAY
    predefined_network = None
    scope = "global"
    cluster_scoped = True

    def plan_network(self, spec: NetworkSpec, placement: Placement) -> Network:
        if ipv6_enabled(spec) or not spec.enable_ipv4:
            raise InvalidArgument("hatoba's overlay networks are IPv4 only")
        if len(spec.ipam) > 1:
            raise InvalidArgument("an overlay network has one subnet")
        check_options(OVERLAY, spec.options, KNOWN_OPTIONS)
        mtu = mtu_option(spec.options, placement.uplink_mtu - VXLAN_OVERHEAD)
        pools = user_pools(spec, placement.taken) or (
            make_pool(choose_overlay_subnet(placement.taken)),
        )
        vni = choose_vni(spec.options, placement.taken_vnis)
        return Network(
            id=placement.network_id,
            name=spec.name,
            driver=self.name,
            created=placement.created,
            ipam=pools,
            bridge=bridge_of(placement.network_id),
            bridge_mac=random_mac(),
            mtu=mtu,
            internal=spec.internal,
            labels=spec.labels,
            options=MappingProxyType({**spec.options, OPT_VNI: str(vni)}),
        )

    def host_bridges(self, network: Network) -> tuple[HostBridge, ...]:
        bridges = super().host_bridges(network)
        tunnel = VxlanTunnel(tunnel_of(network.id), vni_of(network), network.mtu)
        segment = segment_of(network.id)
        return tuple(HostBridge(b.name, b.mac, b.mtu, b.gateways, tunnel, segment) for b in bridges)

    def attach_request(
        self, network: Network, endpoint: Endpoint, owner: str
    ) -> AttachRequest | None:
        request = super().attach_request(network, endpoint, owner)
        if request is None:
            return None
        return dataclasses.replace(request, segment=segment_of(network.id))

    def firewall_network(self, network: Network) -> FwNetwork | None:
        fw = super().firewall_network(network)
        return dataclasses.replace(fw, segment=segment_of(network.id)) if fw is not None else None

    def serves_dns(self, network: Network) -> bool:
        return True


def vni_of(network: Network) -> int:
    return int(network.options[OPT_VNI])
