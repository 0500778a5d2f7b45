"""Identifiers and names as Docker forms them."""

from __future__ import annotations

import re
import secrets
import time

from hatoba.errors import Forbidden, InvalidArgument

SHORT_LEN = 12
_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+\Z")  # \Z: Go's $, no newline after
_HEX_RE = re.compile(r"^[0-9a-f]{1,64}\Z")


def new_id() -> str:
    """64 hex digits whose 12-digit short form is never all digits (it doubles as a hostname)."""
    while True:
        value = secrets.token_hex(32)
        if not value[:SHORT_LEN].isdigit():
            return value


def short_id(full: str) -> str:
    return full[:SHORT_LEN]


def looks_like_id_prefix(text: str) -> bool:
    return bool(_HEX_RE.match(text))


def validate_container_name(name: str) -> str:
    """Docker's rule: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`, an optional leading slash dropped."""
    bare = name[1:] if name.startswith("/") else name
    if not _NAME_RE.match(bare):
        raise InvalidArgument(
            f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )
    return bare


def parse_link(spec: str) -> tuple[str, str]:
    """A link `NAME[:ALIAS]` as Docker reads it: (container name, alias). The form Docker
    itself stores, `/name:/linker/alias`, reads the same."""
    if not spec:
        raise InvalidArgument("empty string specified for links")
    parts = spec.split(":")
    if len(parts) > 2:
        raise InvalidArgument(f"bad format for links: {spec}")
    if len(parts) == 1:
        return spec, spec
    name, alias = parts
    if name.startswith("/"):
        return name[1:], alias.rsplit("/", 1)[-1]
    return name, alias


# names containers mean the host by (Docker's `--add-host NAME:host-gateway` and Docker
# Desktop's), under the domain Docker keeps for itself
RESERVED_DOMAIN = "docker.internal"


def check_dns_name(name: str, network: str) -> None:
    """A container name or alias that the embedded DNS of `network` would answer. One under
    docker.internal would hide the host from the containers there, and one with a dot a
    public name (example.com): both are refused rather than shadow what they name."""
    lowered = name.lower().rstrip(".")
    if lowered == RESERVED_DOMAIN or lowered.endswith("." + RESERVED_DOMAIN):
        raise InvalidArgument(
            f'invalid name "{name}" on network {network}: names under {RESERVED_DOMAIN} are '
            "the host's (host.docker.internal)"
        )
    if "." in lowered:
        raise InvalidArgument(
            f'invalid name "{name}" on network {network}: its DNS answer would hide the public '
            f"name {name} from the containers there; use a name without dots"
        )


# the names Docker keeps for itself (runconfig.IsPreDefinedNetwork)
PREDEFINED_NETWORK_NAMES = ("bridge", "host", "none", "default", "ingress")


def validate_network_name(name: str) -> str:
    """Docker's rule (libnetwork config.IsValidName): any name that is not blank, spaces and
    all, except the predefined ones."""
    if not name.strip():
        raise InvalidArgument(f"invalid name: {name}")
    if name in PREDEFINED_NETWORK_NAMES:
        # Docker's text, its trailing space included (daemon/errors.go)
        raise Forbidden(f"operation is not permitted on predefined {name} network ")
    return name


def now_rfc3339() -> str:
    """RFC 3339 with nanoseconds in UTC, as Docker prints `Created`."""
    return rfc3339(time.time_ns())


def rfc3339(ns: int) -> str:
    """A time in nanoseconds since the epoch, as `now_rfc3339` prints it."""
    secs, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"


ZERO_TIME = "0001-01-01T00:00:00Z"
