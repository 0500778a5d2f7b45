"""A request body's JSON, read with the typing Docker's (Go's) decoder applies.

A field of the wrong type is a 400 naming the field, as Docker's "json: cannot unmarshal
number into Go struct field Config.Cmd" is, never an AttributeError deep in a route. As in Go,
`null` (or an absent field) reads as the zero value, integers must be whole and fit 64 bits,
and NaN or Infinity are not JSON.
"""

from __future__ import annotations

import json
from typing import Any

from hatoba.errors import InvalidArgument

_INT64 = range(-(2**63), 2**63)


def parse(data: bytes) -> Json:
    """The body as JSON; an empty body is `{}`."""
    if not data.strip():
        return Json({}, "")
    try:
        return Json(json.loads(data, parse_constant=_no_constant), "")
    except RecursionError:
        raise InvalidArgument("invalid JSON: nested too deeply") from None
    except ValueError as exc:
        raise InvalidArgument(f"invalid JSON: {exc}") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


class Json:
    """One value of the body and where it is (`HostConfig.Dns`), read as the type asked for."""

    __slots__ = ("path", "value")

    def __init__(self, value: Any, path: str) -> None:
        self.value = value
        self.path = path

    def _wrong(self, want: str) -> InvalidArgument:
        where = f"field {self.path}" if self.path else "the request body"
        return InvalidArgument(
            f"invalid JSON: cannot unmarshal {_kind(self.value)} into {where} of type {want}"
        )

    def _child(self, key: str, value: Any) -> Json:
        return Json(value, f"{self.path}.{key}" if self.path else key)

    def __getitem__(self, key: str) -> Json:
        """A field of this object (null when absent or when this is null)."""
        if self.value is None:
            return self._child(key, None)
        if not isinstance(self.value, dict):
            raise self._wrong("object")
        return self._child(key, self.value.get(key))

    def __contains__(self, key: str) -> bool:
        return isinstance(self.value, dict) and self.value.get(key) is not None

    def string(self, default: str = "") -> str:
        if self.value is None:
            return default
        if not isinstance(self.value, str):
            raise self._wrong("string")
        return self.value

    def boolean(self, default: bool = False) -> bool:
        if self.value is None:
            return default
        if not isinstance(self.value, bool):
            raise self._wrong("bool")
        return self.value

    def integer(self) -> int | None:
        if self.value is None:
            return None
        if isinstance(self.value, bool) or not isinstance(self.value, int):
            raise self._wrong("int")
        if self.value not in _INT64:
            raise InvalidArgument(f"invalid JSON: {self.path} is out of range: {self.value}")
        return self.value

    def array(self) -> list[Json]:
        if self.value is None:
            return []
        if not isinstance(self.value, list):
            raise self._wrong("array")
        return [self._child(str(i), v) for i, v in enumerate(self.value)]

    def entries(self) -> dict[str, Json]:
        if self.value is None:
            return {}
        if not isinstance(self.value, dict):
            raise self._wrong("object")
        return {k: self._child(k, v) for k, v in self.value.items()}

    def strings(self, *, one_or_many: bool = False) -> tuple[str, ...]:
        """A list of strings; with `one_or_many` a single string too (Docker's StrSlice)."""
        if one_or_many and isinstance(self.value, str):
            return (self.value,)
        try:
            return tuple(item.string() for item in self.array())
        except InvalidArgument:
            raise self._wrong("[]string") from None

    def string_map(self) -> dict[str, str]:
        """An object of strings (labels, options)."""
        try:
            return {k: v.string() for k, v in self.entries().items()}
        except InvalidArgument:
            raise self._wrong("map[string]string") from None
