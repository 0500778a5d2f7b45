"""Image references (`name[:tag]`), parsed and normalised as Docker's distribution/reference does.

Names are kept in Docker's "familiar" form: `docker.io/library/alpine` is `alpine`,
`docker.io/me/app` is `me/app`; other registries keep their domain.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hatoba.errors import InvalidArgument

DEFAULT_TAG = "latest"
_DEFAULT_DOMAIN = "docker.io"
_OFFICIAL_PREFIX = "library/"

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_LABEL = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"{_DOMAIN_LABEL}(?:\.{_DOMAIN_LABEL})*(?::[0-9]+)?"
_PATH_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*\Z")
_DOMAIN_RE = re.compile(rf"^{_DOMAIN}\Z")
_TAG_RE = re.compile(r"^[\w][\w.-]{0,127}\Z")
_HEX64_RE = re.compile(r"^[0-9a-f]{64}\Z")
_MAX_NAME = 255


@dataclass(frozen=True, order=True)
class Reference:
    name: str
    tag: str

    def __str__(self) -> str:
        return f"{self.name}:{self.tag}"


def parse_reference(text: str) -> Reference:
    """`name[:tag]` → Reference, the tag defaulting to `latest`. Digests are not supported."""
    name, tag = split_tag(text)
    return Reference(normalize_name(name), tag or DEFAULT_TAG)


def split_tag(text: str) -> tuple[str, str | None]:
    if "@" in text:
        raise InvalidArgument("invalid reference format: digest references are not supported")
    name, colon, tag = text.rpartition(":")
    if not colon or "/" in tag:
        return text, None
    if not _TAG_RE.match(tag):
        raise InvalidArgument("invalid reference format")
    return name, tag


def normalize_name(name: str) -> str:
    if not name:
        raise InvalidArgument("invalid reference format")
    if len(name) > _MAX_NAME:
        raise InvalidArgument(
            "invalid reference format: repository name must not be more than 255 characters"
        )
    if _HEX64_RE.match(name):
        raise InvalidArgument(
            f"invalid repository name ({name}), cannot specify 64-byte hexadecimal strings"
        )
    domain, slash, path = name.partition("/")
    if not slash or not ("." in domain or ":" in domain or domain == "localhost"):
        domain, path = _DEFAULT_DOMAIN, name
    elif not _DOMAIN_RE.match(domain):
        raise InvalidArgument("invalid reference format")
    if domain == "index.docker.io":
        domain = _DEFAULT_DOMAIN
    if path.lower() != path:
        raise InvalidArgument("invalid reference format: repository name must be lowercase")
    if not _PATH_RE.match(path):
        raise InvalidArgument("invalid reference format")
    if domain != _DEFAULT_DOMAIN:
        return f"{domain}/{path}"
    return path.removeprefix(_OFFICIAL_PREFIX) if path.count("/") == 1 else path


def is_hex64(text: str) -> bool:
    return bool(_HEX64_RE.match(text))
