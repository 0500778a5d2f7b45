"""Model values to JSON and back, driven by the dataclasses' own type hints."""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from functools import cache
from ipaddress import (
    IPv4Address,
    IPv4Network,
    IPv6Address,
    IPv6Network,
    ip_address,
    ip_network,
)
from types import MappingProxyType
from typing import Any, TypeVar

T = TypeVar("T")
_ADDRESSES = frozenset({IPv4Address, IPv6Address})
_NETWORKS = frozenset({IPv4Network, IPv6Network})
_IP_TYPES = (IPv4Address, IPv6Address, IPv4Network, IPv6Network)


def encode(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, _IP_TYPES):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [encode(v) for v in value]
    return value


def decode(cls: type[T], data: Any) -> T:
    return typing.cast(T, _decode(cls, data))


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _decode(tp: Any, data: Any) -> Any:
    if data is None:
        return None
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        # an address of either family: the text says which
        if len(options) > 1 and set(options) <= _ADDRESSES:
            return ip_address(data)
        if len(options) > 1 and set(options) <= _NETWORKS:
            return ip_network(data)
        return _decode(options[0], data)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        hints = _hints(tp)
        names = {f.name for f in dataclasses.fields(tp)}
        return tp(**{k: _decode(hints[k], v) for k, v in data.items() if k in names})
    if tp in _ADDRESSES or tp in _NETWORKS:
        return tp(data)
    if origin is tuple:
        args = typing.get_args(tp)
        item = args[0] if args else Any
        return tuple(_decode(item, v) for v in data)
    if origin in (Mapping, dict, typing.Mapping) or tp in (Mapping,):
        args = typing.get_args(tp)
        value_type = args[1] if len(args) == 2 else Any
        return MappingProxyType({k: _decode(value_type, v) for k, v in data.items()})
    return data
