"""Several compose files → one tree, by the merge rules of the compose specification.

Mappings merge key by key; sequences append; scalars are replaced. The exceptions are those
of docker compose (compose-go's `override` package):

- `command`, `entrypoint`, `healthcheck.test` and each of `ulimits` are replaced whole;
- `environment`, `labels` (of services, networks, deploy) and `sysctls` merge as mappings
  whether written as lists (`K=V`) or mappings;
- a service's `networks` and `depends_on` merge as mappings (a list names keys);
- `dns`, `dns_search`, `dns_opt`, `expose`, `profiles`, `env_file`, `extra_hosts`, `ports`,
  `volumes`, `tmpfs`, `volumes_from`, `cap_add`, `cap_drop`, `devices` and a network's
  `aliases` append what is not there yet (a later volume for the same target replaces the
  earlier one: normalize.py);
- `x-…` extensions are replaced, not merged;
- `!reset` removes what the earlier files set, `!override` replaces it without merging.

Each value keeps the file and line it came from.
"""

from __future__ import annotations

from typing import Any

from hatoba.compose.errors import NOWHERE, Path
from hatoba.compose.source import RESET, Map, Override, Seq

Pattern = tuple[str, ...]

_REPLACED: tuple[Pattern, ...] = (
    ("services", "*", "command"),
    ("services", "*", "entrypoint"),
    ("services", "*", "healthcheck", "test"),
    # a ulimit is replaced whole: `{soft, hard}` over a number, or the other way
    ("services", "*", "ulimits", "*"),
)
_KEY_VALUES: tuple[Pattern, ...] = (
    ("services", "*", "environment"),
    ("services", "*", "labels"),
    ("services", "*", "sysctls"),
    ("services", "*", "annotations"),
    ("services", "*", "deploy", "labels"),
    ("networks", "*", "labels"),
    ("volumes", "*", "labels"),
)
_NAMED: tuple[Pattern, ...] = (("services", "*", "networks"), ("services", "*", "depends_on"))
_UNIQUE: tuple[Pattern, ...] = (
    ("services", "*", "dns"),
    ("services", "*", "dns_search"),
    ("services", "*", "dns_opt"),
    ("services", "*", "expose"),
    ("services", "*", "profiles"),
    ("services", "*", "env_file"),
    ("services", "*", "extra_hosts"),
    ("services", "*", "ports"),
    ("services", "*", "volumes"),
    ("services", "*", "tmpfs"),
    ("services", "*", "volumes_from"),
    ("services", "*", "cap_add"),
    ("services", "*", "cap_drop"),
    ("services", "*", "devices"),
    ("services", "*", "networks", "*", "aliases"),
)


def merge(trees: list[Map]) -> Map:
    """The files in order: each one overrides the ones before it."""
    result = resolve_markers(trees[0])
    assert isinstance(result, Map)
    for tree in trees[1:]:
        merged = _merge(result, tree, ())
        assert isinstance(merged, Map)
        result = merged
    return result


def resolve_markers(value: Any) -> Any:
    """A tree with nothing left to merge into: `!reset` keys go, `!override` values stay."""
    if isinstance(value, Override):
        return resolve_markers(value.value)
    if isinstance(value, Map):
        result = Map(value.at)
        for key, item in value.items():
            if item is not RESET:
                result.put(key, resolve_markers(item), value.place(key))
        return result
    if isinstance(value, Seq):
        seq = Seq(value.at)
        for i, item in enumerate(value):
            if item is not RESET:
                seq.push(resolve_markers(item), value.place(i))
        return seq
    return value


def _matches(path: Path, patterns: tuple[Pattern, ...]) -> bool:
    return any(
        len(path) == len(p) and all(q == "*" or q == part for q, part in zip(p, path, strict=True))
        for p in patterns
    )


def _merge(base: Any, over: Any, path: Path) -> Any:
    if isinstance(over, Override):
        return resolve_markers(over.value)
    if _matches(path, _REPLACED) or base is None:
        return resolve_markers(over)
    if _matches(path, _KEY_VALUES):
        base, over = _as_mapping(base), _as_mapping(over)
    elif _matches(path, _NAMED):
        base, over = _names_as_mapping(base), _names_as_mapping(over)
    elif _matches(path, _UNIQUE):
        base, over = _as_sequence(base), _as_sequence(over)
    if isinstance(base, Map) and isinstance(over, Map):
        result = Map(base.at)
        for key, value in base.items():
            result.put(key, value, base.place(key))
        for key, value in over.items():
            if value is RESET:
                result.drop(key)
            elif key in result and not key.startswith("x-"):
                result.put(key, _merge(result[key], value, (*path, key)), over.place(key))
            else:
                result.put(key, resolve_markers(value), over.place(key))
        return result
    if isinstance(base, Seq) and isinstance(over, Seq):
        seq = Seq(base.at)
        unique = _matches(path, _UNIQUE)
        for source in (base, over):
            for i, item in enumerate(source):
                if item is RESET or (unique and item in seq):
                    continue
                seq.push(resolve_markers(item), source.place(i))
        return seq
    return resolve_markers(over)


def _as_mapping(value: Any) -> Any:
    """`["A=1", "B"]` → {A: "1", B: None}; mappings (and anything else) as they are."""
    if not isinstance(value, Seq):
        return value
    result = Map(value.at)
    for i, item in enumerate(value):
        key, equals, text = str(item).partition("=")
        result.put(key, text if equals else None, value.place(i))
    return result


def _names_as_mapping(value: Any) -> Any:
    """`[a, b]` → {a: None, b: None}: the short form of networks and depends_on."""
    if not isinstance(value, Seq):
        return value
    result = Map(value.at)
    for i, item in enumerate(value):
        result.put(str(item), None, value.place(i))
    return result


def _as_sequence(value: Any) -> Any:
    """A single string where a list may be written (`dns: 1.1.1.1`) as a one-item list; the
    mapping form of extra_hosts as `host:ip` items."""
    if isinstance(value, str):
        seq = Seq()
        seq.push(value, NOWHERE)
        return seq
    if isinstance(value, Map):
        seq = Seq(value.at)
        for host, address in value.items():
            for item in address if isinstance(address, list) else [address]:
                seq.push(f"{host}:{item}", value.place(host))
        return seq
    return value
