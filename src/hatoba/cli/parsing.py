"""argparse made to behave like docker's CLI: its help layout, its error texts and statuses.

Docker's flag errors exit 125 (`unknown flag: --x`), wrong argument counts exit 1 with the
usage line. `run` and `exec` stop reading options at the first positional argument, so the
command after the image keeps its own flags (`hatoba run alpine ping -c 1 x`).
"""

from __future__ import annotations

import argparse
import json
import sys

from hatoba.cli.errors import CliError, UsageError

TYPE_CHECKING = False  # `typing` costs ~4 ms of start-up; mypy treats this name as True
if TYPE_CHECKING:
    from typing import Any, NoReturn


class Parser(argparse.ArgumentParser):
    def __init__(self, prog: str, args: str, description: str, *, short_help: bool = True) -> None:
        super().__init__(
            prog=prog,
            usage=f"{prog} {args}".rstrip(),
            description=description,
            add_help=False,
            allow_abbrev=False,
        )
        # options that take a value, to find where the options end (see split_options)
        self.value_options: set[str] = set()
        # what is being parsed, for error texts
        self.parsing: list[str] = []
        flags = ("-h", "--help") if short_help else ("--help",)
        self.add_argument(*flags, action="help", help="Print usage")

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        action = super().add_argument(*args, **kwargs)
        if action.nargs != 0:
            self.value_options.update(action.option_strings)
        return action

    def flag(self, *names: str, help: str) -> None:
        self.add_argument(*names, action="store_true", help=help)

    def option(self, *names: str, help: str, metavar: str = "string", **kw: Any) -> None:
        self.add_argument(*names, metavar=metavar, help=help, **kw)

    def repeated(self, *names: str, help: str, metavar: str = "list") -> None:
        self.add_argument(*names, action="append", default=[], metavar=metavar, help=help)

    def format_help(self) -> str:
        lines = [f"\nUsage:  {self.usage}\n", f"{self.description}\n"]
        rows = []
        for action in self._actions:
            if action.help == argparse.SUPPRESS:
                continue
            shorts = [o for o in action.option_strings if not o.startswith("--")]
            longs = [o for o in action.option_strings if o.startswith("--")]
            names = ", ".join(shorts + longs) if shorts else "    " + ", ".join(longs)
            if action.nargs != 0 and action.metavar:
                names += f" {action.metavar}"
            rows.append((names, action.help or ""))
        if rows:
            width = max(len(n) for n, _ in rows) + 3
            lines.append("Options:")
            lines.extend(f"  {n.ljust(width)}{h}".rstrip() for n, h in rows)
        return "\n".join(lines) + "\n"

    def error(self, message: str) -> NoReturn:
        raise _flag_error(self, message)

    def arguments_error(self, text: str) -> CliError:
        """Docker's wrong-argument-count error (status 1), with the usage line."""
        return CliError(
            f"\"{self.prog}\" {text}.\nSee '{self.prog} --help'.\n\n"
            f"Usage:  {self.usage}\n\n{self.description}"
        )

    def expect(self, args: list[str], minimum: int, maximum: int | None = None) -> None:
        """Check the number of positional arguments as docker's cli.RequiresMinArgs & co."""
        n = len(args)
        if minimum <= n and (maximum is None or n <= maximum):
            return
        if maximum == 0:
            raise self.arguments_error("accepts no arguments")
        if maximum == minimum:
            raise self.arguments_error(f"requires exactly {minimum} {_arguments(minimum)}")
        if maximum is None:
            raise self.arguments_error(f"requires at least {minimum} {_arguments(minimum)}")
        if minimum == 0:
            raise self.arguments_error(f"requires at most {maximum} {_arguments(maximum)}")
        raise self.arguments_error(
            f"requires at least {minimum} and at most {maximum} {_arguments(maximum)}"
        )

    def parse(self, args: list[str]) -> argparse.Namespace:
        """Options anywhere, positionals in `.args`."""
        self.parsing = args
        ns, rest = self.parse_known_args(args)
        unknown = [a for a in rest if a.startswith("-") and a != "-"]
        if unknown:
            self.error(f"unrecognized arguments: {unknown[0]}")
        ns.args = rest
        return ns

    def parse_until_positional(self, args: list[str]) -> argparse.Namespace:
        """Options up to the first positional; it and everything after it in `.args`."""
        options, positionals = split_options(self.value_options, args)
        self.parsing = options
        ns = self.parse_args(options)
        ns.args = positionals
        return ns


def split_options(value_options: set[str], args: list[str]) -> tuple[list[str], list[str]]:
    """Split at the first argument that is neither an option nor an option's value."""
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            return args[:i], args[i + 1 :]
        if arg.startswith("--"):
            if "=" not in arg and arg in value_options:
                i += 1
        elif arg.startswith("-") and arg != "-":
            # a cluster like -itd or -p8000:80: a value-taking letter ends it
            for j in range(1, len(arg)):
                if "-" + arg[j] in value_options:
                    if j == len(arg) - 1:
                        i += 1
                    break
        else:
            return args[:i], args[i:]
        i += 1
    return args, []


def _arguments(n: int) -> str:
    return "argument" if n == 1 else "arguments"


def _flag_error(parser: Parser, message: str) -> CliError:
    head, _, detail = message.partition(": ")
    if head == "unrecognized arguments":
        token = detail.split()[0]
        if not token.startswith("-"):
            return parser.arguments_error("accepts no arguments")
        if token.startswith("--"):
            return UsageError(f"unknown flag: {token.split('=')[0]}", parser.prog)
        return UsageError(f"unknown shorthand flag: '{token[1]}' in {token}", parser.prog)
    if head.startswith("argument "):
        names = head[len("argument ") :].split("/")
        if detail == "expected one argument":
            return UsageError(f"flag needs an argument: {names[-1]}", parser.prog)
        if detail.startswith("invalid int value: "):
            value = detail[len("invalid int value: ") :].strip("'")
            return UsageError(
                f'invalid argument "{value}" for "{", ".join(names)}" flag: '
                f'strconv.ParseInt: parsing "{value}": invalid syntax',
                parser.prog,
            )
        if detail.startswith("ignored explicit argument "):
            rest = detail[len("ignored explicit argument ") :].strip("'")
            for short in names:
                if short + rest in parser.parsing and not short.startswith("--"):
                    return UsageError(
                        f"unknown shorthand flag: '{rest[0]}' in {short}{rest}", parser.prog
                    )
            return UsageError(f"flag {names[-1]} does not take a value", parser.prog)
    return UsageError(message, parser.prog)


def key_values(values: list[str]) -> dict[str, str]:
    """`k=v` strings as a map; a bare `k` maps to "" (docker's ConvertKVStringsToMap)."""
    result = {}
    for item in values:
        key, _, value = item.partition("=")
        result[key] = value
    return result


def filters(values: list[str], prog: str) -> str | None:
    """`-f name=x -f name=y` as docker sends it: {"name": {"x": true, "y": true}} (JSON)."""
    if not values:
        return None
    result: dict[str, dict[str, bool]] = {}
    for item in values:
        key, eq, value = item.partition("=")
        if not eq:
            raise UsageError(
                f'invalid argument "{item}" for "-f, --filter" flag: '
                "bad format of filter (expected name=value)",
                prog,
            )
        result.setdefault(key.strip().lower(), {})[value] = True
    return json.dumps(result)


def confirm(warning: str) -> bool:
    """docker's PromptForConfirmation: `… [y/N] `, yes only for y or Y."""
    sys.stdout.write(f"{warning} [y/N] ")
    sys.stdout.flush()
    words = sys.stdin.readline().split()
    return bool(words) and words[0] in ("y", "Y")
