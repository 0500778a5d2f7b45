"""The values of a create request that hatoba writes into a container's /etc/hostname,
/etc/hosts and /etc/resolv.conf: each must stay one word there. A line break in a hostname,
an --add-host name or a DNS search domain would add lines of the client's choosing to those
files (Docker writes them as given); they are refused with Docker's texts where its CLI has
one (`... is not a valid domain`) and otherwise naming the field and the value."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from hatoba.errors import InvalidArgument

# the docker CLI's validateDomain (opts/opts.go): labels of letters, digits and inner hyphens,
# a letter somewhere, shorter than 255
_LABEL = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?")
_SPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f]")


def _quoted(value: str) -> str:
    """As Go's %q shows it: line breaks visible."""
    return json.dumps(value)


def check_word(what: str, value: str) -> None:
    if _SPACE_OR_CONTROL.search(value):
        raise InvalidArgument(
            f"invalid {what} {_quoted(value)}: it may not hold spaces, line breaks or other "
            "control characters"
        )


def check_dns_search(domains: Sequence[str]) -> None:
    for domain in domains:
        if domain == ".":  # no search domain (Docker)
            continue
        if not (_DOMAIN.fullmatch(domain) and re.search("[a-zA-Z]", domain)) or len(domain) > 254:
            raise InvalidArgument(f"{domain} is not a valid domain")


def check_request(
    hostname: str,
    domainname: str,
    extra_host_names: Sequence[str],
    dns_search: Sequence[str],
    dns_options: Sequence[str],
) -> None:
    check_word("hostname", hostname)
    check_word("domainname", domainname)
    for name in extra_host_names:
        check_word("host name in --add-host", name)
    check_dns_search(dns_search)
    for option in dns_options:
        check_word("DNS option", option)
