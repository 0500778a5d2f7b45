"""`${VAR}` in compose files: the forms of the compose specification, as docker compose reads them.

    $VAR  ${VAR}            the value, or "" (with a warning) when VAR is not set
    ${VAR:-default}         default when VAR is unset or empty;   ${VAR-default}: when unset
    ${VAR:?message}         an error when VAR is unset or empty;  ${VAR?message}: when unset
    ${VAR:+replacement}     replacement when VAR is set and not empty;  ${VAR+replacement}: set
    $$                      a literal $

Defaults, messages and replacements may hold further `${…}`. A `$` followed by anything else
is an error that says to write `$$`. Only values are interpolated, never keys.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from hatoba.compose.errors import Path, Problems, Where
from hatoba.compose.source import Map, Override, Seq

_NAME = re.compile(r"[_a-zA-Z][_a-zA-Z0-9]*")
_OPERATORS = (":-", ":?", ":+", "-", "?", "+")


class InterpolationError(ValueError):
    pass


class Variables:
    """The values `${…}` reads; remembers every name asked for and which were missing."""

    def __init__(self, lookup: Callable[[str], str | None]) -> None:
        self.lookup = lookup
        self.used: dict[str, str | None] = {}
        self.missing: list[str] = []

    def get(self, name: str) -> str | None:
        value = self.lookup(name)
        self.used[name] = value
        return value


def substitute(text: str, variables: Variables) -> str:
    if "$" not in text:
        return text
    out: list[str] = []
    i = 0
    while (j := text.find("$", i)) >= 0:
        out.append(text[i:j])
        following = text[j + 1 : j + 2]
        if following == "$":
            out.append("$")
            i = j + 2
        elif following == "{":
            end = _closing_brace(text, j + 2)
            out.append(_braced(text[j + 2 : end], variables))
            i = end + 1
        elif match := _NAME.match(text, j + 1):
            out.append(_plain(match.group(), variables))
            i = match.end()
        else:
            raise InterpolationError(
                f"invalid interpolation format in {text!r}: write $$ for a literal $"
            )
    out.append(text[i:])
    return "".join(out)


def _closing_brace(text: str, start: int) -> int:
    depth = 1
    i = start
    while i < len(text):
        if text.startswith("${", i):
            depth += 1
            i += 2
            continue
        if text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise InterpolationError(f"invalid interpolation format in {text!r}: missing }}")


def _plain(name: str, variables: Variables) -> str:
    value = variables.get(name)
    if value is None:
        variables.missing.append(name)
        return ""
    return value


def _braced(inside: str, variables: Variables) -> str:
    match = _NAME.match(inside)
    if match is None:
        raise InterpolationError(f"invalid interpolation format: ${{{inside}}}")
    name, rest = match.group(), inside[match.end() :]
    if not rest:
        return _plain(name, variables)
    operator = next((op for op in _OPERATORS if rest.startswith(op)), None)
    if operator is None:
        raise InterpolationError(f"invalid interpolation format: ${{{inside}}}")
    argument = rest[len(operator) :]
    value = variables.get(name)
    present = value is not None and (value != "" or ":" not in operator)
    if operator.endswith("-"):
        return value if present and value is not None else substitute(argument, variables)
    if operator.endswith("+"):
        return substitute(argument, variables) if present else ""
    if present and value is not None:
        return value
    message = substitute(argument, variables)
    raise InterpolationError(
        f"required variable {name} is missing a value" + (f": {message}" if message else "")
    )


def interpolate(tree: Map, variables: Variables, problems: Problems) -> Map:
    """A copy of `tree` with every string value substituted; errors go to `problems`."""
    result = _value(tree, tree.at, (), variables, problems)
    assert isinstance(result, Map)
    return result


def _value(value: Any, where: Where, path: Path, variables: Variables, problems: Problems) -> Any:
    if isinstance(value, str):
        try:
            return substitute(value, variables)
        except InterpolationError as exc:
            problems.add(where, path, str(exc))
            return value
    if isinstance(value, Map):
        result = Map(value.at)
        for key, item in value.items():
            place = value.place(key)
            result.put(key, _value(item, place, (*path, key), variables, problems), place)
        return result
    if isinstance(value, Seq):
        seq = Seq(value.at)
        for i, item in enumerate(value):
            place = value.place(i)
            seq.push(_value(item, place, (*path, i), variables, problems), place)
        return seq
    if isinstance(value, Override):
        return Override(_value(value.value, where, path, variables, problems))
    return value
