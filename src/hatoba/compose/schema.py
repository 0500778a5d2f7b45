"""Validation against the compose specification's published JSON schema (schema/, with its
licence and origin), with `jsonschema`: every violation, each with its path and line.

jsonschema costs ~110 ms to import: only `load` in project.py imports this module, and the
CLI caches what a load produced (see hatoba.cli.compose_cache).
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path as FilePath
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError, best_match

from hatoba.compose.errors import Path, Problems
from hatoba.compose.source import Map, place

SCHEMA_FILE = FilePath(__file__).parent / "schema" / "compose-spec.json"

_TYPE_NAMES = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "null": "null",
}


@cache
def _validator() -> jsonschema.Draft7Validator:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    return jsonschema.Draft7Validator(schema)


def validate(tree: Map, problems: Problems) -> None:
    for error in _validator().iter_errors(tree):
        for path, message in _describe(error):
            problems.add(place(tree, path), path, message)


def _path(error: ValidationError) -> Path:
    return tuple(error.absolute_path)


def _describe(error: ValidationError) -> list[tuple[Path, str]]:
    path = _path(error)
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = schema.get("properties", {})
        patterns = schema.get("patternProperties", {})
        extra = [
            key
            for key in error.instance
            if key not in allowed and not any(re.search(p, key) for p in patterns)
        ]
        return [((*path, key), f"additional property {key!r} is not allowed") for key in extra]
    if error.validator in ("oneOf", "anyOf") and error.context:
        return [_alternatives(error)]
    if error.validator == "type":
        return [(path, f"{_show(error.instance)} must be {_types(error.validator_value)}")]
    if error.validator == "enum":
        choices = ", ".join(str(v) for v in _as_list(error.validator_value))
        return [(path, f"{_show(error.instance)} must be one of: {choices}")]
    if error.validator == "uniqueItems":
        return [(path, "has duplicate items")]
    return [(path, error.message)]


def _alternatives(error: ValidationError) -> tuple[Path, str]:
    """A value that fits none of several shapes: name the shapes when it has the type of
    none of them, else the problem with the closest shape of its type."""
    by_branch: dict[Any, list[ValidationError]] = {}
    for e in error.context or ():
        by_branch.setdefault(e.relative_schema_path[0], []).append(e)
    wrong_type = {
        branch
        for branch, errors in by_branch.items()
        if any(e.validator == "type" and _path(e) == _path(error) for e in errors)
    }
    if wrong_type == set(by_branch):
        wanted: list[str] = []
        for errors in by_branch.values():
            for e in errors:
                if e.validator == "type" and _path(e) == _path(error):
                    wanted += [t for t in _as_list(e.validator_value) if t not in wanted]
        return _path(error), f"{_show(error.instance)} must be {_types(wanted)}"
    closest = [
        e for branch, errors in by_branch.items() if branch not in wrong_type for e in errors
    ]
    best = best_match(closest)
    described = _describe(best) if best is not None else []
    return described[0] if described else (_path(error), error.message)


def _as_list(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _types(value: Any) -> str:
    names = [_TYPE_NAMES.get(t, t) for t in _as_list(value)]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    return repr(value)
