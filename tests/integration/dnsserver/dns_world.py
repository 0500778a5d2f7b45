"""A small world for the resolver's integration tests, inside a Sandbox.

The "service" is a DnsServer whose event loop runs on its own thread in the sandbox's host
namespace (so host-side upstream traffic stays in the sandbox); the test's thread calls the
server's methods, as the engine's worker thread will. Containers are bare namespaces with `lo`
up, optionally with a veth to the host namespace and a default route through it.
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

from fixtures.dns_tools import Dig, parse_dig
from hatoba.dns import DnsRecord, Upstream
from hatoba.dnsserver import DnsServer
from hatoba.kernel import libc
from hatoba.kernel.nft_helper import NftHelper
from hatoba.testing.sandbox import RESOLVER, Sandbox

NET1 = "1" * 64
NET2 = "2" * 64


class Service:
    """A DnsServer on an event loop of its own, living in the sandbox's host namespace."""

    def __init__(self, sb: Sandbox, **options: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._options = options
        self.nft = NftHelper()
        self._host = str(sb.host)
        self._thread = threading.Thread(target=self._run, name="dns-service")
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        try:
            fd = os.open(self._host, os.O_RDONLY | os.O_CLOEXEC)
            try:
                libc.setns(fd, libc.CLONE_NEWNET)
            finally:
                os.close(fd)
            asyncio.set_event_loop(self.loop)
            self.server = DnsServer(self.loop, self.nft, **self._options)
        except BaseException as exc:
            self._error = exc
            return
        finally:
            self._ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self.server.aclose())
        self.loop.close()

    def close(self) -> None:
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(30)
        self.nft.close()


def container_ns(sb: Sandbox, name: str, address: str | None = None) -> Path:
    """A namespace like a container's: lo up; with `address`, a veth to the host namespace
    (host side .1 of a /24) and a default route through it, forwarded by the host."""
    ns = sb._new_ns(name)
    sb.sh(["ip", "link", "set", "lo", "up"], ns=ns)
    if address is not None:
        gateway = re.sub(r"\.\d+$", ".1", address)
        veth = f"v-{name}"[:15]
        sb.sh(["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", str(ns)])
        sb.sh(["ip", "addr", "add", f"{gateway}/24", "dev", veth])
        sb.sh(["ip", "link", "set", veth, "up"])
        sb.sh(["ip", "addr", "add", f"{address}/24", "dev", "eth0"], ns=ns)
        sb.sh(["ip", "link", "set", "eth0", "up"], ns=ns)
        sb.sh(["ip", "route", "add", "default", "via", gateway], ns=ns)
        sb.sh(["sysctl", "-qw", "net.ipv4.ip_forward=1"])
        if sb.outside is not None:
            subnet = re.sub(r"\.\d+$", ".0/24", address)
            sb.sh(["ip", "route", "replace", subnet, "via", "203.0.113.1"], ns=sb.outside)
    return ns


def record(cid: str, name: str, ip: str, *aliases: str, net: str = NET1) -> DnsRecord:
    network_name = {NET1: "front", NET2: "back"}[net]
    return DnsRecord(cid, net, network_name, (name, *aliases, cid[:12]), IPv4Address(ip))


GATEWAYS = {NET1: IPv4Address("172.31.1.1"), NET2: IPv4Address("172.31.2.1")}


def dig(sb: Sandbox, ns: Path, *args: str, server: str = "127.0.0.11", timeout: int = 2) -> Dig:
    out = sb.sh(
        ["dig", f"@{server}", f"+time={timeout}", "+tries=1", *args], ns=ns, check=False
    ).stdout
    return parse_dig(out)


def upstream(address: str = RESOLVER, *, from_host: bool = True, port: int = 53) -> Upstream:
    return Upstream(address, port, from_host)
