from __future__ import annotations

import pytest

from hatoba.cli.errors import CliError, UsageError
from hatoba.cli.parsing import Parser, filters, key_values, split_options

VALUES = {"-e", "--env", "--net", "--network", "-p", "--name", "-w"}


@pytest.mark.parametrize(
    ("args", "options", "rest"),
    [
        (["-itd", "alpine"], ["-itd"], ["alpine"]),
        (["--net", "x", "alpine", "sh"], ["--net", "x"], ["alpine", "sh"]),
        (["--net=x", "alpine"], ["--net=x"], ["alpine"]),
        (["-p8000:80", "httpd"], ["-p8000:80"], ["httpd"]),
        (["-ip", "8000:80", "httpd"], ["-ip", "8000:80"], ["httpd"]),
        (["-e", "A=1", "alpine", "env", "-e", "x"], ["-e", "A=1"], ["alpine", "env", "-e", "x"]),
        (["alpine", "ping", "-c", "1", "x"], [], ["alpine", "ping", "-c", "1", "x"]),
        (["-d", "--", "-weird-image"], ["-d"], ["-weird-image"]),
        (["-d"], ["-d"], []),
    ],
)
def test_options_end_at_the_first_positional(
    args: list[str], options: list[str], rest: list[str]
) -> None:
    assert split_options(VALUES, args) == (options, rest)


def _parser() -> Parser:
    p = Parser("hatoba network ls", "[OPTIONS]", "List networks")
    p.flag("-q", "--quiet", help="ids")
    p.option("-t", "--time", help="seconds", type=int)
    p.repeated("-f", "--filter", help="filters")
    return p


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--foo"], "unknown flag: --foo"),
        (["--foo=1"], "unknown flag: --foo"),
        (["-qz"], "unknown shorthand flag: 'z' in -qz"),
        (["-t"], "flag needs an argument: --time"),
        (
            ["-t", "x"],
            'invalid argument "x" for "-t, --time" flag: strconv.ParseInt: parsing "x": invalid syntax',  # noqa: E501
        ),
        (["--quiet=yes"], "flag --quiet does not take a value"),
    ],
)
def test_flag_errors_are_dockers_with_status_125(args: list[str], message: str) -> None:
    with pytest.raises(UsageError) as info:
        _parser().parse(args)
    assert info.value.message == f"{message}\nSee 'hatoba network ls --help'."
    assert info.value.code == 125


def test_combined_short_flags_and_repeats() -> None:
    ns = _parser().parse(["-q", "-f", "name=a", "--filter=driver=bridge", "x"])
    assert ns.quiet
    assert ns.filter == ["name=a", "driver=bridge"]
    assert ns.args == ["x"]


@pytest.mark.parametrize(
    ("n", "minimum", "maximum", "text"),
    [
        (1, 0, 0, "accepts no arguments"),
        (0, 1, None, "requires at least 1 argument"),
        (1, 2, 2, "requires exactly 2 arguments"),
        (3, 1, 2, "requires at least 1 and at most 2 arguments"),
        (2, 0, 1, "requires at most 1 argument"),
    ],
)
def test_argument_counts(n: int, minimum: int, maximum: int | None, text: str) -> None:
    p = Parser("hatoba network rm", "NETWORK [NETWORK...]", "Remove one or more networks")
    with pytest.raises(CliError) as info:
        p.expect(["x"] * n, minimum, maximum)
    assert info.value.code == 1
    assert info.value.message == (
        f"\"hatoba network rm\" {text}.\nSee 'hatoba network rm --help'.\n\n"
        "Usage:  hatoba network rm NETWORK [NETWORK...]\n\nRemove one or more networks"
    )


def test_a_positional_where_none_is_expected() -> None:
    p = _parser()
    ns = p.parse(["extra"])
    with pytest.raises(CliError) as info:
        p.expect(ns.args, 0, 0)
    assert '"hatoba network ls" accepts no arguments.' in info.value.message


def test_filters_and_key_values() -> None:
    assert filters([], "p") is None
    assert filters(["name=a", "name=b", "driver=bridge"], "p") == (
        '{"name": {"a": true, "b": true}, "driver": {"bridge": true}}'
    )
    with pytest.raises(UsageError) as info:
        filters(["nameonly"], "hatoba ps")
    assert info.value.message.startswith(
        'invalid argument "nameonly" for "-f, --filter" flag: bad format of filter'
    )
    assert key_values(["a=1", "b", "c=x=y"]) == {"a": "1", "b": "", "c": "x=y"}


def test_help_is_docker_like() -> None:
    text = _parser().format_help()
    assert text.startswith("\nUsage:  hatoba network ls [OPTIONS]\n\nList networks\n\nOptions:\n")
    assert "  -q, --quiet " in text
    assert "  -h, --help " in text
