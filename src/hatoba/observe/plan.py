"""Which way a flow goes: its two ends (a container, the host, or an address outside), the
published port it may go through, and the interfaces it crosses, in order.

    container web   eth0 (in web) → veth… (host) → br-… (host)
      on overlay    eth0 (in web) → veth… (segment) → ov-… (segment)
                    [→ ov-… (host): the host's link into the segment, when the flow leaves it]
    remote          a container of another host on an overlay network (known from the cluster
                    store): ov-… (segment) → vx-… (segment), the tunnel to the other hosts
    host            nothing of its own: the flow starts or ends in the host's stack
    outside         the interface the host routes that address through (the uplink)

A flow from one to the other crosses the source's hops, then the target's in reverse, each
bridge once. Everything here is decided from the engine's records and a few facts the kernel
gave (the host's addresses, its routes); nothing is looked up.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, ip_address

from hatoba.dns.records import DnsRecord
from hatoba.drivers import registry as drivers
from hatoba.errors import InvalidArgument, NotFound
from hatoba.model.container import Container, Endpoint
from hatoba.model.flows import PROTOCOLS, Flow
from hatoba.model.network import Network
from hatoba.model.ports import PortMapping

CONTAINER, HOST, OUTSIDE, REMOTE = "container", "host", "outside", "remote"
SEGMENT = "segment"  # where a hop in an overlay network's own namespace is


@dataclass(frozen=True)
class Hop:
    """An interface a flow crosses, and the namespace it is in (None: the host's)."""

    netns: str | None
    ifname: str
    where: str  # the container's name, or "host"
    what: str  # what it is to people: "eth0 of web", "bridge of sample", "uplink"

    @property
    def label(self) -> str:
        return f"{self.ifname}@{self.where}"


@dataclass(frozen=True)
class Party:
    kind: str  # container, remote (another host's container), host or outside
    name: str  # the container's name, "host", or the address
    address: str
    container: Container | None = None
    endpoint: Endpoint | None = None
    network: Network | None = None

    @property
    def netns(self) -> str | None:
        return self.container.netns if self.container is not None else None


@dataclass(frozen=True)
class Route:
    """A flow from `source` to `target`, as planned."""

    source: Party
    target: Party  # where the packets are addressed
    proto: str
    port: int | None
    hops: tuple[Hop, ...]
    # the published port the flow is DNATed through, and the container behind it
    published: PortMapping | None = None
    backend: Party | None = None
    # addresses the flow may show at some hop (before and after NAT): for capture filters
    addresses: tuple[str, ...] = ()

    @property
    def reached(self) -> Party:
        """Who the packets are for once NAT is done."""
        return self.backend or self.target

    def flow(self, sport: int | None = None) -> Flow:
        """The flow as its first packet shows it (the source address is that of the source)."""
        src = self.source.address or None
        if self.proto == "icmp":
            return Flow("icmp", src, self.target.address, sport, sport)
        return Flow(self.proto, src, self.target.address, sport, self.port)

    def capture_filter(self) -> str:
        """A tcpdump expression that takes every packet of the flow at every hop (and the ICMP
        errors about it); the timeline keeps those of this very flow."""
        hosts = " or ".join(f"host {a}" for a in self.addresses)
        proto = "icmp" if self.proto == "icmp" else f"({self.proto} or icmp)"
        return f"{proto} and ({hosts})"


@dataclass(frozen=True)
class World:
    """What a plan reads: the running containers, the networks, the host's addresses (name of
    the interface → its IPv4 addresses), the interface each outside address is routed by, the
    names (other hosts' containers on overlay networks among them) and the namespace handle
    of each overlay network's segment, by segment name."""

    containers: Sequence[Container]
    networks: Mapping[str, Network]
    host_addresses: Mapping[str, Sequence[str]]
    route_via: Callable[[str], str | None]
    names: Sequence[DnsRecord] = field(default=())
    segments: Mapping[str, str] = field(default_factory=dict)

    def container_at(self, address: str) -> tuple[Container, Endpoint] | None:
        for c in self.containers:
            for ep in c.endpoints:
                if ep.ipv4 is not None and str(ep.ipv4) == address:
                    return c, ep
        return None

    def is_host_address(self, address: str) -> bool:
        return ip_address(address).is_loopback or any(
            address in found for found in self.host_addresses.values()
        )

    def find(self, ref: str) -> Container | None:
        name = ref.lstrip("/")
        for c in self.containers:
            if c.name == name or c.id == ref:
                return c
        matches = [c for c in self.containers if ref and c.id.startswith(ref)]
        return matches[0] if len(matches) == 1 else None

    def remote(self, ref: str) -> Party | None:
        """Another host's container on an overlay network, by a name it has there, its id or
        its address."""
        local = {c.id for c in self.containers}
        for record in self.names:
            if record.container_id in local or record.ipv4 is None:
                continue
            if ref in (*record.names, record.container_id, str(record.ipv4)):
                network = self.networks.get(record.network_id)
                name = record.names[0] if record.names else str(record.ipv4)
                return Party(REMOTE, name, str(record.ipv4), network=network)
        return None


class NameNotFound(NotFound):
    """A name the source container cannot resolve: `networks` are those on which the name
    exists, if any."""

    def __init__(self, message: str, networks: tuple[str, ...]) -> None:
        super().__init__(message)
        self.networks = networks


def parse_target(text: str) -> tuple[str, int | None]:
    """`NAME|IP[:PORT]` → (name or address, port or None)."""
    name, colon, port = text.rpartition(":")
    if not colon:
        return text, None
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise InvalidArgument(f"invalid port in {text}: {port}")
    return name, int(port)


def plan(
    world: World, source: str, target: str, proto: str | None = None, *, dns: bool = False
) -> Route:
    """Both ends of `--from SOURCE --to TARGET[:PORT]` and the way between them.

    A target named from a container: with `dns`, as that container's embedded DNS would answer
    the name (or NameNotFound, saying where the name exists); without, any container's name.
    """
    name, port = parse_target(target)
    proto = proto or ("tcp" if port is not None else "icmp")
    if proto not in PROTOCOLS:
        raise InvalidArgument(f"invalid protocol {proto}: choose tcp, udp or icmp")
    if proto == "icmp" and port is not None:
        raise InvalidArgument("icmp has no ports: give --proto tcp or udp, or no port")
    if proto != "icmp" and port is None:
        raise InvalidArgument(f"{proto} needs a port: --to {target}:PORT")
    src = _party(world, source, None, dns=False)
    dst = _party(world, name, src, dns=dns)
    if src.kind == CONTAINER and dst.kind in (CONTAINER, REMOTE):
        src = _facing(src, dst)
    if src.kind == HOST and not src.address:
        src = Party(HOST, "host", _host_source(world, dst))
    published = backend = None
    if dst.kind == HOST and port is not None:
        found = _published(world, dst.address, proto, port)
        if found is not None:
            published, container, endpoint = found
            backend = _container_party(world, container, endpoint)
    reached = backend or dst
    hops = _hops(world, src, reached) + tuple(reversed(_hops(world, reached, src)))
    addresses = _addresses(world, src, dst, backend)
    return Route(src, dst, proto, port, _dedupe(hops), published, backend, addresses)


def _party(world: World, ref: str, other: Party | None, *, dns: bool) -> Party:
    if ref == "host":
        return Party(HOST, "host", _host_address_for(other))
    try:
        address = str(IPv4Address(ref))
    except ValueError:
        return _named(world, ref, other, dns=dns)
    found = world.container_at(address)
    if found is not None:
        return _container_party(world, *found)
    if world.is_host_address(address):
        return Party(HOST, "host", address)
    return world.remote(address) or Party(OUTSIDE, address, address)


def _named(world: World, ref: str, other: Party | None, *, dns: bool) -> Party:
    container = world.find(ref)
    asker = other.container if other is not None else None
    if dns and asker is not None:
        mine = {ep.network_id for ep in asker.endpoints}
        known = [r for r in world.names if ref in r.names]
        scoped = next((r for r in known if r.network_id in mine), None)
        found = world.container_at(str(scoped.ipv4)) if scoped is not None else None
        if found is not None:
            return _container_party(world, *found)
        remote = world.remote(str(scoped.ipv4)) if scoped is not None else None
        if remote is not None:
            return remote
        where = tuple(dict.fromkeys(r.network_name for r in known))
        raise NameNotFound(_unresolved(ref, asker.name, where, container), where)
    if container is None:
        remote = world.remote(ref)
        if remote is not None:
            return remote
        raise NotFound(f"no container is named {ref}")  # a mistake in the request
    endpoints = [e for e in container.endpoints if e.ipv4 is not None]
    if not endpoints:
        raise InvalidArgument(f"container {container.name} is not running or has no address")
    shared = [e for e in endpoints if asker is not None and asker.endpoint_on(e.network_id)]
    return _container_party(world, container, (shared or endpoints)[0])


def _unresolved(name: str, asker: str, networks: Sequence[str], container: Container | None) -> str:
    """Why `asker` cannot resolve `name`, and where the name exists."""
    head = f"{name} does not resolve in {asker}"
    if networks:
        on = ", ".join(networks)
        return f"{head}: {name} is a name on {on}, and {asker} is on none of them"
    if container is not None:
        addresses = ", ".join(str(e.ipv4) for e in container.endpoints if e.ipv4 is not None)
        return (
            f"{head}: only user-defined networks resolve names, and {name} is on none "
            f"(its address: {addresses or 'none, it is not running'})"
        )
    return f"{head}: no container, alias or name on any network is called so"


def _shares(a: Container, b: Container) -> bool:
    return bool({e.network_id for e in a.endpoints} & {e.network_id for e in b.endpoints})


def _container_party(world: World, container: Container, endpoint: Endpoint) -> Party:
    network = world.networks.get(endpoint.network_id)
    return Party(CONTAINER, container.name, str(endpoint.ipv4), container, endpoint, network)


def _facing(src: Party, dst: Party) -> Party:
    """A container on several networks talks to a neighbour from the network they share."""
    assert src.container is not None
    if dst.network is None:
        return src
    shared = src.container.endpoint_on(dst.network.id)
    if shared is None or shared is src.endpoint:
        return src
    return Party(CONTAINER, src.name, str(shared.ipv4), src.container, shared, dst.network)


def _host_address_for(other: Party | None) -> str:
    """`host` as seen from a container: its gateway (from elsewhere: decided by the route)."""
    if other is not None and other.network is not None and other.network.pool is not None:
        return str(other.network.pool.gateway)
    return ""


def _host_source(world: World, dst: Party) -> str:
    if dst.kind == CONTAINER and dst.network is not None and dst.network.pool is not None:
        return str(dst.network.pool.gateway)
    if dst.kind == HOST:
        return dst.address
    via = world.route_via(dst.address)
    found = world.host_addresses.get(via or "", ())
    return found[0] if found else ""


def _published(
    world: World, address: str, proto: str, port: int
) -> tuple[PortMapping, Container, Endpoint] | None:
    for c in world.containers:
        for mapping in c.published:
            if mapping.protocol != proto or mapping.host_port != port:
                continue
            bound = mapping.host_ip
            if bound is not None and not bound.is_unspecified and str(bound) != address:
                continue
            endpoint = next(
                (
                    e
                    for e in c.endpoints
                    if e.ipv4 is not None
                    and (net := world.networks.get(e.network_id)) is not None
                    and drivers.takes_published_ports(net)
                ),
                None,
            )
            if endpoint is not None:
                return mapping, c, endpoint
    return None


def _hops(world: World, party: Party, other: Party) -> tuple[Hop, ...]:
    """The interfaces from the party to the host's routing, in the direction it sends (to
    `other`, the flow's other end)."""
    if party.kind == HOST:
        return ()
    if party.kind == OUTSIDE:
        via = world.route_via(party.address)
        return (Hop(None, via, "host", "uplink"),) if via else ()
    hops: list[Hop] = []
    if party.container is not None and party.endpoint is not None:
        c, ep = party.container, party.endpoint
        hops.append(Hop(c.netns or None, ep.ifname, c.name, f"{ep.ifname} of {c.name}"))
    network = party.network
    bridges = drivers.of(network).host_bridges(network) if network is not None else ()
    if network is None or not bridges:
        return tuple(hops) + _veth(party, None, "host")
    bridge = bridges[0]
    segment = world.segments.get(bridge.segment) if bridge.segment else None
    where = SEGMENT if segment else "host"
    if party.kind == REMOTE and bridge.tunnel is not None:
        hops.append(Hop(segment, bridge.tunnel.name, where, f"tunnel of {network.name}"))
    hops += _veth(party, segment, where)
    in_segment = " (in its segment)" if segment else ""
    hops.append(Hop(segment, bridge.name, where, f"bridge of {network.name}{in_segment}"))
    beside = other.kind in (CONTAINER, REMOTE) and other.network == network
    if segment and not beside:
        # the flow leaves the segment: routed by the host, through its link into it
        hops.append(Hop(None, bridge.name, "host", f"host's link to {network.name}"))
    return tuple(hops)


def _veth(party: Party, segment: str | None, where: str) -> tuple[Hop, ...]:
    if party.container is None or party.endpoint is None or not party.endpoint.host_ifname:
        return ()
    return (Hop(segment, party.endpoint.host_ifname, where, f"veth of {party.container.name}"),)


def _dedupe(hops: Iterable[Hop]) -> tuple[Hop, ...]:
    out: list[Hop] = []
    for hop in hops:
        if hop not in out:
            out.append(hop)
    return tuple(out)


def _addresses(world: World, src: Party, dst: Party, backend: Party | None) -> tuple[str, ...]:
    found = [src.address, dst.address]
    if backend is not None:
        found.append(backend.address)
    for party in (src, dst, backend):
        if party is not None and party.network is not None and party.network.pool is not None:
            found.append(str(party.network.pool.gateway))  # masquerade toward a container
        if party is not None and party.kind == OUTSIDE:
            via = world.route_via(party.address)
            found += list(world.host_addresses.get(via or "", ()))  # masquerade outward
    return tuple(dict.fromkeys(a for a in found if a))


def echo_id() -> int:
    """An ICMP echo identifier for a probe (Linux's ping takes its own at random, too)."""
    return random.randint(1, 0xFFFF)
