"""Embedded DNS, pure part: the name table and query → answer logic (bytes in, bytes out)."""

from hatoba.dns.records import DnsAttachment, DnsRecord, Upstream
from hatoba.dns.responder import Asker, Forward, Responder
from hatoba.dns.table import NameTable

__all__ = ["Asker", "DnsAttachment", "DnsRecord", "Forward", "NameTable", "Responder", "Upstream"]
