"""YAML text → plain trees (`Map`, `Seq`, scalars) that remember where each value was written.

libyaml (PyYAML's C loader) parses and composes the node tree, which carries line marks; the
tree is then built here so that every mapping key and sequence item keeps its (file, line),
for error messages after interpolation and merging.

Scalars resolve as YAML 1.2's core schema, as docker compose's Go parser does: `80:80` is a
string (YAML 1.1 would read 4880, base 60), `yes`/`on` are strings, only true/false are
booleans. A key written twice in one mapping is an error; `<<: *anchor` merges; the compose
tags `!reset` and `!override` come out as `RESET` and `Override(value)` for merge.py.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from hatoba.compose.errors import NOWHERE, Path, Problems, Where

_MERGE_TAG = "tag:yaml.org,2002:merge"
# aliases that expand to more values than this are refused (a "billion laughs" file)
_MAX_VALUES = 1_000_000


class Map(dict[str, Any]):
    """A mapping; `where[key]` is where the key was written, `at` where the mapping starts."""

    def __init__(self, at: Where = NOWHERE) -> None:
        super().__init__()
        self.at = at
        self.where: dict[str, Where] = {}

    def put(self, key: str, value: Any, where: Where) -> None:
        self[key] = value
        self.where[key] = where

    def drop(self, key: str) -> None:
        self.pop(key, None)
        self.where.pop(key, None)

    def place(self, key: str) -> Where:
        return self.where.get(key, self.at)


class Seq(list[Any]):
    """A sequence; `where[i]` is where item i was written."""

    def __init__(self, at: Where = NOWHERE) -> None:
        super().__init__()
        self.at = at
        self.where: list[Where] = []

    def push(self, value: Any, where: Where) -> None:
        self.append(value)
        self.where.append(where)

    def place(self, index: int) -> Where:
        return self.where[index] if 0 <= index < len(self.where) else self.at


class _Reset:
    """`!reset`: the value the overridden files gave is removed."""

    def __repr__(self) -> str:
        return "RESET"


RESET = _Reset()


class Override:
    """`!override VALUE`: VALUE replaces what the overridden files gave, without merging."""

    def __init__(self, value: Any) -> None:
        self.value = value


def place(tree: Any, path: Path) -> Where:
    """Where the deepest part of `path` that exists in `tree` was written."""
    where = tree.at if isinstance(tree, Map | Seq) else NOWHERE
    node = tree
    for part in path:
        found = (isinstance(node, Map) and isinstance(part, str) and part in node) or (
            isinstance(node, Seq) and isinstance(part, int) and 0 <= part < len(node)
        )
        if not found:
            break
        where, node = node.place(part), node[part]
    return where


class _Loader(yaml.CSafeLoader):
    """libyaml's parser with the YAML 1.2 resolvers below."""


_Loader.yaml_implicit_resolvers = {}
for _tag, _pattern, _first in (
    ("bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("int", r"^(?:[-+]?(?:0|[1-9][0-9]*)|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
    (
        "float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)(?:[eE][-+]?[0-9]+)?|[-+]?[0-9]+[eE][-+]?[0-9]+"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        "-+0123456789.",
    ),
    ("null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("merge", r"^(?:<<)$", "<"),
):
    _Loader.add_implicit_resolver(f"tag:yaml.org,2002:{_tag}", re.compile(_pattern), list(_first))


def load(text: str, file: str, problems: Problems) -> Map | None:
    """The document in `text` (None, with problems added, when it cannot be read)."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        problems.add((file, line), (), f"invalid YAML: {exc.problem or exc.context}")
        return None
    except yaml.YAMLError as exc:
        problems.add((file, 0), (), f"invalid YAML: {exc}")
        return None
    try:
        if node is None:
            problems.add((file, 1), (), "empty compose file")
            return None
        tree = _Builder(loader, file, problems).build(node, ())
    finally:
        loader.dispose()
    if not isinstance(tree, Map):
        problems.add((file, node.start_mark.line + 1), (), "the file must hold a mapping")
        return None
    return tree


class _Builder:
    def __init__(self, loader: _Loader, file: str, problems: Problems) -> None:
        self.loader = loader
        self.file = file
        self.problems = problems
        self.count = 0
        # mappings already flattened (merge keys resolved): how many pairs came from merges
        self.merged: dict[int, int] = {}

    def where(self, node: Node) -> Where:
        return (self.file, node.start_mark.line + 1)

    def build(self, node: Node, path: Path) -> Any:
        self.count += 1
        if self.count > _MAX_VALUES:
            if self.count == _MAX_VALUES + 1:
                self.problems.add(self.where(node), path, "too many values (aliases expand)")
            return None
        if node.tag == "!reset":
            return RESET
        if node.tag == "!override":
            return Override(self.build(self._untagged(node), path))
        if isinstance(node, ScalarNode):
            return self.scalar(node, path)
        if isinstance(node, SequenceNode):
            seq = Seq(self.where(node))
            for i, item in enumerate(node.value):
                seq.push(self.build(item, (*path, i)), self.where(item))
            return seq
        if isinstance(node, MappingNode):
            return self.mapping(node, path)
        self.problems.add(self.where(node), path, f"unexpected YAML node {node.tag}")
        return None

    def _untagged(self, node: Node) -> Node:
        if isinstance(node, ScalarNode):
            tag: str = self.loader.resolve(ScalarNode, node.value, (True, False))  # type: ignore[no-untyped-call]
            return ScalarNode(tag, node.value, node.start_mark, node.end_mark, node.style)
        kind = "map" if isinstance(node, MappingNode) else "seq"
        node.tag = f"tag:yaml.org,2002:{kind}"
        return node

    def scalar(self, node: ScalarNode, path: Path) -> Any:
        try:
            return self.loader.construct_object(node)
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or str(exc)
            self.problems.add(self.where(node), path, f"invalid YAML: {problem}")
            return None

    def mapping(self, node: MappingNode, path: Path) -> Map:
        key = id(node)
        if key not in self.merged:
            written = sum(1 for k, _ in node.value if k.tag != _MERGE_TAG)
            try:
                self.loader.flatten_mapping(node)
            except yaml.YAMLError as exc:
                self.problems.add(self.where(node), path, f"invalid YAML merge: {exc}")
                node.value = [(k, v) for k, v in node.value if k.tag != _MERGE_TAG]
            self.merged[key] = len(node.value) - written
        first_own = self.merged[key]
        result = Map(self.where(node))
        own: set[str] = set()
        for i, (key_node, value_node) in enumerate(node.value):
            if not isinstance(key_node, ScalarNode):
                self.problems.add(self.where(key_node), path, "a mapping key must be a scalar")
                continue
            name = _key_text(self.scalar(key_node, path))
            if i >= first_own:
                # merged values are defaults that an own key replaces; own keys are unique
                if name in own:
                    self.problems.add(
                        self.where(key_node),
                        (*path, name),
                        f"mapping key {name!r} already defined at line {result.where[name][1]}",
                    )
                    continue
                own.add(name)
            result.put(name, self.build(value_node, (*path, name)), self.where(key_node))
        return result


def _key_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return str(value)
