"""`import --change` instructions: Dockerfile lines applied to a container config.

Supported: CMD, ENTRYPOINT, ENV, EXPOSE, WORKDIR, LABEL, USER, HEALTHCHECK, VOLUME — the exec
(JSON array) and shell forms as Docker's builder parses them. Not done: `$VAR` substitution and line
continuations.
"""

from __future__ import annotations

import json
import posixpath
import shlex
from collections.abc import Callable, Sequence
from typing import Any

from hatoba.errors import InvalidArgument
from hatoba.model.durations import go_duration_text, parse_go_duration
from hatoba.model.health import CMD, CMD_SHELL, MINIMUM_DURATION, NONE

# What Docker's BuildFromConfig accepts (builder/dockerfile/builder.go validCommitCommands);
# the ones not listed in _HANDLERS are valid for Docker but not implemented here.
_VALID = {
    "cmd", "entrypoint", "env", "expose", "label", "user", "workdir",
    "healthcheck", "onbuild", "volume",
}  # fmt: skip
_PROTOCOLS = ("tcp", "udp", "sctp")
_SHELL = ["/bin/sh", "-c"]


def apply_changes(config: dict[str, Any], changes: Sequence[str]) -> dict[str, Any]:
    """Return a copy of a Go-shaped container config with each instruction applied in order."""
    result = dict(config)
    for change in changes:
        line = change.strip()
        if not line:
            continue
        word, _, rest = line.partition(" ")
        keyword = word.lower()
        if keyword not in _VALID:
            raise InvalidArgument(f"{keyword} is not a valid change command")
        handler = _HANDLERS.get(keyword)
        if handler is None:
            raise InvalidArgument(f"{keyword} is not supported as a change command by hatoba")
        handler(result, rest.strip())
    return result


def _argv(keyword: str, rest: str) -> list[str]:
    if not rest:
        raise InvalidArgument(f"{keyword.upper()} requires at least one argument")
    exec_form = _json_args(rest)
    return exec_form if exec_form is not None else [*_SHELL, rest]


def _json_args(rest: str) -> list[str] | None:
    """The exec (JSON array) form, or None for the shell form."""
    if rest.startswith("["):
        try:
            value = json.loads(rest)
        except json.JSONDecodeError:
            value = None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
    return None


def _cmd(config: dict[str, Any], rest: str) -> None:
    config["Cmd"] = _argv("cmd", rest)


def _entrypoint(config: dict[str, Any], rest: str) -> None:
    config["Entrypoint"] = _argv("entrypoint", rest)


def _pairs(keyword: str, rest: str) -> list[tuple[str, str]]:
    """`k=v k2="v 2"`, or the legacy `k value with spaces` form."""
    if not rest:
        raise InvalidArgument(f"{keyword.upper()} requires at least one argument")
    first = rest.split(None, 1)[0]
    if "=" not in first:
        key, _, value = rest.partition(" ")
        if not value.strip():
            raise InvalidArgument(f"{keyword.upper()} must have two arguments")
        return [(key, value.strip())]
    try:
        words = shlex.split(rest)
    except ValueError as e:
        raise InvalidArgument(f"{keyword.upper()}: {e}") from None
    pairs = []
    for word in words:
        key, eq, value = word.partition("=")
        if not eq:
            raise InvalidArgument(
                f"Syntax error - can't find = in {word!r}. Must be of the form: name=value"
            )
        if not key:
            raise InvalidArgument(f"{keyword.upper()} names can not be blank")
        pairs.append((key, value))
    return pairs


def _env(config: dict[str, Any], rest: str) -> None:
    env = list(config.get("Env") or [])
    for key, value in _pairs("env", rest):
        env = [e for e in env if e.partition("=")[0] != key]
        env.append(f"{key}={value}")
    config["Env"] = env


def _label(config: dict[str, Any], rest: str) -> None:
    labels = dict(config.get("Labels") or {})
    labels.update(_pairs("label", rest))
    config["Labels"] = labels


def _expose(config: dict[str, Any], rest: str) -> None:
    if not rest:
        raise InvalidArgument("EXPOSE requires at least one argument")
    ports = dict(config.get("ExposedPorts") or {})
    for spec in rest.split():
        ports.update({port: {} for port in _port_spec(spec)})
    config["ExposedPorts"] = dict(sorted(ports.items()))


def _port_spec(spec: str) -> list[str]:
    number, _, proto = spec.partition("/")
    proto = proto.lower() or "tcp"
    if proto not in _PROTOCOLS:
        raise InvalidArgument(f"invalid proto: {proto}")
    low, dash, high = number.partition("-")
    try:
        start, end = int(low), int(high if dash else low)
    except ValueError:
        raise InvalidArgument(f"invalid containerPort: {number}") from None
    if not 0 < start <= end <= 65535:
        raise InvalidArgument(f"invalid containerPort: {number}")
    return [f"{port}/{proto}" for port in range(start, end + 1)]


def _workdir(config: dict[str, Any], rest: str) -> None:
    if not rest:
        raise InvalidArgument("WORKDIR requires exactly one argument")
    current = config.get("WorkingDir") or "/"
    config["WorkingDir"] = posixpath.normpath(posixpath.join("/", current, rest))


def _volume(config: dict[str, Any], rest: str) -> None:
    """`VOLUME /a /b` or `VOLUME ["/a", "/b"]`."""
    if not rest:
        raise InvalidArgument("VOLUME requires at least one argument")
    paths = _json_args(rest)
    volumes = dict(config.get("Volumes") or {})
    for path in paths if paths is not None else rest.split():
        if not path:
            raise InvalidArgument("VOLUME specified can not be an empty string")
        volumes[path] = {}
    config["Volumes"] = volumes


def _user(config: dict[str, Any], rest: str) -> None:
    if not rest:
        raise InvalidArgument("USER requires exactly one argument")
    config["User"] = rest


_HEALTH_OPTIONS = {
    "interval": "Interval",
    "timeout": "Timeout",
    "start-period": "StartPeriod",
    "retries": "Retries",
}


def _healthcheck(config: dict[str, Any], rest: str) -> None:
    """`HEALTHCHECK NONE` or `HEALTHCHECK [--interval=…] [--timeout=…] [--start-period=…]
    [--retries=…] CMD command`, as Docker's parser reads it (flags only in `--name=value`)."""
    options: dict[str, str] = {}
    while rest.startswith("--"):
        word, _, rest = rest.partition(" ")
        rest = rest.lstrip()
        name, eq, value = word[2:].partition("=")
        if name not in _HEALTH_OPTIONS:
            raise InvalidArgument(f"Unknown flag: {name}")
        if not eq:
            raise InvalidArgument(f"Missing a value on flag: {name}")
        options[name] = value
    kind, _, command = rest.partition(" ")
    command = command.strip()
    if not kind:
        raise InvalidArgument("HEALTHCHECK requires at least one argument")
    kind = kind.upper()
    if kind == NONE:
        if command:
            raise InvalidArgument("HEALTHCHECK NONE takes no arguments")
        config["Healthcheck"] = {"Test": [NONE]}
        return
    if kind != CMD:
        raise InvalidArgument(f'Unknown type "{kind}" in HEALTHCHECK (try CMD)')
    if not command:
        raise InvalidArgument("Missing command after HEALTHCHECK CMD")
    exec_form = _json_args(command)
    health: dict[str, Any] = {
        "Test": [CMD, *exec_form] if exec_form is not None else [CMD_SHELL, command]
    }
    for name, key in _HEALTH_OPTIONS.items():  # Go's field order: it is part of the image id
        if options.get(name):
            health[key] = _health_option(name, options[name])
    config["Healthcheck"] = health


def _health_option(name: str, value: str) -> int:
    if name == "retries":
        try:
            retries = int(value)
        except ValueError:
            raise InvalidArgument(f'strconv.ParseInt: parsing "{value}": invalid syntax') from None
        if retries < 1:
            raise InvalidArgument(f"--retries must be at least 1 (not {retries})")
        return retries
    try:
        duration = parse_go_duration(value)
    except ValueError as exc:
        raise InvalidArgument(str(exc)) from None
    if duration < MINIMUM_DURATION:
        minimum = go_duration_text(MINIMUM_DURATION)
        raise InvalidArgument(f'Interval "{name}" cannot be less than {minimum}')
    return duration


_HANDLERS: dict[str, Callable[[dict[str, Any], str], None]] = {
    "cmd": _cmd,
    "entrypoint": _entrypoint,
    "env": _env,
    "label": _label,
    "expose": _expose,
    "workdir": _workdir,
    "user": _user,
    "healthcheck": _healthcheck,
    "volume": _volume,
}
