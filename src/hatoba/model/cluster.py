"""What hosts sharing a cluster store know of each other: hosts, overlay networks and the
endpoints on them, as the store's local cache last saw them.

A `ClusterView` is immutable: the store's watch builds the next one and swaps it, so the
engine's worker and the DNS server read one consistent snapshot without waiting on the store.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from types import MappingProxyType

from hatoba.model.network import Network

# the VXLAN port IANA assigned (RFC 7348), as Docker's overlay uses
VXLAN_PORT = 4789
# VNIs below are left to other users of the underlay (Docker's overlay starts at 4096 too)
FIRST_VNI = 4097
LAST_VNI = (1 << 24) - 1
# outer Ethernet 14 + IPv4 20 + UDP 8 + VXLAN 8
VXLAN_OVERHEAD = 50


@dataclass(frozen=True)
class ClusterHost:
    """A host whose lease is alive: its id, the underlay address other hosts reach it at."""

    host_id: str
    address: IPv4Address
    name: str = ""


@dataclass(frozen=True)
class ClusterEndpoint:
    """A container's endpoint on an overlay network, wherever it runs. The record is also
    the claim of its address: one key per (network, address), owned by its host's lease."""

    network_id: str
    address: IPv4Address
    mac: str
    host_id: str
    # the VXLAN tunnel endpoint: the underlay address of the host it runs on
    vtep: IPv4Address
    container_id: str
    endpoint_id: str = ""
    # Docker's DNS names on the network: name, aliases, short id, hostname
    names: tuple[str, ...] = ()


def _empty() -> Mapping[str, object]:
    return MappingProxyType({})


@dataclass(frozen=True)
class ClusterView:
    # the store has been listed since the service started: absent networks are really gone
    synced: bool = False
    # the store answers now (False while it is unreachable: the view is what it last said)
    connected: bool = False
    # grows each time this host (re)connects or takes a new lease: its endpoints are then
    # registered again (what a lost lease took, what failed while the store was away)
    epoch: int = 0
    hosts: Mapping[str, ClusterHost] = field(default_factory=_empty)  # type: ignore[arg-type]
    networks: Mapping[str, Network] = field(default_factory=_empty)  # type: ignore[arg-type]
    # network id -> address -> endpoint
    endpoints: Mapping[str, Mapping[IPv4Address, ClusterEndpoint]] = field(
        default_factory=_empty  # type: ignore[arg-type]
    )

    def endpoints_on(self, network_id: str) -> Mapping[IPv4Address, ClusterEndpoint]:
        return self.endpoints.get(network_id, MappingProxyType({}))

    def network_by_name(self, name: str) -> Network | None:
        return next((n for n in self.networks.values() if n.name == name), None)


@dataclass(frozen=True)
class ClusterInfo:
    """What `hatoba info` shows of the cluster."""

    store: str
    host_id: str
    advertise: IPv4Address
    connected: bool
    hosts: tuple[ClusterHost, ...]
