"""The host driver: containers share the host's network stack (`--net host`).

Its one network is predefined; a container on it has no namespace, interface, address or
hostname of its own, reads the host's /etc/hosts, publishes no ports (they are the host's
already) and can neither join nor leave networks.
"""

from __future__ import annotations

from hatoba.drivers.base import NetworkDriver
from hatoba.model.network import HOST


class HostDriver(NetworkDriver):
    name = HOST
    predefined_network = "host"
    single_instance = True
    exclusive = True
    shares_host_namespace = True
