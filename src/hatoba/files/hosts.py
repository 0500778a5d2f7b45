"""/etc/hosts as Docker writes it."""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Address, IPv6Address

from hatoba.errors import InvalidArgument

_STANDARD = (
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\n"
    "ff00::0\tip6-mcastprefix\n"
    "ff02::1\tip6-allnodes\n"
    "ff02::2\tip6-allrouters\n"
)


def parse_extra_host(spec: str) -> tuple[str, str]:
    """`--add-host name:ip` (Docker also accepts `name=ip`)."""
    for sep in ("=", ":"):
        name, found, address = spec.partition(sep)
        if found and name and address:
            return name, address
    raise InvalidArgument(
        f'invalid argument {spec!r} for "--add-host" flag: bad format for add-host: {spec!r}'
    )


def render_hosts(
    hostname: str,
    addresses: Sequence[IPv4Address | IPv6Address],
    extra_hosts: Sequence[str] = (),
    domainname: str = "",
    linked: Sequence[tuple[str, IPv4Address]] = (),
) -> str:
    """`linked`: (names, address) of legacy links, after `--add-host`'s lines as in Docker."""
    lines = [_STANDARD]
    for spec in extra_hosts:
        name, address = parse_extra_host(spec)
        lines.append(f"{address}\t{name}\n")
    lines.extend(f"{address}\t{names}\n" for names, address in linked)
    names = f"{hostname}.{domainname} {hostname}" if domainname else hostname
    lines.extend(f"{address}\t{names}\n" for address in addresses)
    return "".join(lines)
