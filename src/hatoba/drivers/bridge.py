"""The bridge driver: interface names, MAC addresses and options, decided without the kernel."""

from __future__ import annotations

import secrets
from collections.abc import Mapping

from hatoba.errors import InvalidArgument
from hatoba.model.network import OPT_BRIDGE_NAME, OPT_ICC, OPT_MASQUERADE, OPT_MTU

IFNAMSIZ = 15
KNOWN_OPTIONS = frozenset({OPT_BRIDGE_NAME, OPT_MTU, OPT_ICC, OPT_MASQUERADE})


def bridge_name(network_id: str, options: Mapping[str, str]) -> str:
    name = options.get(OPT_BRIDGE_NAME) or f"br-{network_id[:12]}"
    validate_ifname(name)
    return name


def validate_ifname(name: str) -> None:
    if not name or len(name) > IFNAMSIZ or "/" in name or any(c.isspace() for c in name):
        raise InvalidArgument(f"invalid interface name: {name!r}")


def mtu_option(options: Mapping[str, str], default: int) -> int:
    raw = options.get(OPT_MTU)
    if raw is None:
        return default
    try:
        mtu = int(raw)
    except ValueError:
        raise InvalidArgument(f"invalid MTU value {raw!r}") from None
    if not 68 <= mtu <= 65535:
        raise InvalidArgument(f"invalid MTU number: {mtu}")
    return mtu


def bool_option(options: Mapping[str, str], key: str) -> None:
    raw = options.get(key)
    if raw is not None and raw.lower() not in ("true", "false", "1", "0"):
        raise InvalidArgument(f"failed to parse {key} value: {raw!r}")


def validate_options(options: Mapping[str, str]) -> None:
    bool_option(options, OPT_ICC)
    bool_option(options, OPT_MASQUERADE)


def random_mac() -> str:
    """Docker-style `02:42:` prefix; pinned on the bridge so its MAC never follows its ports."""
    return "02:42:" + ":".join(f"{b:02x}" for b in secrets.token_bytes(4))


def veth_name() -> str:
    return "veth" + secrets.token_hex(4)[:7]


def container_ifname(index: int) -> str:
    return f"eth{index}"
