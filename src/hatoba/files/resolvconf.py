"""/etc/resolv.conf as Docker writes it, and the upstream servers it implies.

Containers on a user-defined network ask the embedded resolver at 127.0.0.11; the host's (or
`--dns`) servers become its upstreams. Everyone else gets the host's file with loopback
servers dropped, as Docker's legacy-network transform does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import ip_address

EMBEDDED_DNS = "127.0.0.11"
FALLBACK_SERVERS = ("8.8.8.8", "8.8.4.4")


@dataclass(frozen=True)
class ResolvConf:
    nameservers: tuple[str, ...] = ()
    search: tuple[str, ...] = ()
    options: tuple[str, ...] = ()

    def render(self) -> str:
        lines = []
        if self.search:
            lines.append("search " + " ".join(self.search))
        lines.extend(f"nameserver {server}" for server in self.nameservers)
        if self.options:
            lines.append("options " + " ".join(self.options))
        return "\n".join(lines) + "\n" if lines else ""


def parse(text: str) -> ResolvConf:
    servers: list[str] = []
    search: list[str] = []
    options: list[str] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].split(";", 1)[0].split()
        if not line:
            continue
        key, values = line[0], line[1:]
        if key == "nameserver" and values:
            servers.append(values[0])
        elif key in ("search", "domain"):
            search = values
        elif key == "options":
            options.extend(values)
    return ResolvConf(tuple(servers), tuple(search), tuple(options))


def is_loopback(server: str) -> bool:
    try:
        return ip_address(server.split("%")[0]).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ContainerResolv:
    """What a container's resolv.conf says and, with embedded DNS, where queries go upstream."""

    conf: ResolvConf
    upstreams: tuple[str, ...]
    upstreams_from_host: bool


def for_container(
    host: ResolvConf,
    *,
    embedded_dns: bool,
    host_network: bool = False,
    dns: Sequence[str] = (),
    dns_search: Sequence[str] = (),
    dns_options: Sequence[str] = (),
) -> ContainerResolv:
    search = tuple(dns_search) or host.search
    options = tuple(dns_options) or host.options
    if host_network:
        servers = tuple(dns) or host.nameservers
        return ContainerResolv(ResolvConf(servers, search, options), (), False)
    if embedded_dns:
        upstreams = tuple(dns) or host.nameservers
        if not any(opt.startswith("ndots:") for opt in options):
            options = (*options, "ndots:0")
        return ContainerResolv(
            ResolvConf((EMBEDDED_DNS,), search, options),
            upstreams[:3],
            upstreams_from_host=not dns,
        )
    servers = tuple(dns) or tuple(s for s in host.nameservers if not is_loopback(s))
    return ContainerResolv(ResolvConf(servers or FALLBACK_SERVERS, search, options), (), False)
