"""A host's container networking as people look at it (`hatoba network topology`): the uplink,
each network with its bridge, the veth pairs to the containers' interfaces with their
addresses, MACs and DNS names, the containers without interfaces (host, none, stopped, sharing
another's namespace), and the published ports with where they lead.

These are display values, like `timeline`: the service builds them (`topology_build`) from
its records and the kernel's links and sends them as JSON; the CLI renders them
(`topology_draw`). Standard library only, so the CLI may import it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


# --- what the kernel says about the host's namespace (read by the service) ------------------


@dataclass(frozen=True)
class HostLink:
    name: str
    kind: str = ""  # bridge, veth, "" for a physical device
    mac: str = ""
    mtu: int = 0
    up: bool = False
    master: str = ""  # the bridge this link is a port of
    addresses: tuple[str, ...] = ()  # IPv4, with prefix length


@dataclass(frozen=True)
class HostView:
    links: tuple[HostLink, ...] = ()
    uplink: str = ""  # the default route's interface ("" without one)
    gateway: str = ""  # the default route's next hop
    # the links of each segment (the namespace an overlay network is bridged in), by name
    segments: tuple[tuple[str, tuple[HostLink, ...]], ...] = ()

    def link(self, name: str, segment: str = "") -> HostLink | None:
        """A link of the host's namespace, or of `segment`'s."""
        links = dict(self.segments).get(segment, ()) if segment else self.links
        return next((link for link in links if link.name == name), None)


# --- the picture ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Uplink:
    name: str  # "" when the host has no default route
    addresses: tuple[str, ...] = ()
    mac: str = ""
    mtu: int = 0
    gateway: str = ""


@dataclass(frozen=True)
class Attachment:
    """One container on one network: its interface there and the veth pair behind it (none
    on host and none networks, or while the container is not running)."""

    container: str
    container_id: str
    status: str  # running, exited, created, restarting
    ifname: str = ""  # eth0
    address: str = ""  # 172.18.0.2/16 (and fd00::2/64 on a network with IPv6)
    mac: str = ""
    veth: str = ""  # the pair's end on the host, a port of the bridge
    veth_mac: str = ""  # as the kernel has it ("" when the kernel has no such link)
    default_route: bool = False
    dns_names: tuple[str, ...] = ()  # what the embedded DNS answers with this address
    shared_with: tuple[str, ...] = ()  # containers running in this one's namespace
    problems: tuple[str, ...] = ()  # where the kernel differs from the records


@dataclass(frozen=True)
class NetworkNode:
    id: str
    name: str
    driver: str  # bridge, host, null
    # what its driver says: containers on it run in the host's namespace (host); get an
    # interface of their own (bridge). Neither: loopback only (none)
    shares_host: bool = False
    gives_interfaces: bool = False
    bridge: str = ""
    bridge_mac: str = ""
    gateway: str = ""  # 172.18.0.1/16 (and fd00::1/64: every subnet's, space-separated)
    mtu: int = 0
    internal: bool = False
    # traffic to the outside leaves masqueraded by the uplink's address
    masquerade: bool = False
    attachments: tuple[Attachment, ...] = ()
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class PublishedPort:
    """A host port and the container address the firewall sends it to."""

    host_ip: str  # 0.0.0.0 for every address of the host
    host_port: int
    protocol: str
    container: str
    network: str
    address: str  # the container's address on `network`, without prefix length
    container_port: int


@dataclass(frozen=True)
class Topology:
    uplink: Uplink
    networks: tuple[NetworkNode, ...] = ()
    published: tuple[PublishedPort, ...] = ()

    @property
    def containers(self) -> list[str]:
        """Every container shown, each once, in order of appearance."""
        names = (
            name
            for network in self.networks
            for a in network.attachments
            for name in (a.container, *a.shared_with)
        )
        return list(dict.fromkeys(names))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Topology:
        def attachment(doc: dict[str, Any]) -> Attachment:
            return Attachment(
                **{
                    **doc,
                    "dns_names": tuple(doc.get("dns_names", ())),
                    "shared_with": tuple(doc.get("shared_with", ())),
                    "problems": tuple(doc.get("problems", ())),
                }
            )

        def network(doc: dict[str, Any]) -> NetworkNode:
            return NetworkNode(
                **{
                    **doc,
                    "attachments": tuple(attachment(a) for a in doc.get("attachments", ())),
                    "problems": tuple(doc.get("problems", ())),
                }
            )

        uplink = data["uplink"]
        return cls(
            uplink=Uplink(**{**uplink, "addresses": tuple(uplink.get("addresses", ()))}),
            networks=tuple(network(n) for n in data.get("networks", ())),
            published=tuple(PublishedPort(**p) for p in data.get("published", ())),
        )
