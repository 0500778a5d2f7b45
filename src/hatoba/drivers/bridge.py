"""The bridge driver: a Linux bridge per network, a veth pair per endpoint, NAT and
isolation in hatoba's tables, names in the embedded DNS on user-defined networks. Interface
names, MAC addresses, subnets and options are decided here, without the kernel."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from ipaddress import IPv4Address, ip_interface
from types import MappingProxyType
from typing import ClassVar

from hatoba.drivers.base import (
    HostBridge,
    NetworkDriver,
    Placement,
    check_options,
    default_gateways,
    interface_addresses,
    ipv6_enabled,
    user_pools,
)
from hatoba.errors import HatobaError, InvalidArgument
from hatoba.firewall import internal_publish_error
from hatoba.firewall.model import FwNetwork
from hatoba.ipam.pools import choose_subnet, make_pool
from hatoba.model.container import Endpoint
from hatoba.model.daemon import DaemonConfig
from hatoba.model.host import AttachRequest
from hatoba.model.network import (
    BRIDGE,
    DEFAULT_BRIDGE_IFNAME,
    OPT_BRIDGE_NAME,
    OPT_DEFAULT_BRIDGE,
    OPT_HOST_BINDING,
    OPT_ICC,
    OPT_IFACE_PREFIX,
    OPT_MASQUERADE,
    OPT_MTU,
    IPAddress,
    IpamPool,
    IpamRequest,
    Network,
    NetworkSpec,
)

IFNAMSIZ = 15
# Docker's bridge options (docs.docker.com, network/drivers/bridge.md, as of 20.10)
KNOWN_OPTIONS = frozenset({OPT_BRIDGE_NAME, OPT_MTU, OPT_ICC, OPT_MASQUERADE, OPT_HOST_BINDING})
NOT_BUILT_OPTIONS = frozenset({OPT_IFACE_PREFIX})


def bridge_name(network_id: str, options: Mapping[str, str]) -> str:
    name = options.get(OPT_BRIDGE_NAME) or f"br-{network_id[:12]}"
    validate_ifname(name)
    return name


def validate_ifname(name: str) -> None:
    if not name or len(name) > IFNAMSIZ or "/" in name or any(c.isspace() for c in name):
        raise InvalidArgument(f"invalid interface name: {name!r}")


def mtu_option(options: Mapping[str, str], default: int) -> int:
    raw = options.get(OPT_MTU)
    if raw is None:
        return default
    try:
        mtu = int(raw)
    except ValueError:
        raise InvalidArgument(f"invalid MTU value {raw!r}") from None
    if not 68 <= mtu <= 65535:
        raise InvalidArgument(f"invalid MTU number: {mtu}")
    return mtu


def bool_option(options: Mapping[str, str], key: str) -> None:
    raw = options.get(key)
    if raw is not None and raw.lower() not in ("true", "false", "1", "0"):
        raise InvalidArgument(f"failed to parse {key} value: {raw!r}")


def validate_options(options: Mapping[str, str]) -> None:
    check_options(BRIDGE, options, KNOWN_OPTIONS, NOT_BUILT_OPTIONS)
    bool_option(options, OPT_ICC)
    bool_option(options, OPT_MASQUERADE)
    host_binding(options)


def host_binding(options: Mapping[str, str]) -> IPv4Address | None:
    """The host address ports are published on when `-p` names none (None: every address)."""
    raw = options.get(OPT_HOST_BINDING)
    if raw is None:
        return None
    try:
        address = IPv4Address(raw)
    except ValueError:
        raise InvalidArgument(f"failed to parse {OPT_HOST_BINDING} value: {raw!r}") from None
    return None if address.is_unspecified else address


def _bool(value: bool) -> str:
    return "true" if value else "false"


def random_mac() -> str:
    """Docker-style `02:42:` prefix; pinned on the bridge so its MAC never follows its ports."""
    return "02:42:" + ":".join(f"{b:02x}" for b in secrets.token_bytes(4))


def veth_name() -> str:
    return "veth" + secrets.token_hex(4)[:7]


def ifindex_of(slot: int) -> int:
    """eth<N> is created with ifindex N+2 in its namespace (lo is 1): no lookup needed."""
    return slot + 2


def slot_of(ifname: str) -> int:
    return int(ifname.removeprefix("eth"))


def plan_pools(spec: NetworkSpec, placement: Placement) -> tuple[IpamPool, ...]:
    """The subnets of a new network, in the order Docker shows them: those asked for (IPv4
    first), then one from the address pools for each enabled family that got none."""
    pools = list(user_pools(spec, placement.taken))
    taken = [*placement.taken, *(p.subnet for p in pools)]
    for version, enabled in ((4, spec.enable_ipv4), (6, ipv6_enabled(spec))):
        if enabled and not any(p.version == version for p in pools):
            subnet = choose_subnet(taken, placement.pools, version)
            taken.append(subnet)
            pools.append(make_pool(subnet))
    return tuple(pools)


class BridgeDriver(NetworkDriver):
    name = BRIDGE
    predefined_network: ClassVar[str | None] = "bridge"
    gives_interface = True
    publishes_ports = True

    def predefined_spec(self, config: DaemonConfig) -> NetworkSpec:
        """daemon.json's default bridge, as dockerd's initBridgeDriver reads it: bip is the
        gateway and subnet, fixed-cidr the range (and, without bip, the subnet too); with
        ipv6, fixed-cidr-v6 is its IPv6 subnet (without it, one from the pools)."""
        subnet = config.bip.network if config.bip is not None else config.fixed_cidr
        options = {OPT_ICC: _bool(config.icc), OPT_MASQUERADE: _bool(config.ip_masq)}
        if config.mtu is not None:
            options[OPT_MTU] = str(config.mtu)
        ipam: list[IpamRequest] = []
        if subnet is not None:
            gateway = config.bip.ip if config.bip is not None else None
            ipam.append(IpamRequest(subnet, gateway, config.fixed_cidr))
        if config.fixed_cidr_v6 is not None:
            ipam.append(IpamRequest(config.fixed_cidr_v6))
        return NetworkSpec(
            name=self.predefined_network or self.name,
            ipam=tuple(ipam),
            enable_ipv6=config.ipv6,
            options=MappingProxyType(options),
        )

    def plan_network(self, spec: NetworkSpec, placement: Placement) -> Network:
        validate_options(spec.options)
        mtu = mtu_option(spec.options, placement.uplink_mtu)
        if placement.predefined:
            bridge = DEFAULT_BRIDGE_IFNAME
        else:
            bridge = bridge_name(placement.network_id, spec.options)
        pools = plan_pools(spec, placement)
        options: Mapping[str, str] = spec.options
        if placement.predefined:
            # what Docker shows for its default bridge
            options = MappingProxyType(
                {
                    OPT_DEFAULT_BRIDGE: "true",
                    OPT_ICC: spec.options.get(OPT_ICC, "true"),
                    OPT_MASQUERADE: spec.options.get(OPT_MASQUERADE, "true"),
                    OPT_HOST_BINDING: "0.0.0.0",
                    OPT_BRIDGE_NAME: bridge,
                    OPT_MTU: str(mtu),
                }
            )
        return Network(
            id=placement.network_id,
            name=spec.name,
            driver=self.name,
            created=placement.created,
            ipam=pools,
            bridge=bridge,
            bridge_mac=random_mac(),
            mtu=mtu,
            internal=spec.internal,
            labels=spec.labels,
            options=options,
            predefined=placement.predefined,
            attachable=spec.attachable,
            enable_ipv6=ipv6_enabled(spec),
            enable_ipv4=spec.enable_ipv4,
        )

    def host_bridges(self, network: Network) -> tuple[HostBridge, ...]:
        if network.bridge is None or not network.ipam:
            return ()
        gateways = tuple(ip_interface((p.gateway, p.subnet.prefixlen)) for p in network.ipam)
        return (HostBridge(network.bridge, network.bridge_mac or "", network.mtu, gateways),)

    def plan_endpoint(
        self,
        network: Network,
        addresses: Sequence[IPAddress],
        slot: int,
        default_route: bool,
        *,
        mac: str = "",
    ) -> Endpoint:
        host_ifname = veth_name() if addresses else None
        return self._interface(
            network, addresses, slot, default_route, mac=mac, host_ifname=host_ifname
        )

    def attach_request(
        self, network: Network, endpoint: Endpoint, owner: str
    ) -> AttachRequest | None:
        """A veth pair: the container's end eth<N> with the endpoint's address and MAC (and
        the default route through the gateway), the host's end a port of the bridge."""
        if not endpoint.ifname or not endpoint.addresses or network.bridge is None:
            return None
        return AttachRequest(
            bridge=network.bridge,
            host_ifname=endpoint.host_ifname or "",
            ifname=endpoint.ifname,
            ifindex=ifindex_of(slot_of(endpoint.ifname)),
            mac=endpoint.mac,
            mtu=network.mtu,
            addresses=interface_addresses(endpoint),
            default_gateways=default_gateways(endpoint),
            owner=owner,
        )

    def firewall_network(self, network: Network) -> FwNetwork | None:
        if network.bridge is None or not network.ipam:
            return None
        return FwNetwork(
            network_id=network.id,
            name=network.name,
            bridge=network.bridge,
            subnets=tuple(p.subnet for p in network.ipam),
            internal=network.internal,
            icc=network.icc,
            masquerade=network.options.get(OPT_MASQUERADE, "true").lower() != "false",
        )

    def serves_dns(self, network: Network) -> bool:
        """Docker's rule: user-defined networks only, not the default bridge."""
        return network.user_defined

    def publish_refusal(self, network: Network) -> HatobaError | None:
        """An internal network has no way out (Docker publishes nothing there without a
        word; hatoba says so)."""
        return internal_publish_error(network.name) if network.internal else None

    def default_host_ip(self, network: Network) -> IPv4Address | None:
        return host_binding(network.options)
