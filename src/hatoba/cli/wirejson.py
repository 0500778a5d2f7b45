"""JSON of the requests and answers, on CPython's C codec `_json`, the one `json` itself runs.

The `json` package imports `re`, and `re` imports `enum`: ~4 ms of every command's start-up,
half of what the CLI may spend before its request. `loads` and `dumps` give what
`json.loads` and `json.dumps` give for the documents the service exchanges; a document that
does not parse raises json's own `JSONDecodeError` (a ValueError; `json` is imported then).
"""

from __future__ import annotations

import _json

TYPE_CHECKING = False  # `typing` costs ~4 ms of start-up; mypy treats this name as True
if TYPE_CHECKING:
    from typing import Any

_SPACE = " \t\n\r"
_CONSTANTS = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}


class _Decoding:
    """The settings the C scanner reads from a `json.JSONDecoder`, at their defaults."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = _CONSTANTS.__getitem__


def _unserializable(value: object) -> object:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


# typeshed wants a JSONDecoder-like scanner; the C code reads these attributes of any object
_scan = _json.make_scanner(_Decoding())  # type: ignore[arg-type]


def loads(data: bytes | str) -> Any:
    text = data.decode() if isinstance(data, bytes) else data
    start = len(text) - len(text.lstrip(_SPACE))
    try:
        value, end = _scan(text, start)
    except StopIteration:
        end = -1
    if end < 0 or text[end:].strip(_SPACE):
        import json  # for json's own error and message

        return json.loads(text)
    return value


def dumps(value: object) -> str:
    """As `json.dumps(value)`: ASCII, `", "` and `": "` between items."""
    if isinstance(value, str):
        return str(_json.encode_basestring_ascii(value))
    # markers (circular references), default, string encoder, indent, key and item
    # separators, sort_keys, skipkeys, allow_nan: json.JSONEncoder's defaults
    encode = _json.make_encoder(
        {}, _unserializable, _json.encode_basestring_ascii, None, ": ", ", ", False, False, True
    )
    return "".join(encode(value, 0))
