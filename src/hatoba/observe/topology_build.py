"""The topology of the engine's records, checked against the kernel's links.

The records say what should be (networks, endpoints with their veths, addresses and MACs,
published ports: exactly as the firewall derives them); the host's links say what is (the
uplink, each bridge and veth, and the MACs the kernel chose). Where they differ, the picture
says so instead of hiding it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import replace

from hatoba.drivers import registry as drivers
from hatoba.drivers.base import HostBridge, interface_addresses
from hatoba.firewall.derive import container_items
from hatoba.firewall.model import FwPort
from hatoba.model.container import Container
from hatoba.model.network import IPAddress, Network
from hatoba.observe.topology import (
    Attachment,
    HostView,
    NetworkNode,
    PublishedPort,
    Topology,
    Uplink,
)

# (container id, network id) → the names the embedded DNS answers there
DnsNames = Mapping[tuple[str, str], tuple[str, ...]]


def build(
    networks: Iterable[Network],
    containers: Iterable[Container],
    dns_names: DnsNames,
    host: HostView,
) -> Topology:
    """`host` without links (no kernel to ask) leaves the kernel's side out: no uplink, no
    host MACs, and nothing checked."""
    networks = list(networks)
    containers = sorted(containers, key=lambda c: c.name)
    shared: dict[str, list[str]] = defaultdict(list)
    for c in containers:
        if c.state.running and c.netns_owner:
            shared[c.netns_owner].append(c.name)
    nodes = [
        _network(n, containers, dns_names, shared, host)
        # networks that give interfaces (the default bridge first), then host and none
        for n in sorted(
            networks,
            key=lambda n: (not drivers.of(n).gives_interface, not n.predefined, n.name),
        )
    ]
    return Topology(_uplink(host), tuple(nodes), _published(networks, containers))


def _uplink(host: HostView) -> Uplink:
    link = host.link(host.uplink) if host.uplink else None
    if link is None:
        return Uplink(name=host.uplink, gateway=host.gateway)
    return Uplink(link.name, link.addresses, link.mac, link.mtu, host.gateway)


def _network(
    network: Network,
    containers: list[Container],
    dns_names: DnsNames,
    shared: Mapping[str, list[str]],
    host: HostView,
) -> NetworkNode:
    driver = drivers.of(network)
    fw = driver.firewall_network(network)
    attachments = tuple(
        _attachment(c, network, dns_names, shared.get(c.id, ()), host)
        for c in containers
        if c.config_on(network.id) is not None
    )
    return NetworkNode(
        id=network.id,
        name=network.name,
        driver=network.driver,
        shares_host=driver.shares_host_namespace,
        gives_interfaces=driver.gives_interface,
        bridge=network.bridge or "",
        bridge_mac=network.bridge_mac or "",
        gateway=" ".join(f"{p.gateway}/{p.subnet.prefixlen}" for p in network.ipam) if fw else "",
        mtu=network.mtu if fw else 0,
        internal=network.internal,
        masquerade=fw is not None and fw.masquerade and not network.internal,
        # containers with an interface first, then the others, each by name
        attachments=tuple(sorted(attachments, key=lambda a: (not a.ifname, a.container))),
        problems=_bridge_problems(driver.host_bridges(network), host),
    )


def _bridge_problems(bridges: Iterable[HostBridge], host: HostView) -> tuple[str, ...]:
    """A bridge missing or down; in a segment, the bridge there and the host's link into it."""
    if not host.links:
        return ()
    problems = []
    for bridge in bridges:
        places = [("", "on the host"), (bridge.segment, "in its segment")]
        for segment, where in places[: 2 if bridge.segment else 1]:
            link = host.link(bridge.name, segment)
            if link is None:
                problems.append(f"bridge {bridge.name} is missing {where}")
            elif not link.up:
                problems.append(f"bridge {bridge.name} is down" + (f" {where}" if segment else ""))
    return tuple(problems)


def _attachment(
    container: Container,
    network: Network,
    dns_names: DnsNames,
    shared_with: Iterable[str],
    host: HostView,
) -> Attachment:
    endpoint = container.endpoint_on(network.id)
    base = Attachment(
        container=container.name,
        container_id=container.id,
        status=container.state.status,
        shared_with=tuple(shared_with),
    )
    if endpoint is None or not endpoint.ifname or not endpoint.addresses:
        return base
    veth = endpoint.host_ifname or ""
    bridges = drivers.of(network).host_bridges(network)
    segment = bridges[0].segment if bridges else ""
    link = host.link(veth, segment) if veth else None
    problems: tuple[str, ...] = ()
    if host.links and link is None:
        problems = (f"{veth} is missing {'in its segment' if segment else 'on the host'}",)
    elif link is not None and link.master != network.bridge:
        problems = (f"{veth} is a port of {link.master or 'no bridge'}, not {network.bridge}",)
    return replace(
        base,
        ifname=endpoint.ifname,
        address=" ".join(str(a) for a in interface_addresses(endpoint)),
        mac=endpoint.mac,
        veth=veth,
        veth_mac=link.mac if link is not None else "",
        default_route=endpoint.default_route,
        dns_names=dns_names.get((container.id, network.id), ()),
        problems=problems,
    )


def _published(networks: list[Network], containers: list[Container]) -> tuple[PublishedPort, ...]:
    """As the firewall publishes them: to the container's address on its first network with
    a way out, one line per family a port is reached on."""
    bridges = {n.id: fw for n in networks if (fw := drivers.firewall_network(n)) is not None}
    ports = [
        PublishedPort(
            host_ip=host_ip,
            host_port=port.host_port,
            protocol=port.protocol,
            container=port.container_name,
            network=bridges[port.network_id].name,
            address=str(address),
            container_port=port.container_port,
        )
        for c in containers
        for port in container_items(c, bridges)[1]
        for host_ip, address in _targets(port)
    ]
    return tuple(sorted(ports, key=lambda p: (p.host_port, p.protocol, p.host_ip)))


def _targets(port: FwPort) -> list[tuple[str, IPAddress]]:
    """(host address, container address) of each family: no host address is 0.0.0.0 and `::`
    (IPv6 when the container has an IPv6 address); [::1] reaches its IPv4 one through the
    proxy on a network without IPv6."""
    v4, v6 = port.container_ip, port.container_ip6
    if port.host_ip is None:
        pairs: list[tuple[str, IPAddress | None]] = [("0.0.0.0", v4), ("::", v6)]
    else:
        pairs = [(str(port.host_ip), v4 if port.host_ip.version == 4 else v6 or v4)]
    return [(host, address) for host, address in pairs if address is not None]
