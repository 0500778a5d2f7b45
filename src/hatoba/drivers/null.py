"""The null driver (network `none`): a namespace of its own with loopback only.

Its one network is predefined; a container on it is on no other network and publishes no
ports. Every answer is the seam's default, a driver that does nothing.
"""

from __future__ import annotations

from hatoba.drivers.base import NetworkDriver
from hatoba.model.network import NULL


class NullDriver(NetworkDriver):
    name = NULL
    predefined_network = "none"
    single_instance = True
    exclusive = True
