"""Go text/template, the part `--format` users write: enough for docker's documented examples.

    {{.Name}}  {{.IPAM.Config}}  {{json .NetworkSettings.Networks}}  {{index .Labels "k"}}
    {{range .Containers}}{{.Name}} {{end}}  {{range $k, $v := .Ports}}{{$k}}{{end}}
    {{if .Internal}}internal{{else}}external{{end}}  {{.Names | upper}}  {{- trimmed -}}

Functions: json, index, join, split, len, upper, lower, title, truncate, print, println,
printf, eq, ne, not, and, or. Values print as text/template prints them (render.go_value).
"""

from __future__ import annotations

import re

from hatoba.cli.errors import CliError
from hatoba.cli.render import go_value, to_json

TYPE_CHECKING = False  # `typing` costs ~4 ms of start-up; mypy treats this name as True
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    Node = tuple[Any, ...]


class TemplateError(CliError):
    def __init__(self, message: str) -> None:
        super().__init__(f"template parsing error: template: :1: {message}")


class _Missing:
    """A key a map does not have: text/template prints `<no value>`."""

    def __repr__(self) -> str:
        return "<no value>"


MISSING = _Missing()

_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.DOTALL)
_TOKEN = re.compile(
    r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<raw>`[^`]*`)|(?P<num>-?\d+(?:\.\d+)?)'
    r"|(?P<field>(?:\$\w*)?(?:\.\w+)+|\.|\$\w*)|(?P<op>:=|[(),|])|(?P<ident>\w+))"
)


class Template:
    def __init__(self, text: str) -> None:
        self.nodes = _Parser(text).parse()

    def render(self, data: Any) -> str:
        out: list[str] = []
        _run(self.nodes, data, {"$": data}, out)
        return "".join(out)


class _Parser:
    def __init__(self, text: str) -> None:
        self.pieces: list[tuple[str, str]] = []
        pos = 0
        for m in _ACTION.finditer(text):
            before = text[pos : m.start()]
            if m.group(1):
                before = before.rstrip()
            if before:
                self.pieces.append(("text", before))
            self.pieces.append(("action", m.group(2).strip()))
            pos = m.end()
            if m.group(3):
                rest = text[pos:]
                pos += len(rest) - len(rest.lstrip())
        tail = text[pos:]
        if "{{" in tail:
            raise TemplateError("unclosed action")
        if tail:
            self.pieces.append(("text", tail))
        self.index = 0

    def parse(self) -> list[Node]:
        nodes, stop = self._block()
        if stop is not None:
            raise TemplateError(f"unexpected {{{{{stop}}}}}")
        return nodes

    def _block(self) -> tuple[list[Node], str | None]:
        """Nodes up to an `end` or `else` of the enclosing block (returned as the stop word)."""
        nodes: list[Node] = []
        while self.index < len(self.pieces):
            kind, text = self.pieces[self.index]
            self.index += 1
            if kind == "text":
                nodes.append(("text", text))
                continue
            word, _, rest = text.partition(" ")
            if text.startswith("/*"):
                continue
            if text in ("end", "else"):
                return nodes, text
            if word in ("if", "with", "range"):
                nodes.append(self._control(word, rest.strip()))
            else:
                nodes.append(("out", _pipeline(_tokens(text))))
        return nodes, None

    def _control(self, word: str, text: str) -> Node:
        tokens = _tokens(text)
        names: list[str] = []
        if word == "range" and ":=" in [t[1] for t in tokens]:
            at = [t[1] for t in tokens].index(":=")
            names = [t[1] for t in tokens[:at] if t[0] == "field"]
            tokens = tokens[at + 1 :]
        pipeline = _pipeline(tokens)
        body, stop = self._block()
        otherwise: list[Node] = []
        if stop == "else":
            otherwise, stop = self._block()
        if stop != "end":
            raise TemplateError(f"unexpected EOF in {word}")
        return (word, pipeline, body, otherwise, names)


def _tokens(action: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    action = action.rstrip()
    while pos < len(action):
        m = _TOKEN.match(action, pos)
        if not m or m.end() == pos:
            raise TemplateError(f"unexpected {action[pos:].strip()!r} in command")
        kind = m.lastgroup
        assert kind is not None
        text = m.group(kind)
        if kind == "field" and tokens and tokens[-1] == ("op", ")") and m.start(kind) == pos:
            kind = "chain"  # (pipeline).Field
        tokens.append((kind, text))
        pos = m.end()
    return tokens


def _pipeline(tokens: list[tuple[str, str]]) -> list[list[Node]]:
    """Commands separated by `|`; each command is a list of operands."""
    commands: list[list[Node]] = [[]]
    stack: list[list[list[Node]]] = []
    for kind, text in tokens:
        if text == "(" and kind == "op":
            stack.append(commands)
            commands = [[]]
        elif text == ")" and kind == "op":
            if not stack:
                raise TemplateError("unexpected right paren")
            inner, commands = commands, stack.pop()
            commands[-1].append(("pipe", inner))
        elif text == "|" and kind == "op":
            commands.append([])
        elif kind == "chain":
            commands[-1].append(("chain", commands[-1].pop(), text[1:].split(".")))
        else:
            commands[-1].append(_operand(kind, text))
    if stack:
        raise TemplateError("unclosed left paren")
    if any(not c for c in commands):
        raise TemplateError("missing value for command")
    return commands


def _operand(kind: str, text: str) -> Node:
    if kind == "str":
        return ("lit", text[1:-1].encode().decode("unicode_escape"))
    if kind == "raw":
        return ("lit", text[1:-1])
    if kind == "num":
        return ("lit", float(text) if "." in text else int(text))
    if kind == "field":
        base, _, path = text.partition(".") if not text.startswith(".") else ("", "", text[1:])
        return ("field", base, [p for p in path.split(".") if p])
    if kind == "ident":
        if text in ("true", "false"):
            return ("lit", text == "true")
        if text == "nil":
            return ("lit", None)
        if text not in _FUNCTIONS:
            raise TemplateError(f'function "{text}" not defined')
        return ("func", text)
    raise TemplateError(f"unexpected {text!r} in operand")


def _run(nodes: list[Node], dot: Any, env: dict[str, Any], out: list[str]) -> None:
    for node in nodes:
        kind = node[0]
        if kind == "text":
            out.append(node[1])
        elif kind == "out":
            value = _pipe(node[1], dot, env)
            out.append("<no value>" if value is MISSING else go_value(value))
        else:
            _, pipeline, body, otherwise, names = node
            value = _pipe(pipeline, dot, env)
            if kind == "range":
                items = _items(value)
                for key, item in items:
                    scope = dict(env)
                    if len(names) == 1:
                        scope[names[0]] = item
                    elif len(names) == 2:
                        scope[names[0]], scope[names[1]] = key, item
                    _run(body, item, scope, out)
                if not items:
                    _run(otherwise, dot, env, out)
            elif _truth(value):
                _run(body, value if kind == "with" else dot, env, out)
            else:
                _run(otherwise, dot, env, out)


def _items(value: Any) -> list[tuple[Any, Any]]:
    if isinstance(value, dict):
        return [(k, value[k]) for k in sorted(value)]
    if isinstance(value, list):
        return list(enumerate(value))
    if value is None or value is MISSING:
        return []
    raise CliError(f"template: :1: range can't iterate over {go_value(value)}")


def _truth(value: Any) -> bool:
    return value is not MISSING and bool(value)


def _pipe(commands: list[list[Node]], dot: Any, env: dict[str, Any]) -> Any:
    result: Any = MISSING
    for i, command in enumerate(commands):
        head = command[0]
        if head[0] == "func":
            args = [_value(a, dot, env) for a in command[1:]]
            if i > 0:
                args.append(result)
            result = _call(head[1], args)
        else:
            if len(command) > 1 or i > 0:
                raise TemplateError(f"can't give argument to non-function {_describe(head)}")
            result = _value(head, dot, env)
    return result


def _describe(node: Node) -> str:
    return "." + ".".join(node[2]) if node[0] == "field" else repr(node[1])


def _value(node: Node, dot: Any, env: dict[str, Any]) -> Any:
    kind = node[0]
    if kind == "lit":
        return node[1]
    if kind == "pipe":
        return _pipe(node[1], dot, env)
    if kind == "func":
        return _call(node[1], [])
    if kind == "chain":
        _, inner, path = node
        value = _value(inner, dot, env)
    else:
        _, base, path = node
        value = dot if not base else env.get(base, MISSING)
    for name in path:
        value = value.get(name, MISSING) if isinstance(value, dict) else MISSING
    return value


def _call(name: str, args: list[Any]) -> Any:
    try:
        return _FUNCTIONS[name](*args)
    except (TypeError, KeyError, IndexError, ValueError) as exc:
        raise CliError(f"template: :1: error calling {name}: {exc}") from None


def _index(value: Any, *keys: Any) -> Any:
    for key in keys:
        if isinstance(value, dict):
            value = value.get(key, MISSING)
        elif isinstance(value, list):
            value = value[int(key)]
        else:
            raise TypeError(f"can't index item of type {type(value).__name__}")
    return value


def _printf(fmt: str, *args: Any) -> str:
    text = fmt.replace("%v", "%s").replace("%q", '"%s"')
    return text % tuple(
        a if isinstance(a, int | float) and not isinstance(a, bool) else go_value(a) for a in args
    )


def _truncate(text: str, width: int) -> str:
    return text[:width]


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "json": lambda v: to_json(None if v is MISSING else v),
    "index": _index,
    "join": lambda items, sep: sep.join(go_value(i) for i in items or []),
    "split": lambda text, sep: text.split(sep),
    "len": len,
    "upper": lambda s: str(s).upper(),
    "lower": lambda s: str(s).lower(),
    "title": lambda s: str(s).title(),
    "truncate": _truncate,
    "print": lambda *a: "".join(go_value(v) for v in a),
    "println": lambda *a: " ".join(go_value(v) for v in a) + "\n",
    "printf": _printf,
    "eq": lambda a, *bs: any(a == b for b in bs),
    "ne": lambda a, b: a != b,
    "not": lambda v: not _truth(v),
    "and": lambda *vs: next((v for v in vs if not _truth(v)), vs[-1]),
    "or": lambda *vs: next((v for v in vs if _truth(v)), vs[-1]),
}
