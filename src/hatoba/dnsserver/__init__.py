"""Embedded DNS, adapter part: 127.0.0.11 sockets in container namespaces, served by asyncio."""

from hatoba.dnsserver.server import DnsServer

__all__ = ["DnsServer"]
