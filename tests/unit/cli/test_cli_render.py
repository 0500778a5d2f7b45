from __future__ import annotations

import pytest

from hatoba.cli.render import (
    ago,
    ellipsis,
    go_value,
    human_duration,
    human_size,
    short_id,
    table,
    tabwrite,
    to_json,
)

FRESH = """\
NETWORK ID     NAME      DRIVER    SCOPE
f263f513c03c   bridge    bridge    local
41d05d46ba0b   host      host      local
f751c5da66f7   none      null      local
"""

PS = """\
CONTAINER ID   IMAGE          COMMAND                  CREATED                  STATUS                  PORTS                                   NAMES
5c4ccd8afcb0   httpd:latest   "/bin/busybox httpd …"   Less than a second ago   Up Less than a second   0.0.0.0:8000->80/tcp, :::8000->80/tcp   httpd-sample
"""  # noqa: E501


def test_table_matches_docker_network_ls() -> None:
    rows = [line.split() for line in FRESH.splitlines()]
    rows[0] = ["NETWORK ID", "NAME", "DRIVER", "SCOPE"]
    assert table(rows) == FRESH


def test_table_matches_docker_ps() -> None:
    rows = [
        ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"],
        [
            "5c4ccd8afcb0",
            "httpd:latest",
            '"/bin/busybox httpd …"',
            "Less than a second ago",
            "Up Less than a second",
            "0.0.0.0:8000->80/tcp, :::8000->80/tcp",
            "httpd-sample",
        ],
    ]
    assert table(rows) == PS


def test_columns_are_at_least_ten_wide_and_the_last_is_not_padded() -> None:
    assert table([["A", "B"], ["x", "yy"]]) == "A         B\nx         yy\n"


def test_empty_cells_are_padded_too() -> None:
    assert table([["PORTS", "NAMES"], ["", "web"]]) == "PORTS     NAMES\n          web\n"


def test_tabwriter_blocks_end_where_a_line_has_fewer_cells() -> None:
    # Go's tabwriter sizes a column over consecutive lines that have it
    text = "a\tb\nlonger-than-ten-chars\tc\nno tabs here\nx\ty\n"
    assert tabwrite(text) == (
        "a                       b\nlonger-than-ten-chars   c\nno tabs here\nx         y\n"
    )


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.4, "Less than a second"),
        (1, "1 second"),
        (5, "5 seconds"),
        (59, "59 seconds"),
        (60, "About a minute"),
        (119, "About a minute"),
        (120, "2 minutes"),
        (59 * 60, "59 minutes"),
        (60 * 60, "About an hour"),
        (89 * 60, "About an hour"),
        (90 * 60, "2 hours"),
        (150 * 60, "3 hours"),  # Go rounds a half hour up, Python's round() to even
        (47 * 3600, "47 hours"),
        (48 * 3600, "2 days"),
        (14 * 86400, "2 weeks"),
        (60 * 86400, "2 months"),
        (2 * 365 * 86400, "2 years"),
    ],
)
def test_human_duration_is_go_units(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def test_ago() -> None:
    assert ago(1000.0, now=1005.5) == "5 seconds ago"


@pytest.mark.parametrize(
    ("size", "text"),
    [(0, "0B"), (999, "999B"), (1000, "1kB"), (1234567, "1.23MB"), (4_430_000, "4.43MB")],
)
def test_human_size_is_decimal_with_three_digits(size: int, text: str) -> None:
    assert human_size(size) == text


def test_ids_and_ellipsis() -> None:
    assert short_id("sha256:" + "ab" * 32) == "abababababab"
    assert short_id("f263f513c03cac2659e5") == "f263f513c03c"
    assert ellipsis("/bin/busybox httpd -f -v", 20) == "/bin/busybox httpd …"
    assert ellipsis("sleep 1d", 20) == "sleep 1d"


def test_json_like_go() -> None:
    assert to_json({"a": [1, "<x>&"]}) == '{"a":[1,"\\u003cx\\u003e\\u0026"]}'
    assert to_json([], indent=4) == "[]"
    assert to_json([{"Options": {}}], indent=4) == '[\n    {\n        "Options": {}\n    }\n]'


def test_values_print_like_text_template() -> None:
    assert go_value(True) == "true"
    assert go_value(None) == "<nil>"
    assert go_value({"b": 1, "a": "x"}) == "map[a:x b:1]"
    assert go_value(["x", 2]) == "[x 2]"
    assert go_value(3.0) == "3"
