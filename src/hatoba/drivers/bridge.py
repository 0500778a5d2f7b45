"""The bridge driver: a Linux bridge per network, a veth pair per endpoint, NAT and
isolation in hatoba's tables, names in the embedded DNS on user-defined networks. Interface
names, MAC addresses, subnets and options are decided here, without the kernel."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from ipaddress import IPv4Address, IPv4Interface
from types import MappingProxyType
from typing import ClassVar

from hatoba.drivers.base import (
    HostBridge,
    NetworkDriver,
    Placement,
    check_options,
    check_subnet_given,
)
from hatoba.errors import HatobaError, InvalidArgument
from hatoba.firewall import internal_publish_error
from hatoba.firewall.model import FwNetwork
from hatoba.ipam.pools import check_user_subnet, choose_subnet, make_pool
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


class BridgeDriver(NetworkDriver):
    name = BRIDGE
    predefined_network: ClassVar[str | None] = "bridge"
    gives_interface = True
    publishes_ports = True

    def predefined_spec(self, config: DaemonConfig) -> NetworkSpec:
        """daemon.json's default bridge, as dockerd's initBridgeDriver reads it: bip is the
        gateway and subnet, fixed-cidr the range (and, without bip, the subnet too)."""
        subnet = config.bip.network if config.bip is not None else config.fixed_cidr
        options = {OPT_ICC: _bool(config.icc), OPT_MASQUERADE: _bool(config.ip_masq)}
        if config.mtu is not None:
            options[OPT_MTU] = str(config.mtu)
        return NetworkSpec(
            name=self.predefined_network or self.name,
            subnet=subnet,
            gateway=config.bip.ip if config.bip is not None else None,
            ip_range=config.fixed_cidr,
            options=MappingProxyType(options),
        )

    def plan_network(self, spec: NetworkSpec, placement: Placement) -> Network:
        check_subnet_given(spec)
        validate_options(spec.options)
        mtu = mtu_option(spec.options, placement.uplink_mtu)
        if placement.predefined:
            bridge = DEFAULT_BRIDGE_IFNAME
        else:
            bridge = bridge_name(placement.network_id, spec.options)
        if spec.subnet is not None:
            check_user_subnet(spec.subnet, placement.taken)
            subnet = spec.subnet
        else:
            subnet = choose_subnet(placement.taken, placement.pools)
        pool = make_pool(
            subnet,
            gateway=spec.gateway,
            ip_range=spec.ip_range,
            user_subnet=spec.subnet is not None,
            aux_addresses=spec.aux_addresses,
        )
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
            ipam=(pool,),
            bridge=bridge,
            bridge_mac=random_mac(),
            mtu=mtu,
            internal=spec.internal,
            labels=spec.labels,
            options=options,
            predefined=placement.predefined,
            attachable=spec.attachable,
        )

    def host_bridges(self, network: Network) -> tuple[HostBridge, ...]:
        pool = network.pool
        if network.bridge is None or pool is None:
            return ()
        gateway = IPv4Interface(f"{pool.gateway}/{pool.subnet.prefixlen}")
        return (HostBridge(network.bridge, network.bridge_mac or "", network.mtu, gateway),)

    def plan_endpoint(
        self,
        network: Network,
        address: IPv4Address | None,
        slot: int,
        default_route: bool,
        *,
        mac: str = "",
    ) -> Endpoint:
        host_ifname = veth_name() if address is not None else None
        return self._interface(
            network, address, slot, default_route, mac=mac, host_ifname=host_ifname
        )

    def attach_request(
        self, network: Network, endpoint: Endpoint, owner: str
    ) -> AttachRequest | None:
        """A veth pair: the container's end eth<N> with the endpoint's address and MAC (and
        the default route through the gateway), the host's end a port of the bridge."""
        if not endpoint.ifname or endpoint.ipv4 is None or network.bridge is None:
            return None
        return AttachRequest(
            bridge=network.bridge,
            host_ifname=endpoint.host_ifname or "",
            ifname=endpoint.ifname,
            ifindex=ifindex_of(slot_of(endpoint.ifname)),
            mac=endpoint.mac,
            mtu=network.mtu,
            address=IPv4Interface(f"{endpoint.ipv4}/{endpoint.prefixlen}"),
            default_gateway=endpoint.gateway if endpoint.default_route else None,
            owner=owner,
        )

    def firewall_network(self, network: Network) -> FwNetwork | None:
        pool = network.pool
        if network.bridge is None or pool is None:
            return None
        return FwNetwork(
            network_id=network.id,
            name=network.name,
            bridge=network.bridge,
            subnet=pool.subnet,
            gateway=pool.gateway,
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
