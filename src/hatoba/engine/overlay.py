"""What the engine claims in the cluster store for networks whose driver is cluster-scoped
(overlay): the network itself (name, subnet, VNI) and each endpoint's address.

Addresses are claimed one by one with a compare-and-swap: the key of (network, address) is
created only if absent, with the endpoint's record as its value and the host's lease as its
owner. A per-host block (flannel, Calico) would spare a round trip per start, but it leaves
addresses stranded in the blocks of hosts that hold few containers and needs a second
protocol to hand blocks back; one key per address makes the record, the claim and its release
at a host's death the same thing. Each host starts its search after the address it handed out
last, from a random point at first, so hosts starting many containers at once rarely try the
same address, and a lost race costs one more try.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
from functools import partial

from hatoba.drivers import registry as drivers
from hatoba.drivers.base import NetworkDriver, Placement, VxlanTunnel
from hatoba.engine.core import Core
from hatoba.engine.resolver import dns_names
from hatoba.engine.undo import UndoStack
from hatoba.errors import Conflict, HatobaError
from hatoba.ipam.addresses import allocate, claim
from hatoba.model.cluster import ClusterEndpoint
from hatoba.model.container import Container, Endpoint, EndpointConfig
from hatoba.model.network import IPAddress, Network, NetworkSpec

log = logging.getLogger("hatoba.engine")

# a lost race for a VNI or subnet means another host created a network meanwhile: plan again
NETWORK_TRIES = 8
# each lost race for an address marks it taken; a pool this contended is nearly full anyway
ADDRESS_TRIES = 64


def create_network(
    core: Core, driver: NetworkDriver, spec: NetworkSpec, placement: Placement
) -> Network:
    """The network planned against what the whole cluster holds and created in the store
    (one transaction: name, VNI and subnet, each only if free). Two hosts creating the same
    name at once get one network and one Conflict."""
    for _ in range(NETWORK_TRIES):
        view = core.cluster.view()
        if view.network_by_name(spec.name) is not None:
            raise Conflict(f"network with name {spec.name} already exists")
        subnets = tuple(p.subnet for n in view.networks.values() for p in n.ipam)
        vnis = frozenset(t.vni for n in view.networks.values() for t in _tunnels(n))
        network = driver.plan_network(
            spec,
            dataclasses.replace(
                placement,
                predefined=False,
                taken=(*placement.taken, *subnets),
                network_subnets=(*placement.network_subnets, *subnets),
                taken_vnis=vnis,
            ),
        )
        if core.cluster.create_network(network):
            return network
    raise Conflict(f"network {spec.name}: its VXLAN id or subnet was taken by every try")


def _tunnels(network: Network) -> list[VxlanTunnel]:
    return [b.tunnel for b in drivers.of(network).host_bridges(network) if b.tunnel is not None]


def claim_endpoint(
    core: Core,
    undo: UndoStack,
    container: Container,
    network: Network,
    cfg: EndpointConfig,
    slot: int,
    default_route: bool,
    mac: str,
) -> Endpoint:
    """The container's endpoint on an overlay network, its address claimed in the store with
    its record (released if the operation fails)."""
    driver = drivers.of(network)
    taken = {
        *core.cluster.view().endpoints_on(network.id),
        *core.state.addresses_in_use(network.id),
    }
    for _ in range(ADDRESS_TRIES):
        if cfg.ipv4 is not None:
            address = claim(network, cfg.ipv4, taken)
        else:
            address = allocate(network, 4, taken, _start_after(core, network))
        endpoint = driver.plan_endpoint(network, (address,), slot, default_route, mac=mac)
        if core.cluster.claim(record_of(core, container, cfg, endpoint)):
            core.addresses.handed_out(network.id, address)
            undo.push("address claim", partial(release, core, endpoint))
            return endpoint
        if cfg.ipv4 is not None:
            raise Conflict("Address already in use")
        taken.add(address)
    raise Conflict(
        "no available IPv4 addresses on this network's address pools: "
        f"{network.name} ({network.id})"
    )


def _start_after(core: Core, network: Network) -> IPAddress | None:
    last = core.addresses.last_of(network.id, 4)
    if last is not None:
        return last
    pool = network.pool
    if pool is None:
        return None
    rng = pool.allocation_range
    return rng.network_address + secrets.randbelow(rng.num_addresses)


def record_of(
    core: Core, container: Container, cfg: EndpointConfig, endpoint: Endpoint
) -> ClusterEndpoint:
    assert endpoint.ipv4 is not None
    return ClusterEndpoint(
        network_id=endpoint.network_id,
        address=endpoint.ipv4,
        mac=endpoint.mac,
        host_id=core.cluster.host_id,
        vtep=core.cluster.advertise,
        container_id=container.id,
        endpoint_id=endpoint.endpoint_id,
        names=dns_names(container, cfg),
    )


def release(core: Core, endpoint: Endpoint) -> None:
    """Best effort: a record the store could not drop now goes when this host registers again
    (engine/cluster.py), or with its lease."""
    if endpoint.ipv4 is None:
        return
    try:
        core.cluster.release(endpoint.network_id, endpoint.ipv4)
    except HatobaError as exc:
        log.warning("address %s stays claimed for now: %s", endpoint.ipv4, exc)


def announce(core: Core, container: Container) -> None:
    """A running container's records again, as they are now (after a rename): best effort,
    the next registration puts right what fails."""
    for endpoint in container.endpoints:
        network = core.state.networks.get(endpoint.network_id)
        cfg = container.config_on(endpoint.network_id)
        if network is None or cfg is None or not drivers.of(network).cluster_scoped:
            continue
        try:
            core.cluster.claim(record_of(core, container, cfg, endpoint))
        except HatobaError as exc:
            log.warning("names of %s not announced to the cluster yet: %s", container.name, exc)
