"""Embedded DNS, adapter part: 127.0.0.11 sockets in container namespaces, served by asyncio."""

from hatoba.dnsserver.server import DnsServer
from hatoba.dnsserver.upstream import Upstream

__all__ = ["DnsServer", "Upstream"]
