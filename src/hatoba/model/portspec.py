"""`-p`/`--expose` strings → Docker API shapes → PortMappings, with Docker's error texts.

`parse_publish` and `parse_expose` are what the docker CLI does before it sends a request
(`ExposedPorts` and `HostConfig.PortBindings`, keys like "80/tcp"); `mappings_from_api` is
what the daemon makes of those fields. Edge cases follow the docker 28 CLI as observed
(e.g. `-p 8000-8010:80` asks for any free host port in the range; `-p 80/tcp/udp` is tcp).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence

from hatoba.errors import InvalidArgument

# `hatoba run -p` parses with this module in a short-lived CLI process: it must not load
# `typing` or hatoba.model.ports (a dataclass) at import time, ~6 ms of start-up together
TYPE_CHECKING = False  # mypy treats this name as True
if TYPE_CHECKING:
    from hatoba.model.network import IPAddress
    from hatoba.model.ports import PortMapping

PROTOCOLS = ("tcp", "udp", "sctp")

Bindings = dict[str, list[dict[str, str]]]


class _RangeError(ValueError):
    """A port range that Go's nat.ParsePortRange refuses; the text is Go's."""


def _parse_uint16(text: str) -> int:
    # strconv.ParseUint(text, 10, 16): decimal digits only, no sign, no spaces
    if not text or not text.isascii() or not text.isdigit():
        raise _RangeError(f'strconv.ParseUint: parsing "{text}": invalid syntax')
    value = int(text)
    if value > 65535:
        raise _RangeError(f'strconv.ParseUint: parsing "{text}": value out of range')
    return value


def parse_port_range(text: str) -> tuple[int, int]:
    """ "80" → (80, 80); "8000-8010" → (8000, 8010). Extra "-parts" are ignored, as in Go."""
    if not text:
        raise _RangeError("empty string specified for ports")
    if "-" not in text:
        port = _parse_uint16(text)
        return port, port
    parts = text.split("-")
    start, end = _parse_uint16(parts[0]), _parse_uint16(parts[1])
    if end < start:
        raise _RangeError(f"invalid range specified for port: {text}")
    return start, end


def _split_parts(raw: str) -> tuple[str, str, str]:
    parts = raw.split(":")
    if len(parts) == 1:
        return "", "", parts[0]
    if len(parts) == 2:
        return "", parts[0], parts[1]
    return ":".join(parts[:-2]), parts[-2], parts[-1]


def _split_proto_port(raw: str) -> tuple[str, str]:
    parts = raw.split("/")
    if not raw or not parts[0]:
        return "", ""
    if len(parts) == 1 or not parts[1]:
        return "tcp", parts[0]
    return parts[1], parts[0]


def _valid_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def parse_publish(specs: Sequence[str]) -> tuple[dict[str, dict[str, object]], Bindings]:
    """`-p` values → (ExposedPorts, PortBindings) as the docker CLI sends them."""
    exposed: dict[str, dict[str, object]] = {}
    bindings: Bindings = {}
    for raw in specs:
        ip, host, container = _split_parts(raw)
        proto, container = _split_proto_port(container)
        if ip.startswith("["):
            if not ip.endswith("]"):
                raise InvalidArgument(f"invalid IP address {ip}: missing ']' in address")
            ip = ip[1:-1]
        if ip and not _valid_ip(ip):
            raise InvalidArgument(f"invalid IP address: {ip}")
        if not container:
            raise InvalidArgument(f"no port specified: {raw}<empty>")
        try:
            start, end = parse_port_range(container)
        except _RangeError:
            raise InvalidArgument(f"invalid containerPort: {container}") from None
        host_start = host_end = 0
        if host:
            try:
                host_start, host_end = parse_port_range(host)
            except _RangeError:
                raise InvalidArgument(f"invalid hostPort: {host}") from None
            if end - start != host_end - host_start and end != start:
                raise InvalidArgument(
                    f"invalid ranges specified for container and host Ports: {container} and {host}"
                )
        if proto.lower() not in PROTOCOLS:
            raise InvalidArgument(f"invalid proto: {proto}")
        for i in range(end - start + 1):
            host_port = ""
            if host:
                host_port = str(host_start + i)
                if start == end and host_start != host_end:
                    host_port += f"-{host_end}"
            key = f"{start + i}/{proto.lower()}"
            exposed.setdefault(key, {})
            bindings.setdefault(key, []).append({"HostIp": ip, "HostPort": host_port})
    return exposed, bindings


def parse_expose(specs: Sequence[str]) -> dict[str, dict[str, object]]:
    """`--expose` values → ExposedPorts, as the docker CLI sends them."""
    exposed: dict[str, dict[str, object]] = {}
    for raw in specs:
        if ":" in raw:
            raise InvalidArgument(f"invalid port format for --expose: {raw}")
        proto, port = _split_proto_port(raw)
        try:
            start, end = parse_port_range(port)
        except _RangeError as exc:
            raise InvalidArgument(
                f"invalid range format for --expose: {raw}, error: {exc}"
            ) from None
        for number in range(start, end + 1):
            exposed.setdefault(f"{number}/{proto}", {})
    return exposed


def _port_key(key: str) -> tuple[int, str]:
    number, _, proto = key.partition("/")
    proto = (proto or "tcp").lower()
    try:
        port = _parse_uint16(number)
    except _RangeError:
        port = 0
    if port == 0:
        raise InvalidArgument(f'invalid port specification: "{number}"')
    if proto not in PROTOCOLS:
        raise InvalidArgument(f"invalid proto: {proto}")
    return port, proto


def _host_ip(text: str) -> IPAddress | None:
    """None (no address given): every host address of both families; 0.0.0.0 and `::` stand
    for every address of one family (Docker >= 27)."""
    if not text:
        return None
    try:
        return ipaddress.ip_address(text.removeprefix("[").removesuffix("]"))
    except ValueError:
        raise InvalidArgument(f"invalid IP address: {text}") from None


def _host_ports(text: str) -> tuple[int, int]:
    if not text:
        return 0, 0
    try:
        start, end = parse_port_range(text)
    except _RangeError:
        raise InvalidArgument(f'invalid port specification: "{text}"') from None
    return start, (end if end != start else 0)


def mappings_from_api(
    port_bindings: Mapping[str, Sequence[Mapping[str, str]] | None] | None,
    exposed: Iterable[str] | None,
    publish_all: bool,
) -> tuple[PortMapping, ...]:
    """The daemon's view: every binding of every port, plus a random host port for each
    exposed port without a binding when `publish_all` (`-P`). Host port 0: to be chosen."""
    from hatoba.model.ports import PortMapping

    bindings = port_bindings or {}
    wanted: dict[tuple[int, str], list[Mapping[str, str]]] = {}
    for key in dict.fromkeys([*(exposed or ()), *bindings]):
        wanted.setdefault(_port_key(key), []).extend(bindings.get(key) or ())
    out: list[PortMapping] = []
    for port, proto in sorted(wanted):
        for binding in wanted[port, proto]:
            start, end = _host_ports(binding.get("HostPort", ""))
            out.append(PortMapping(port, proto, _host_ip(binding.get("HostIp", "")), start, end))
        if not wanted[port, proto] and publish_all:
            out.append(PortMapping(port, proto))
    return tuple(out)


def with_publish_all(
    ports: Sequence[PortMapping], exposed: Iterable[str], publish_all: bool
) -> tuple[PortMapping, ...]:
    """What a start publishes: `ports`, plus a random host port for every exposed port
    without a binding when `publish_all` (`-P`; the image's EXPOSE counts, so it is decided
    at start as Docker does, not when the request is parsed)."""
    if not publish_all:
        return tuple(ports)
    from hatoba.model.ports import PortMapping

    bound = {(m.container_port, m.protocol) for m in ports}
    extra = dict.fromkeys(PortMapping(*key) for key in map(_port_key, exposed) if key not in bound)
    return tuple(sorted([*ports, *extra], key=lambda m: (m.container_port, m.protocol)))
