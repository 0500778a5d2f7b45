"""The network drivers hatoba knows, by name: where the engine and the API find a network's
driver. The built-in ones are registered on import, in the order their predefined networks
are made; a new driver is a module beside them, registered here."""

from __future__ import annotations

from hatoba.drivers.base import NetworkDriver
from hatoba.drivers.bridge import BridgeDriver
from hatoba.drivers.host import HostDriver
from hatoba.drivers.macvlan import IpvlanDriver, MacvlanDriver
from hatoba.drivers.null import NullDriver
from hatoba.drivers.overlay import OverlayDriver
from hatoba.errors import NotFound
from hatoba.firewall.model import FwNetwork
from hatoba.model.network import Network

_DRIVERS: dict[str, NetworkDriver] = {}


def register(driver: NetworkDriver) -> None:
    _DRIVERS[driver.name] = driver


def unregister(name: str) -> None:
    _DRIVERS.pop(name, None)


def named(name: str) -> NetworkDriver:
    found = _DRIVERS.get(name)
    if found is None:
        raise NotFound(f'plugin "{name}" not found')
    return found


def of(network: Network) -> NetworkDriver:
    return named(network.driver)


def known() -> tuple[NetworkDriver, ...]:
    return tuple(_DRIVERS.values())


def takes_published_ports(network: Network) -> bool:
    """Host ports can be published to an endpoint on `network`: its driver publishes ports
    and the network is not internal (it has no way out)."""
    return of(network).publishes_ports and not network.internal


def firewall_network(network: Network) -> FwNetwork | None:
    """The network's part in hatoba's tables, as its driver says (for `firewall.derive`)."""
    return of(network).firewall_network(network)


for _driver in (
    BridgeDriver(),
    HostDriver(),
    NullDriver(),
    OverlayDriver(),
    MacvlanDriver(),
    IpvlanDriver(),
):
    register(_driver)
