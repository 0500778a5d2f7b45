"""`.env` and `env_file` files, in the dotenv dialect docker compose reads.

    # a comment                 blank lines and comments are skipped
    export NAME=value           `export ` is allowed and ignored
    NAME=value # comment        unquoted: trailing blanks and ` #…` comments are dropped
    NAME='literal $x'           single quotes: as written, may span lines
    NAME="line\\n${OTHER}"      double quotes: \\n \\t \\r \\\\ \\" \\$ escapes, may span lines
    NAME                        no `=`: the value of NAME in the caller's environment, if any

Unquoted and double-quoted values are interpolated (`${VAR}` …), from the caller's
environment first, then from the names defined earlier in the same file.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from hatoba.compose.errors import Problems
from hatoba.compose.interpolation import InterpolationError, Variables, substitute

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "$": "$$"}


def parse(
    text: str, file: str, lookup: Callable[[str], str | None], problems: Problems
) -> dict[str, str]:
    """NAME → value, in the order of the file; problems are added with their lines."""
    found: dict[str, str] = {}

    def known(name: str) -> str | None:
        outside = lookup(name)
        return outside if outside is not None else found.get(name)

    variables = Variables(known)
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        number = i + 1
        line = lines[i].strip()
        i += 1
        if not line or line.startswith("#"):
            continue
        if line.startswith(("export ", "export\t")):
            line = line[7:].lstrip()
        name, equals, rest = line.partition("=")
        name = name.strip()
        if not _KEY.fullmatch(name):
            problems.add((file, number), (), f"invalid variable name {name!r}")
            continue
        if not equals:
            value = lookup(name)
            if value is not None:
                found[name] = value
            continue
        rest = rest.lstrip()
        try:
            if rest[:1] in ("'", '"'):
                quote = rest[0]
                body, i = _quoted(rest[1:], quote, lines, i)
                if body is None:
                    problems.add((file, number), (), f"{name}: missing closing {quote}")
                    continue
                found[name] = body if quote == "'" else substitute(_unescape(body), variables)
            else:
                value = re.split(r"\s#", rest, maxsplit=1)[0].rstrip()
                found[name] = substitute(value, variables)
        except InterpolationError as exc:
            problems.add((file, number), (), f"{name}: {exc}")
    return found


def _quoted(first: str, quote: str, lines: list[str], i: int) -> tuple[str | None, int]:
    """The text up to the closing quote, which may be on a later line; and the next line."""
    text = first
    while True:
        end = _closing(text, quote)
        if end >= 0:
            return text[:end], i
        if i >= len(lines):
            return None, i
        text += "\n" + lines[i]
        i += 1


def _closing(text: str, quote: str) -> int:
    i = 0
    while i < len(text):
        if quote == '"' and text[i] == "\\":
            i += 2
            continue
        if text[i] == quote:
            return i
        i += 1
    return -1


def _unescape(body: str) -> str:
    """Escapes of double quotes; `\\$` becomes `$$`, which interpolation makes a plain `$`.
    A `$` that was not escaped stays for interpolation."""
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), "\\" + m.group(1)), body)
