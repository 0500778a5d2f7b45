"""Model values to JSON and back, driven by the dataclasses' own type hints."""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Mapping
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
    tp: Any = cls  # a type is hashable, as the cache wants
    return typing.cast(T, _decoder(tp)(data))


Decoder = Callable[[Any], Any]


@cache
def _decoder(tp: Any) -> Decoder:
    """JSON → `tp`, made once per type from its hints: a service start decodes every
    container's record, and asking the hints again for each value cost ~0.6 ms a record."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        # an address of either family: the text says which
        if len(options) > 1 and set(options) <= _ADDRESSES:
            return _or_none(ip_address)
        if len(options) > 1 and set(options) <= _NETWORKS:
            return _or_none(ip_network)
        return _decoder(options[0])
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _dataclass(tp)
    if tp in _ADDRESSES or tp in _NETWORKS:
        return _or_none(tp)
    if origin is tuple:
        args = typing.get_args(tp)
        item = _decoder(args[0] if args else Any)
        return _or_none(lambda data: tuple(item(v) for v in data))
    if origin in (Mapping, dict, typing.Mapping) or tp in (Mapping,):
        args = typing.get_args(tp)
        value = _decoder(args[1] if len(args) == 2 else Any)
        return _or_none(lambda data: MappingProxyType({k: value(v) for k, v in data.items()}))
    return _as_is


def _dataclass(tp: type) -> Decoder:
    # the fields' decoders are made at the first value: a dataclass may refer to itself
    fields: dict[str, Decoder] | None = None

    def decode(data: Any) -> Any:
        nonlocal fields
        if fields is None:
            hints = typing.get_type_hints(tp)
            fields = {f.name: _decoder(hints[f.name]) for f in dataclasses.fields(tp)}
        return tp(**{k: fields[k](v) for k, v in data.items() if k in fields})

    return _or_none(decode)


def _or_none(decode: Decoder) -> Decoder:
    return lambda data: None if data is None else decode(data)


def _as_is(data: Any) -> Any:
    return data
