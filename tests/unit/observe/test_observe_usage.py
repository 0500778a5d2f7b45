"""`top`'s reading of ps output, as Docker's parsePSOutput reads it, and the ps arguments it
lets through."""

from __future__ import annotations

import pytest

from hatoba.errors import InvalidArgument
from hatoba.observe.usage import ps_argv, ps_table

PS_EF = """\
UID          PID    PPID  C STIME TTY          TIME CMD
root           1       0  0 09:00 ?        00:00:01 /sbin/init
root         200     150  0 09:01 ?        00:00:00 sh -c sleep 1d & sleep 2d
root         201     200  0 09:01 ?        00:00:00 sleep 1d
root         300       1  0 09:02 ?        00:00:00 other
"""


def test_only_the_container_s_processes_with_their_whole_command_lines() -> None:
    titles, rows = ps_table(PS_EF, [200, 201])
    assert titles == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    assert rows == [
        ["root", "200", "150", "0", "09:01", "?", "00:00:00", "sh -c sleep 1d & sleep 2d"],
        ["root", "201", "200", "0", "09:01", "?", "00:00:00", "sleep 1d"],
    ]


def test_thread_lines_follow_their_process() -> None:
    output = "PID TID CMD\n200 - sh\n- 200 -\n300 - other\n- 300 -\n"
    assert ps_table(output, [200])[1] == [["200", "-", "sh"], ["-", "200", "-"]]


def test_output_docker_would_refuse() -> None:
    with pytest.raises(InvalidArgument, match="Couldn't find PID field in ps output"):
        ps_table("UID CMD\nroot init\n", [1])
    with pytest.raises(InvalidArgument, match="Unexpected pid 'x'"):
        ps_table("PID CMD\nx init\n", [1])


def test_ps_arguments() -> None:
    assert ps_argv("") == ["-ef"]
    assert ps_argv("aux") == ["aux"]
    assert ps_argv("-o pid=PID,comm") == ["-o", "pid=PID,comm"]
    with pytest.raises(InvalidArgument, match='specifying "uid=PID" is not allowed'):
        ps_argv("-o uid=PID")
