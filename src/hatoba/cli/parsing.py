"""Command-line flags the way docker's CLI (cobra and pflag) reads them, with its error texts
and exit statuses, and its help layout.

`-itd` is three flags; `-p8000:80`, `-p=8000:80`, `-p 8000:80`, `--publish=8000:80` and
`--publish 8000:80` all give -p a value; `--` ends the flags. A flag error (`unknown flag:
--x`) exits 125, a wrong number of arguments 1 with the usage line. `run` and `exec` stop
reading flags at the first positional argument, so the command after the image keeps its own
(`hatoba run alpine ping -c 1 x`).

Not argparse: it costs ~3 ms of start-up (with the gettext, locale and shutil it loads), more
than the rest of a command's own work, and its error texts are not docker's.
"""

from __future__ import annotations

import sys
from types import SimpleNamespace as Values

from hatoba.cli import wirejson
from hatoba.cli.errors import CliError, UsageError

TYPE_CHECKING = False  # `typing` costs ~4 ms of start-up; mypy treats this name as True
if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["BadValue", "Parser", "Values"]

# strconv.ParseBool, for `--flag=false`
_BOOLS = dict.fromkeys(("1", "t", "T", "true", "TRUE", "True"), True) | dict.fromkeys(
    ("0", "f", "F", "false", "FALSE", "False"), False
)


class _Help(Exception):
    """-h/--help was given."""


class BadValue(ValueError):
    """What a flag's converter raises with the reason docker's CLI gives (`time: invalid
    duration "x"`); a plain ValueError reads as a bad integer."""


class _Flag:
    def __init__(
        self,
        names: tuple[str, ...],
        help: str,
        *,
        convert: Callable[[str], object] | None,
        default: object,
        repeated: bool = False,
        metavar: str = "",
    ) -> None:
        self.names = names
        longs = [n for n in names if n.startswith("--")]
        self.dest = (longs[0] if longs else names[0]).lstrip("-").replace("-", "_")
        self.help = help
        # None for a boolean flag; else how to turn the text into the value
        self.convert = convert
        self.default = default
        self.repeated = repeated
        self.metavar = metavar

    @property
    def title(self) -> str:
        """pflag's name of the flag in errors: `-t, --time` or `--dns`."""
        return ", ".join(self.names)


class Parser:
    def __init__(self, prog: str, args: str, description: str, *, short_help: bool = True) -> None:
        self.prog = prog
        self.usage = f"{prog} {args}".rstrip()
        self.description = description
        self._flags: list[_Flag] = []
        self._by_name: dict[str, _Flag] = {}
        help_names = ("-h", "--help") if short_help else ("--help",)
        self._add(_Flag(help_names, "Print usage", convert=None, default=False))

    def _add(self, flag: _Flag) -> None:
        self._flags.append(flag)
        for name in flag.names:
            self._by_name[name] = flag

    def flag(self, *names: str, help: str, default: bool = False) -> None:
        """A boolean: given alone it is true; `--name=false` turns off one that is on."""
        self._add(_Flag(names, help, convert=None, default=default))

    def option(
        self,
        *names: str,
        help: str,
        metavar: str = "string",
        default: object = None,
        type: Callable[[str], object] = str,
    ) -> None:
        self._add(_Flag(names, help, convert=type, default=default, metavar=metavar))

    def repeated(
        self,
        *names: str,
        help: str,
        metavar: str = "list",
        type: Callable[[str], object] = str,
    ) -> None:
        self._add(_Flag(names, help, convert=type, default=None, repeated=True, metavar=metavar))

    def parse(self, args: list[str]) -> Values:
        """Flags anywhere, the other arguments in `.args`."""
        return self._parse(args, interspersed=True)

    def parse_until_positional(self, args: list[str]) -> Values:
        """Flags up to the first positional argument; it and everything after it in `.args`."""
        return self._parse(args, interspersed=False)

    def _parse(self, args: list[str], *, interspersed: bool) -> Values:
        values: dict[str, object] = {f.dest: [] if f.repeated else f.default for f in self._flags}
        positionals: list[str] = []
        i = 0
        try:
            while i < len(args):
                arg = args[i]
                i += 1
                if arg == "--":
                    positionals.extend(args[i:])
                    break
                if arg.startswith("--"):
                    i = self._long(arg, args, i, values)
                elif arg.startswith("-") and arg != "-":
                    i = self._shorts(arg, args, i, values)
                elif interspersed:
                    positionals.append(arg)
                else:
                    positionals.extend(args[i - 1 :])
                    break
        except _Help:
            sys.stdout.write(self.format_help())
            raise SystemExit(0) from None
        return Values(**values, args=positionals)

    def _long(self, arg: str, args: list[str], i: int, values: dict[str, object]) -> int:
        name, eq, value = arg.partition("=")
        flag = self._by_name.get(name)
        if flag is None:
            raise UsageError(f"unknown flag: {name}", self.prog)
        if flag.convert is None:
            self._set(flag, value if eq else "true", values)
            return i
        if not eq:
            if i == len(args):
                raise UsageError(f"flag needs an argument: {name}", self.prog)
            value = args[i]
            i += 1
        self._set(flag, value, values)
        return i

    def _shorts(self, arg: str, args: list[str], i: int, values: dict[str, object]) -> int:
        j = 1
        while j < len(arg):
            letter = arg[j]
            flag = self._by_name.get("-" + letter)
            if flag is None:
                raise UsageError(f"unknown shorthand flag: '{letter}' in {arg}", self.prog)
            rest = arg[j + 1 :]
            if flag.convert is None:
                if rest.startswith("="):
                    self._set(flag, rest[1:], values)
                    return i
                self._set(flag, "true", values)
                j += 1
                continue
            value = rest[1:] if rest.startswith("=") else rest
            if not rest:
                if i == len(args):
                    raise UsageError(f"flag needs an argument: '{letter}' in -{letter}", self.prog)
                value = args[i]
                i += 1
            self._set(flag, value, values)
            return i
        return i

    def _set(self, flag: _Flag, text: str, values: dict[str, object]) -> None:
        if flag.convert is None:
            if text not in _BOOLS:
                raise self._invalid(
                    flag, text, f'strconv.ParseBool: parsing "{text}": invalid syntax'
                )
            if flag.dest == "help":
                raise _Help
            values[flag.dest] = _BOOLS[text]
            return
        try:
            value = flag.convert(text)
        except BadValue as exc:
            raise self._invalid(flag, text, str(exc)) from None
        except ValueError:
            raise self._invalid(
                flag, text, f'strconv.ParseInt: parsing "{text}": invalid syntax'
            ) from None
        if flag.repeated:
            current = values[flag.dest]
            assert isinstance(current, list)
            current.append(value)
        else:
            values[flag.dest] = value

    def _invalid(self, flag: _Flag, text: str, reason: str) -> UsageError:
        return UsageError(f'invalid argument "{text}" for "{flag.title}" flag: {reason}', self.prog)

    def format_help(self) -> str:
        lines = [f"\nUsage:  {self.usage}\n", f"{self.description}\n"]
        rows = []
        for flag in self._flags:
            shorts = [n for n in flag.names if not n.startswith("--")]
            longs = [n for n in flag.names if n.startswith("--")]
            names = ", ".join(shorts + longs) if shorts else "    " + ", ".join(longs)
            if flag.metavar:
                names += f" {flag.metavar}"
            rows.append((names, flag.help))
        width = max(len(n) for n, _ in rows) + 3
        lines.append("Options:")
        lines.extend(f"  {n.ljust(width)}{h}".rstrip() for n, h in rows)
        return "\n".join(lines) + "\n"

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


def _arguments(n: int) -> str:
    return "argument" if n == 1 else "arguments"


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
    return wirejson.dumps(result)


def confirm(warning: str) -> bool:
    """docker's PromptForConfirmation: `… [y/N] `, yes only for y or Y."""
    sys.stdout.write(f"{warning} [y/N] ")
    sys.stdout.flush()
    words = sys.stdin.readline().split()
    return bool(words) and words[0] in ("y", "Y")
