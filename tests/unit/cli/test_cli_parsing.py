from __future__ import annotations

import pytest

from hatoba.cli.errors import CliError, UsageError
from hatoba.cli.parsing import Parser, filters, key_values


def _run_parser() -> Parser:
    p = Parser("hatoba run", "[OPTIONS] IMAGE [COMMAND] [ARG...]", "Run", short_help=False)
    p.flag("-d", "--detach", help="detach")
    p.flag("-i", "--interactive", help="stdin")
    p.flag("-t", "--tty", help="tty")
    p.repeated("-e", "--env", help="env")
    p.repeated("-p", "--publish", help="ports")
    p.option("--network", "--net", help="network", default="default")
    return p


@pytest.mark.parametrize(
    ("args", "values", "rest"),
    [
        (["-itd", "alpine"], {"interactive": True, "tty": True, "detach": True}, ["alpine"]),
        (["--net", "x", "alpine", "sh"], {"network": "x"}, ["alpine", "sh"]),
        (["--net=x", "alpine"], {"network": "x"}, ["alpine"]),
        (["-p8000:80", "httpd"], {"publish": ["8000:80"]}, ["httpd"]),
        (["-p=8000:80", "httpd"], {"publish": ["8000:80"]}, ["httpd"]),
        (["-ip", "8000:80", "httpd"], {"interactive": True, "publish": ["8000:80"]}, ["httpd"]),
        (["-d=false", "alpine"], {"detach": False}, ["alpine"]),
        (["--tty=true", "alpine"], {"tty": True}, ["alpine"]),
        (["-e", "A=1", "alpine", "env", "-e", "x"], {"env": ["A=1"]}, ["alpine", "env", "-e", "x"]),
        (["alpine", "ping", "-c", "1", "x"], {}, ["alpine", "ping", "-c", "1", "x"]),
        (["-d", "--", "-weird-image"], {"detach": True}, ["-weird-image"]),
        (["-e", "-starts-with-a-dash", "x"], {"env": ["-starts-with-a-dash"]}, ["x"]),
        (["-d"], {"detach": True}, []),
    ],
)
def test_flags_end_at_the_first_positional(
    args: list[str], values: dict[str, object], rest: list[str]
) -> None:
    ns = _run_parser().parse_until_positional(args)
    defaults = {"detach": False, "interactive": False, "tty": False, "env": [], "publish": []}
    for name, value in {**defaults, "network": "default", **values}.items():
        assert getattr(ns, name) == value
    assert ns.args == rest


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
        (["-t"], "flag needs an argument: 't' in -t"),
        (["--time"], "flag needs an argument: --time"),
        (
            ["-t", "x"],
            'invalid argument "x" for "-t, --time" flag: strconv.ParseInt: parsing "x": invalid syntax',  # noqa: E501
        ),
        (
            ["--quiet=yes"],
            'invalid argument "yes" for "-q, --quiet" flag: strconv.ParseBool: parsing "yes": invalid syntax',  # noqa: E501
        ),
    ],
)
def test_flag_errors_are_dockers_with_status_125(args: list[str], message: str) -> None:
    with pytest.raises(UsageError) as info:
        _parser().parse(args)
    assert info.value.message == f"{message}\nSee 'hatoba network ls --help'."
    assert info.value.code == 125


def test_flags_and_arguments_interspersed() -> None:
    ns = _parser().parse(["a", "-qt", "5", "-f", "name=a", "b", "--filter=driver=bridge", "-"])
    assert (ns.quiet, ns.time) == (True, 5)
    assert ns.filter == ["name=a", "driver=bridge"]
    assert ns.args == ["a", "b", "-"]
    ns = _parser().parse([])
    assert (ns.quiet, ns.time, ns.filter, ns.args) == (False, None, [], [])


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        _parser().parse(["-h"])
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith("\nUsage:  hatoba network ls [OPTIONS]\n")


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
