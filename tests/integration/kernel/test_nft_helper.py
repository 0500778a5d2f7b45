"""The nftables helper process (kernel/nft_helper.py): namespace routing, low descriptors,
a dead or hung helper turned into KernelError and replaced."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.descriptors import holding_descriptors
from fixtures.processes import wait_gone
from hatoba.errors import KernelError
from hatoba.kernel.nft_helper import NftHelper, spawn_interpreter
from hatoba.testing.sandbox import Sandbox

pytestmark = pytest.mark.root

PROBE = "hatoba-probe"


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    with Sandbox() as sandbox:
        yield sandbox


@pytest.fixture
def helper() -> Iterator[NftHelper]:
    nft = NftHelper()
    try:
        yield nft
    finally:
        nft.close()


def tables(sb: Sandbox, ns: Path) -> list[str]:
    listing = json.loads(sb.sh(["nft", "-j", "list", "tables"], ns=ns).stdout)
    return [item["table"]["name"] for item in listing["nftables"] if "table" in item]


class Fakes:
    """Stand-ins for the helper, started by `spawn` in turn; then the real one."""

    def __init__(self, *scripts: str) -> None:
        self._scripts = list(scripts)
        self.started: list[subprocess.Popen[bytes]] = []

    def spawn(self, channel: socket.socket) -> int:
        if not self._scripts:
            return spawn_interpreter(channel)
        fd = channel.fileno()
        script = f"import socket, time\nsock = socket.socket(fileno={fd})\n{self._scripts.pop(0)}"
        fake = subprocess.Popen([sys.executable, "-c", script], pass_fds=[fd])
        self.started.append(fake)
        return fake.pid

    def close(self) -> None:
        for fake in self.started:
            with contextlib.suppress(ProcessLookupError):
                fake.kill()
            fake.wait()


def test_a_table_made_through_the_helper_is_in_that_namespace_only(
    sb: Sandbox, helper: NftHelper
) -> None:
    other = sb._new_ns("other")
    with helper.namespace(str(sb.host)) as host, helper.namespace(str(other)) as nft:
        host.run(f"add table ip {PROBE}")
        nft.run(f"add table inet {PROBE}-other")
        listed = host.run_json({"nftables": [{"list": {"tables": None}}]})["nftables"]
        # back home after each command: in a container's namespace, it would keep it alive
        assert os.stat(f"/proc/{helper.pid}/ns/net").st_ino == os.stat("/proc/self/ns/net").st_ino
    assert [i["table"]["name"] for i in listed if "table" in i] == [PROBE]
    assert tables(sb, sb.host) == [PROBE]
    assert tables(sb, other) == [f"{PROBE}-other"]
    machine = subprocess.run(["nft", "-j", "list", "tables"], capture_output=True, text=True)
    assert PROBE not in machine.stdout


def test_the_helper_keeps_low_descriptors_whatever_its_caller_holds(
    sb: Sandbox, helper: NftHelper
) -> None:
    with holding_descriptors(3000), helper.namespace(str(sb.host)) as nft:
        nft.run(f"add table ip {PROBE}")
        assert helper.pid is not None
        assert max(map(int, os.listdir(f"/proc/{helper.pid}/fd"))) < 16
    assert tables(sb, sb.host) == [PROBE]


def test_large_commands_and_listings_cross_in_one_piece(sb: Sandbox, helper: NftHelper) -> None:
    elements = ", ".join(str(port) for port in range(1, 30_001))
    with helper.namespace(str(sb.host)) as nft:
        nft.run(f"add table ip {PROBE}; add set ip {PROBE} ports {{ type inet_service; }}")
        nft.run(f"add element ip {PROBE} ports {{ {elements} }}")
        listed = nft.run_json({"nftables": [{"list": {"table": {"family": "ip", "name": PROBE}}}]})
    (ports,) = (item["set"] for item in listed["nftables"] if "set" in item)
    assert len(ports["elem"]) == 30_000


def test_nftables_errors_are_kernel_errors_and_keep_the_helper(
    sb: Sandbox, helper: NftHelper
) -> None:
    with helper.namespace(str(sb.host)) as nft:
        nft.run(f"add table ip {PROBE}")
        pid = helper.pid
        with pytest.raises(KernelError, match="nftables: .*No such file or directory"):
            nft.run("list table ip nothing-here")
        nft.run(f"delete table ip {PROBE}")
    assert helper.pid == pid
    assert tables(sb, sb.host) == []
    with pytest.raises(KernelError, match="no-such-namespace"):
        helper.namespace(str(sb.dir / "no-such-namespace")).run("list tables")


def test_a_sent_command_is_answered_later_and_holds_the_helper_till_then(
    sb: Sandbox, helper: NftHelper
) -> None:
    listed: list[str] = []
    with helper.namespace(str(sb.host)) as nft:
        sent = nft.send(f"add table ip {PROBE}")  # the first command opens the context too
        other = threading.Thread(target=lambda: listed.append(nft.run("list tables")))
        other.start()
        other.join(0.2)
        assert other.is_alive() and not listed  # waits for the answer to be read
        assert sent.answer() == ""
        other.join(10)
        assert PROBE in listed[0]
        with pytest.raises(RuntimeError, match="read already"):
            sent.answer()
        failing = nft.send("list table ip nothing-here")
        with pytest.raises(KernelError, match="No such file or directory"):
            failing.answer()
        nft.run(f"delete table ip {PROBE}")
    assert tables(sb, sb.host) == []


def test_a_helper_killed_while_idle_is_replaced_before_the_next_command(
    sb: Sandbox, helper: NftHelper
) -> None:
    with helper.namespace(str(sb.host)) as nft:
        nft.run(f"add table ip {PROBE}")
        first = helper.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        wait_gone(first, 5)
        nft.run(f"add chain ip {PROBE} probe")  # the context reopens in the new helper
        assert helper.pid not in (None, first)
    assert helper.pids == {first, helper.pid}
    listing = sb.sh(["nft", "list", "table", "ip", PROBE]).stdout
    assert "chain probe" in listing


FORKED_HELPER = """
import json, os, signal, sys, time
from hatoba.runtime.forkserver import ForkServer

def gone(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1].startswith("Z")
    except (FileNotFoundError, ProcessLookupError):
        return True

forkserver = ForkServer.start()
try:
    with forkserver.nft.namespace("/proc/self/ns/net") as nft:
        nft.run("add table ip %(table)s")
        first = forkserver.nft.pid
        os.kill(first, signal.SIGKILL)
        while not gone(first):
            time.sleep(0.01)
        nft.run("add chain ip %(table)s probe")
        second = forkserver.nft.pid
        with open(f"/proc/{second}/stat") as f:
            parent = int(f.read().split(") ", 1)[1].split()[1])
    out = {"first": first, "second": second, "parent": parent, "forkserver": forkserver.pid}
    json.dump(out, sys.stdout)
finally:
    forkserver.close()
"""


def test_the_fork_server_forks_the_helper_and_again_after_it_died(sb: Sandbox) -> None:
    script = FORKED_HELPER % {"table": PROBE}
    out = json.loads(sb.sh([sys.executable, "-c", script]).stdout)
    assert out["second"] != out["first"]
    assert out["parent"] == out["forkserver"]
    assert "chain probe" in sb.sh(["nft", "list", "table", "ip", PROBE]).stdout


def test_a_helper_that_dies_during_a_command_is_a_kernel_error_then_replaced(
    sb: Sandbox,
) -> None:
    fakes = Fakes("sock.recv(1)")  # takes the request, then exits without an answer
    helper = NftHelper(fakes.spawn)
    try:
        nft = helper.namespace(str(sb.host))
        with pytest.raises(KernelError, match="helper process .* died"):
            nft.run(f"add table ip {PROBE}")
        assert helper.pid is None
        nft.run(f"add table ip {PROBE}")
        assert helper.pid is not None and helper.pid != fakes.started[0].pid
    finally:
        helper.close()
        fakes.close()
    assert tables(sb, sb.host) == [PROBE]


def test_a_helper_that_does_not_answer_is_killed_after_the_timeout(sb: Sandbox) -> None:
    fakes = Fakes("sock.recv(1)\ntime.sleep(600)")
    helper = NftHelper(fakes.spawn, timeout=0.5)
    try:
        nft = helper.namespace(str(sb.host))
        with pytest.raises(KernelError, match="did not answer"):
            nft.run(f"add table ip {PROBE}")
        with pytest.raises(ProcessLookupError):  # killed and reaped
            os.kill(fakes.started[0].pid, 0)
        nft.run(f"add table ip {PROBE}")
    finally:
        helper.close()
        fakes.close()
    assert tables(sb, sb.host) == [PROBE]


def test_a_closed_helper_refuses_work_and_is_gone(sb: Sandbox) -> None:
    helper = NftHelper()
    nft = helper.namespace(str(sb.host))
    nft.run("list tables")
    pid = helper.pid
    assert pid is not None
    helper.close()
    with pytest.raises(KernelError, match="closed"):
        nft.run("list tables")
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
