"""`make demo` keeps working: the seed walkthrough runs to the end and shows what the seed shows."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.root


def test_demo_walks_the_seed() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hatoba.demo"], capture_output=True, text=True, timeout=300
    )
    out = result.stdout
    assert result.returncode == 0, out[-3000:] + result.stderr[-3000:]
    for expected in (
        "NETWORK ID     NAME      DRIVER    SCOPE",
        "HWaddr 02:42:AC:11:00:02",  # the seed's alpine-sample1 on the default bridge
        "inet addr:172.17.0.2",
        "IP 172.17.0.2 > 172.17.0.3: ICMP echo request",
        "ping: bad address 'alpine-sample2'",  # no names on the default bridge
        "IP 203.0.113.1 > 198.51.100.10: ICMP echo request",  # masqueraded on eth0
        "^ masquerade 172.17.0.2 → 203.0.113.1",  # where the trace saw it happen
        'comment "OUTBOUND NAT"',
        "80/tcp -> 0.0.0.0:8000",
        "^ DNAT 203.0.113.1:8000 → 172.17.0.4:80",  # the client's flow, traced from outside
        "It works!",
        "[::ffff:203.0.113.150]",  # httpd saw the real client
        "inet addr:172.18.0.2",
        "64 bytes from 172.18.0.3",  # by name on the user-defined bridge
        "nameserver 127.0.0.11",
        "SERVER: 127.0.0.11#53(127.0.0.11)",
        "Address: 203.0.113.80",  # forwarded to the simulated resolver
        "Dropped by hatoba: isolation between networks other and sample.",
        "Refused: nothing listens on 8080/tcp in alpine-sample2.",
        'only one instance of "host" network is allowed',
        "The sandbox is gone",
    ):
        assert expected in out, f"missing from the demo's output: {expected}"
