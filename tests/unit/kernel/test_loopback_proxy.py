"""The [::1] proxy of published ports (hatoba.kernel.loopback_proxy), on loopback sockets of
the test's own namespace."""

from __future__ import annotations

import socket
import threading

from hatoba.kernel.fw_netns import HomeNetns
from hatoba.kernel.loopback_proxy import LoopbackProxy


def test_a_served_port_listens_before_serve_returns() -> None:
    """A client right after the publish was refused while the proxy's loop had yet to run
    (found as a flaky firewall test under load)."""
    home = HomeNetns()
    proxy = LoopbackProxy(home)
    gate = threading.Event()
    listener = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    try:
        listener.bind(("::1", 0))
        proxy._running().call_soon_threadsafe(gate.wait)  # the loop busy elsewhere
        handle = proxy.serve(listener, "tcp", ("::1", 9))
        assert listener.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 1
        with socket.create_connection(listener.getsockname()[:2], timeout=5):
            pass
        gate.set()
        proxy.stop(handle)
    finally:
        gate.set()
        proxy.close()
        listener.close()
        home.close()
