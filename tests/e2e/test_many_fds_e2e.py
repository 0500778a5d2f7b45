"""The service with more than 5,000 descriptors open (issue 8, point 2), through the CLI.

libnftables 1.0.6 select()s on its netlink socket, and glibc aborts a process whose select()
is given a descriptor ≥ FD_SETSIZE (1024): the service used to die at the first nftables call
made once it held ~1,000 descriptors. Here the descriptors come from what users do: a range of
published ports (one socket each), containers with the embedded DNS (sockets in their
namespaces) and idle connections held open on the API socket.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.dns_tools import parse_dig
from hatoba.testing import Sandbox

pytestmark = pytest.mark.root

FDS_IN_USE = 5_000
PORTS = "20000-24999"  # 5,000 host ports, each held by a socket of the service
IDLE_CONNECTIONS = 400


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    with Sandbox() as sandbox:
        yield sandbox


@contextlib.contextmanager
def idle_connections(path: Path, count: int) -> Iterator[None]:
    """`count` connections to the API socket that never send a request."""
    held: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            held.append(sock)
            sock.connect(str(path))
        yield
    finally:
        for sock in held:
            sock.close()


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def run(sb: Sandbox, name: str, *options: str) -> None:
    sb.hatoba("run", "-d", "--name", name, *options, "hostfs", "sleep", "infinity")


def resolve(sb: Sandbox, container: str, name: str) -> list[str]:
    out = sb.hatoba("exec", container, "dig", "+time=2", "+tries=1", name, check=False).stdout
    reply = parse_dig(out)
    return reply.addresses if reply.status == "NOERROR" else [reply.status]


def address(sb: Sandbox, container: str, network: str) -> str:
    info = json.loads(sb.hatoba("inspect", container).stdout)[0]
    return str(info["NetworkSettings"]["Networks"][network]["IPAddress"])


def test_every_operation_works_with_5000_descriptors_in_use(sb: Sandbox) -> None:
    sb.hatoba("network", "create", "busy")
    service = sb.service_pid()
    assert service is not None
    run(sb, "ports", "-p", f"{PORTS}:{PORTS}")
    run(sb, "early", "--net", "busy")
    with idle_connections(sb.run_root / "hatoba.sock", IDLE_CONNECTIONS):
        sb.hatoba("version")  # answered after the service accepted the connections before it
        assert open_fds(service) > FDS_IN_USE

        run(sb, "late", "--net", "busy")  # embedded DNS: a NAT table in its namespace
        sb.hatoba("network", "create", "other")  # a host firewall transaction
        sb.hatoba("network", "connect", "other", "late")
        assert resolve(sb, "late", "early") == [address(sb, "early", "busy")]
        assert resolve(sb, "early", "late") == [address(sb, "late", "busy")]
        sb.hatoba("network", "disconnect", "other", "late")
        sb.hatoba("rm", "-f", "early", "ports")  # DNS detach, ports released
        sb.hatoba("network", "rm", "other")

        assert sb.hatoba("ps", "-a", "--format", "{{.Names}}").stdout.split() == ["late"]
        assert sb.service_pid() == service
        os.kill(service, 0)  # still alive: nothing above restarted it
