"""Legacy links (`--link NAME[:ALIAS]` on the default bridge): what a linking container is
given at each start, as Docker computes it (daemon/links/links.go): environment variables
describing the linked container's address, exposed ports and environment, and an /etc/hosts
line naming it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address

# variables of the linked container that Docker leaves out (added by image builds)
_NOT_PASSED_ON = frozenset({"HOME", "PATH"})


@dataclass(frozen=True)
class LegacyLink:
    """A link as kept: by the linked container's id, so renaming it keeps the link (Docker
    keys its link index by container too)."""

    container_id: str
    alias: str


def link_name(parent: str, alias: str) -> str:
    """The link's own name, `/parent/alias`: Docker's name for the linked container as seen
    from the one linking to it (`ALIAS_NAME`, `docker ps` and `rm --link`)."""
    return f"/{parent}/{alias}"


def stored_form(child: str, parent: str, alias: str) -> str:
    """HostConfig.Links as Docker shows it: `/child:/parent/alias`."""
    return f"/{child}:{link_name(parent, alias)}"


def split_link_name(name: str) -> tuple[str, str]:
    """(parent, alias) of `/parent/alias`; the parent is "" for a plain container name."""
    parent, _, alias = name.lstrip("/").rpartition("/")
    return parent, alias


def _parsed(port: str) -> tuple[int, str]:
    number, _, proto = port.partition("/")
    return int(number), proto or "tcp"


def _port_key(port: str) -> tuple[int, str, int]:
    """Docker's order: TCP first, then by protocol name, then by number."""
    number, proto = _parsed(port)
    return (0 if proto == "tcp" else 1, proto, number)


def link_environment(
    name: str, address: IPv4Address, exposed: Sequence[str], env: Sequence[str]
) -> tuple[str, ...]:
    """The variables for link `name` (`/parent/alias`) to a container at `address` exposing
    `exposed` (`80/tcp`) with environment `env`; consecutive ports of one protocol also get
    `_START`/`_END` variables, as Docker gives them."""
    alias = name.rsplit("/", 1)[-1].upper().replace("-", "_")
    ports = [_parsed(p) for p in sorted(set(exposed), key=_port_key)]
    out: list[str] = []
    first = last = ports[0] if ports else (0, "")
    for i, (number, proto) in enumerate(ports):
        if i == 0:
            out.append(f"{alias}_PORT={proto}://{address}:{number}")
        prefix = f"{alias}_PORT_{number}_{proto.upper()}"
        out += [
            f"{prefix}={proto}://{address}:{number}",
            f"{prefix}_ADDR={address}",
            f"{prefix}_PORT={number}",
            f"{prefix}_PROTO={proto}",
        ]
        # a run of consecutive ports is told once it ends (or the ports do)
        if (number, proto) == (last[0] + 1, last[1]):
            last = (number, proto)
            if i < len(ports) - 1:
                continue
        if last != first:
            out += _range_variables(alias, address, first, last)
        first = last = (number, proto)
    out.append(f"{alias}_NAME={name}")
    for entry in env:
        key, eq, value = entry.partition("=")
        if eq and key not in _NOT_PASSED_ON:
            out.append(f"{alias}_ENV_{key}={value}")
    return tuple(out)


def _range_variables(
    alias: str, address: IPv4Address, first: tuple[int, str], last: tuple[int, str]
) -> list[str]:
    proto = first[1]
    prefix = f"{alias}_PORT_{first[0]}_{proto.upper()}"
    return [
        f"{prefix}_START={proto}://{address}:{first[0]}",
        f"{prefix}_PORT_START={first[0]}",
        f"{prefix}_END={proto}://{address}:{last[0]}",
        f"{prefix}_PORT_END={last[0]}",
    ]


def hosts_names(alias: str, hostname: str, name: str) -> str:
    """The names of a linked container's /etc/hosts line: the alias, its hostname, and its
    name unless that is the alias."""
    names = [alias, hostname] + ([name] if name != alias else [])
    return " ".join(dict.fromkeys(filter(None, names)))
