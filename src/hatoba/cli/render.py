"""Output the way docker prints it: tables, durations, sizes, JSON and Go-formatted values."""

from __future__ import annotations

import time

from hatoba.model.durations import human_duration

TYPE_CHECKING = False  # `typing` costs ~4 ms of start-up; mypy treats this name as True
if TYPE_CHECKING:
    from typing import Any

# docker's formatter: tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)
_MIN_WIDTH = 10
_PADDING = 3


def tabwrite(text: str, min_width: int = _MIN_WIDTH) -> str:
    """Go's text/tabwriter as docker configures it: tab-terminated cells become columns.

    A column's width is its widest cell plus 3 (at least `min_width`: 10 for docker's
    formatter, 20 for `docker top`), computed over each block of consecutive lines that have
    that column; a line's last cell is not part of any column.
    """
    lines = [line.split("\t") for line in text.split("\n")]
    out: list[str] = []
    _format(lines, [], 0, len(lines), out, min_width)
    return "\n".join(out)


def _format(
    lines: list[list[str]],
    widths: list[int],
    start: int,
    end: int,
    out: list[str],
    min_width: int,
) -> None:
    column = len(widths)
    line0 = start
    this = start
    while this < end:
        if column >= len(lines[this]) - 1:
            this += 1
            continue
        _write(lines, widths, line0, this, out)
        line0 = this
        width = min_width
        while this < end and column < len(lines[this]) - 1:
            width = max(width, len(lines[this][column]) + _PADDING)
            this += 1
        _format(lines, [*widths, width], line0, this, out, min_width)
        line0 = this
    _write(lines, widths, line0, end, out)


def _write(lines: list[list[str]], widths: list[int], start: int, end: int, out: list[str]) -> None:
    for cells in lines[start:end]:
        padded = [c.ljust(widths[j]) if j < len(widths) else c for j, c in enumerate(cells)]
        out.append("".join(padded))


def table(rows: list[list[str]]) -> str:
    """Rows of cells (the first is the header) as docker's table, with a final newline."""
    return tabwrite("".join("\t".join(row) + "\n" for row in rows))


def ago(timestamp: float, now: float | None = None) -> str:
    return human_duration((time.time() if now is None else now) - timestamp) + " ago"


_SIZE_UNITS = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")
_BINARY_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")


def human_size(size: float, precision: int = 3) -> str:
    """go-units HumanSizeWithPrecision: decimal units, `precision` significant digits (3 in
    image lists; HumanSize, which prune and df print, has 4)."""
    return _custom_size(size, 1000, _SIZE_UNITS, precision)


def bytes_size(size: float) -> str:
    """go-units BytesSize: binary units, 4 significant digits (docker stats' memory)."""
    return _custom_size(size, 1024, _BINARY_UNITS, 4)


def _custom_size(size: float, base: int, units: tuple[str, ...], digits: int) -> str:
    unit = 0
    while size >= base and unit < len(units) - 1:
        size /= base
        unit += 1
    return f"{size:.{digits}g}{units[unit]}"


def short_id(ident: str) -> str:
    """stringid.TruncateID: 12 hex digits, without any `sha256:` prefix."""
    return ident.partition(":")[2][:12] if ":" in ident else ident[:12]


def ellipsis(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def go_quote(text: str) -> str:
    """strconv.Quote for the common case (docker ps COMMAND)."""
    import json  # here: `json` imports `re`, ~4 ms of start-up, and most commands print none

    return json.dumps(text, ensure_ascii=False)


def go_time(timestamp: float) -> str:
    """time.Time.String() of a Unix time, in local time: `2026-11-28 01:36:26 +0000 UTC`."""
    return time.strftime("%Y-%m-%d %H:%M:%S %z %Z", time.localtime(timestamp))


def go_rfc3339(stamp: str) -> str:
    """time.Time.String() of a UTC RFC 3339 stamp: `2026-11-28 01:36:26.68 +0000 UTC`."""
    if not stamp.endswith("Z"):
        return stamp
    return stamp[:-1].replace("T", " ", 1) + " +0000 UTC"


def to_json(value: Any, indent: int | None = None) -> str:
    """encoding/json as docker uses it: compact or 4-space indented, <, > and & escaped."""
    import json  # here: `json` imports `re`, ~4 ms of start-up, and most commands print none

    if indent is None:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    else:
        text = json.dumps(value, ensure_ascii=False, indent=indent)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def go_value(value: Any) -> str:
    """How text/template prints a value: `true`, `map[a:1 b:2]`, `[x y]`, `<nil>`."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_value(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, list):
        return "[" + " ".join(go_value(v) for v in value) + "]"
    return str(value)


def listing(
    rows: list[dict[str, str]], fmt: str, columns: list[str], headers: dict[str, str]
) -> str:
    """docker's `--format` for lists: "" or `table` (the default columns), `table TEMPLATE`,
    `json` (one object per line) or a TEMPLATE applied to each row."""
    if fmt in ("", "table"):
        return table([[headers[c] for c in columns]] + [[row[c] for c in columns] for row in rows])
    if fmt == "json":
        return "".join(to_json(dict(sorted(row.items()))) + "\n" for row in rows)
    from hatoba.cli.template import Template

    is_table = fmt.startswith("table ")
    text = fmt[len("table ") :] if is_table else fmt
    template = Template(text.strip().replace("\\t", "\t").replace("\\n", "\n"))
    lines = [template.render(headers)] if is_table else []
    lines.extend(template.render(row) for row in rows)
    out = "".join(line + "\n" for line in lines)
    return tabwrite(out) if is_table else out
