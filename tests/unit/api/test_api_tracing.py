"""One traced flow with fake instruments: what is armed and disarmed, when the flow counts as
settled, and that a missing kernel facility becomes a note instead of a failure."""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field

import pytest

from fixtures.frames import echo
from fixtures.observe_world import world
from hatoba.api.tracing import ANSWER_WAIT, TraceRequest, observe
from hatoba.errors import KernelError
from hatoba.model.flows import Flow
from hatoba.observe.evidence import Conntrack, Endpoints, KernelDrop, RuleHit
from hatoba.observe.plan import plan

C1, C2 = "172.17.0.2", "172.17.0.3"


@dataclass(frozen=True)
class Frame:
    timestamp_ns: int
    data: bytes
    outgoing: bool = False

    @property
    def length(self) -> int:
        return len(self.data)


class Readable:
    """A descriptor that is readable while something waits to be read."""

    def __init__(self, items: list[object]) -> None:
        self._out, self._in = os.pipe()
        self.items = items
        if items:
            os.write(self._in, b"x")
        self.closed = False

    def fileno(self) -> int:
        return self._out

    def take(self) -> list[object]:
        items, self.items = self.items, []
        if items:
            os.read(self._out, 1)
        return items

    def close(self) -> None:
        os.close(self._out)
        os.close(self._in)
        self.closed = True


class Tap(Readable):
    ifname = "eth0"
    snaplen = 512
    started_ns = 0

    def read(self, limit: int = 256) -> list[Frame]:
        return self.take()  # type: ignore[return-value]


class Events(Readable):
    def read(self) -> list[RuleHit]:
        return self.take()  # type: ignore[return-value]


@dataclass
class Probe:
    flow: Flow
    error: str = ""
    sender: int = 7
    sent: bool = False
    sent_at: int = 0
    closed: bool = False

    def send(self) -> None:
        self.sent = True
        self.sent_at = time.monotonic_ns()

    def close(self) -> None:
        self.closed = True


class Drops:
    """Drops the kernel reports as the probe goes out."""

    def __init__(self, found: list[KernelDrop], probes: list[Probe]) -> None:
        self.found = found
        self.probes = probes
        self.closed = False

    def drops(self) -> list[KernelDrop]:
        when = self.probes[0].sent_at
        return [KernelDrop(when, d.reason, d.location, d.task) for d in self.found]

    def close(self) -> None:
        self.closed = True


@dataclass
class Instruments:
    """Each hop's tap holds the frames given for it; tracing and drop reasons can fail."""

    frames: dict[str, list[Frame]]
    hits: list[RuleHit] = field(default_factory=list)
    drops: list[KernelDrop] = field(default_factory=list)
    no_nftrace: bool = False
    no_tracefs: bool = False
    taps: list[Tap] = field(default_factory=list)
    traced: list[int] = field(default_factory=list)
    probes: list[Probe] = field(default_factory=list)
    recorders: list[Drops] = field(default_factory=list)

    def open_tap(self, netns: str | None, ifname: str, expression: str, snaplen: int) -> Tap:
        key = f"{ifname}@{netns or 'host'}"
        tap = Tap(list(self.frames.get(key, [])))
        self.taps.append(tap)
        return tap

    def host_addresses(self) -> dict[str, list[str]]:
        return {"eth0": ["203.0.113.1"]}

    def route_via(self, address: str) -> str | None:
        return "eth0"

    def trace(self, flow: Flow) -> int:
        if self.no_nftrace:
            raise KernelError("the kernel has no nf_tables tracing")
        self.traced.append(1)
        return 1

    def untrace(self, token: int) -> None:
        self.traced.remove(token)

    def trace_listener(self) -> Events:
        return Events(list(self.hits))

    def rule_texts(self, family: str, table: str, chain: str) -> dict[int, str]:
        return {12: "a rule"}

    def conntrack(self, flow: Flow) -> Conntrack | None:
        ends = Endpoints(C1, 5, C2, 5)
        return Conntrack("icmp", ends, Endpoints(C2, 5, C1, 5))

    def prepare_probe(
        self, netns: str | None, proto: str, dst: str, dport: int | None, echo_id: int
    ) -> Probe:
        probe = Probe(Flow("icmp", C1, dst, 5, 5))
        self.probes.append(probe)
        return probe

    def drop_watch(self) -> Drops:
        if self.no_tracefs:
            raise KernelError("the kernel has no tracefs here")
        recorder = Drops(self.drops, self.probes)
        self.recorders.append(recorder)
        return recorder


async def _nothing(_text: str) -> None:
    return None


def _run(tools: Instruments, explain: bool = False) -> tuple[object, float]:
    route = plan(world(), "c1", "c2")
    request = TraceRequest("c1", "c2", explain=explain)

    async def go() -> tuple[object, float]:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        seen = await observe(tools, route, request, _nothing)  # type: ignore[arg-type]
        return seen, loop.time() - t0

    return asyncio.run(go())


def test_an_answer_settles_the_flow_and_everything_is_disarmed() -> None:
    request, reply = echo(C1, C2, 5, 0), echo(C2, C1, 5, 0, reply=True)
    tools = Instruments(
        {"eth0@/run/hatoba/netns/c1": [Frame(1, request), Frame(9, reply)]},
        drops=[KernelDrop(0, "NO_SOCKET", "ping_rcv", 7), KernelDrop(0, "QDISC_DROP", "x", 99)],
    )
    seen, took = _run(tools, explain=True)
    assert took < ANSWER_WAIT  # settled by the answer, not by the deadline
    assert tools.probes[0].sent and tools.probes[0].closed
    assert all(tap.closed for tap in tools.taps) and len(tools.taps) == 5
    assert tools.traced == []  # the trace rule is gone
    assert tools.recorders[0].closed
    assert [d.task for d in seen.drops] == [7]  # the probe's own thread only
    assert seen.conntrack is not None
    assert seen.timeline().notes == ()


def test_missing_facilities_are_notes_not_failures() -> None:
    request = echo(C1, C2, 5, 0)
    tools = Instruments(
        {"eth0@/run/hatoba/netns/c1": [Frame(1, request)]}, no_nftrace=True, no_tracefs=True
    )
    seen, took = _run(tools, explain=True)
    assert took >= ANSWER_WAIT  # no answer: the deadline ends it
    assert seen.timeline().notes == (
        "nftables tracing is not available: the kernel has no nf_tables tracing",
        "kernel drop reasons are not available: the kernel has no tracefs here",
    )


def test_a_drop_by_a_rule_settles_the_flow() -> None:
    request = echo(C1, C2, 5, 0)
    hit = RuleHit(3, "inet", "hatoba", "forward", "rule", "drop", 12, header=request[14:])
    tools = Instruments({"eth0@/run/hatoba/netns/c1": [Frame(1, request)]}, hits=[hit])
    seen, took = _run(tools)
    assert took < ANSWER_WAIT
    assert seen.timeline().rules[0].rule == "a rule"


@pytest.mark.parametrize("error", ["Network is unreachable"])
def test_a_probe_that_cannot_be_sent_ends_at_once(error: str) -> None:
    tools = Instruments({})

    def failing(*args: object) -> Probe:
        probe = Probe(Flow("icmp", None, C2, 5, 5), error=error)
        tools.probes.append(probe)
        return probe

    tools.prepare_probe = failing  # type: ignore[method-assign]
    seen, took = _run(tools)
    assert took < ANSWER_WAIT
    assert seen.probe is not None and seen.probe.error == error
