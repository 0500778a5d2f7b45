"""One traced flow: plan its route, arm every hop at once (packet taps, an nftables trace rule
scoped to the flow, the trace group), send a probe or wait for the flow, gather until the flow
is settled, then disarm and assemble the timeline.

The probe goes from inside the source container (or the host); a flow from outside the host
cannot be sent from here, so the trace waits for it. A flow is settled when an answer (or an
error about it) came back to its source, when a rule dropped it (shortly after, so that the
rest of its trace arrives), or at the deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TypeVar

from hatoba.api.ports import DropRecorder, Instruments, Probe, Tap, TraceEvents
from hatoba.drivers import registry as drivers
from hatoba.engine.core import Core, Paths
from hatoba.engine.resolver import records
from hatoba.engine.state import State
from hatoba.errors import HatobaError
from hatoba.model.flows import Flow
from hatoba.observe import assemble
from hatoba.observe.evidence import Conntrack, KernelDrop, RuleHit
from hatoba.observe.plan import OUTSIDE, Route, World, echo_id, plan
from hatoba.observe.timeline import REPLY, Timeline

T = TypeVar("T")
SNAPLEN = 512  # headers are what a trace shows
DECIDED_GRACE = 0.03  # after a drop or an answer: the rest of the flow's events arrive
ANSWER_WAIT = 1.0  # a probe with no answer by then is not getting one


@dataclass(frozen=True)
class TraceRequest:
    source: str
    target: str
    proto: str | None = None
    wait: bool = False  # do not send a probe: wait for the flow to start
    timeout: float = 30.0  # how long to wait for it
    explain: bool = False  # names resolve as the source's DNS would; kernel drop reasons


@dataclass
class Observation:
    """Everything seen of one flow."""

    route: Route
    flow: Flow
    frames: dict[int, list[assemble.Frame]] = field(default_factory=dict)
    hits: list[RuleHit] = field(default_factory=list)
    conntrack: Conntrack | None = None
    drops: list[KernelDrop] = field(default_factory=list)
    probe: Probe | None = None
    started_ns: int = 0  # CLOCK_MONOTONIC when the probe went (or the flow was first seen)
    ended_ns: int = 0
    notes: list[str] = field(default_factory=list)
    texts: dict[tuple[str, str, str, int], str] = field(default_factory=dict)

    def timeline(self) -> Timeline:
        return assemble.timeline(
            self.route, self.flow, self.frames, self.hits, self.conntrack, self.texts, self.notes
        )


async def _off_loop(fn: Callable[..., T], *args: object) -> T:
    return await asyncio.get_running_loop().run_in_executor(None, partial(fn, *args))


def segment_handles(state: State, paths: Paths) -> dict[str, str]:
    """The namespace handle of each network's segment, by segment name."""
    return {
        b.segment: paths.netns(b.segment)
        for n in state.networks.values()
        for b in drivers.of(n).host_bridges(n)
        if b.segment
    }


def world(core: Core, instruments: Instruments) -> World:
    """The facts a plan reads (blocking: asks the kernel for the host's addresses)."""
    state = core.state
    running = [c for c in state.containers.values() if c.state.running]
    return World(
        containers=running,
        networks=state.networks,
        host_addresses=instruments.host_addresses(),
        route_via=instruments.route_via,
        names=records(state, core.cluster.view(), core.cluster.host_id)[0],
        segments=segment_handles(state, core.paths),
    )


async def planned(core: Core, instruments: Instruments, request: TraceRequest) -> Route:
    def work() -> Route:
        return plan(
            world(core, instruments),
            request.source,
            request.target,
            request.proto,
            dns=request.explain,
        )

    return await _off_loop(work)


class _Armed:
    """Taps on every hop, the trace rule and the trace group (and for explain, the kernel's
    drop reasons), open together."""

    def __init__(self) -> None:
        self.taps: list[tuple[int, Tap]] = []
        self.events: TraceEvents | None = None
        self.token: int | None = None
        self.drops: DropRecorder | None = None

    async def arm(
        self, instruments: Instruments, route: Route, flow: Flow, notes: list[str], drops: bool
    ) -> None:
        expression = route.capture_filter()
        for index, hop in enumerate(route.hops):
            try:
                tap = await _off_loop(
                    instruments.open_tap, hop.netns, hop.ifname, expression, SNAPLEN
                )
            except HatobaError as exc:
                notes.append(f"no capture on {hop.label}: {exc.message}")
                continue
            self.taps.append((index, tap))
        try:
            self.events = await _off_loop(instruments.trace_listener)
            self.token = await _off_loop(instruments.trace, flow)
        except HatobaError as exc:
            notes.append(f"nftables tracing is not available: {exc.message}")
        if drops:
            try:
                self.drops = await _off_loop(instruments.drop_watch)
            except HatobaError as exc:
                notes.append(f"kernel drop reasons are not available: {exc.message}")

    def dropped(self, seen: Observation) -> list[KernelDrop]:
        """The drops of the probe: on its sending thread (or in an interrupt), meanwhile."""
        if self.drops is None or seen.probe is None:
            return []
        sender = seen.probe.sender
        return [
            d
            for d in self.drops.drops()
            if d.task in (sender, 0) and seen.started_ns - 10**6 <= d.time_ns <= seen.ended_ns
        ]

    async def disarm(self, instruments: Instruments) -> None:
        if self.drops is not None:
            await _off_loop(self.drops.close)
        if self.token is not None:
            with contextlib.suppress(HatobaError):
                await _off_loop(instruments.untrace, self.token)
        for _, tap in self.taps:
            tap.close()
        if self.events is not None:
            self.events.close()


async def observe(
    instruments: Instruments,
    route: Route,
    request: TraceRequest,
    progress: Callable[[str], Awaitable[None]],
) -> Observation:
    """Trace one flow along `route` (probe or wait) and return what was seen."""
    notes: list[str] = []
    probe = None
    if request.wait or route.source.kind == OUTSIDE:
        flow = route.flow()
    else:
        probe = await _off_loop(
            instruments.prepare_probe,
            route.source.netns,
            route.proto,
            route.target.address,
            route.port,
            echo_id(),
        )
        flow = probe.flow if probe.flow.src else route.flow(probe.flow.sport)
    seen = Observation(route, flow, probe=probe, notes=notes)
    armed = _Armed()
    try:
        await armed.arm(instruments, route, flow, notes, request.explain)
        await _gather(instruments, armed, seen, request, progress)
        seen.drops = await _off_loop(armed.dropped, seen)
        if seen.flow.src is not None:  # before the probe's socket closes and resets it
            with contextlib.suppress(HatobaError):
                seen.conntrack = await _off_loop(instruments.conntrack, seen.flow)
    finally:
        await armed.disarm(instruments)
        if probe is not None:
            probe.close()
    seen.texts = await _off_loop(_rule_texts, instruments, seen.hits)
    return seen


async def _gather(
    instruments: Instruments,
    armed: _Armed,
    seen: Observation,
    request: TraceRequest,
    progress: Callable[[str], Awaitable[None]],
) -> None:
    loop = asyncio.get_running_loop()
    wake = asyncio.Event()
    fds = [tap.fileno() for _, tap in armed.taps]
    if armed.events is not None:
        fds.append(armed.events.fileno())
    for fd in fds:
        loop.add_reader(fd, wake.set)
    try:
        if seen.probe is not None:
            probe = seen.probe
            seen.started_ns = time.monotonic_ns()
            await _off_loop(probe.send)
            if probe.error:
                return
            deadline = time.monotonic() + ANSWER_WAIT
        else:
            await progress(f"waiting for {seen.flow.describe()} (at most {request.timeout:g} s)")
            deadline = time.monotonic() + request.timeout
        decided_at: float | None = None
        while True:
            _read(armed, seen)
            if not seen.started_ns and _first_packet(seen):
                seen.started_ns = time.monotonic_ns()
                deadline = time.monotonic() + ANSWER_WAIT
            if decided_at is None and _decided(seen):
                decided_at = time.monotonic()
                deadline = min(deadline, decided_at + DECIDED_GRACE)
            left = deadline - time.monotonic()
            if left <= 0:
                break
            wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), left)
        if not seen.started_ns:
            seen.notes.append(f"no packet of the flow came within {request.timeout:g} s")
    finally:
        seen.ended_ns = time.monotonic_ns()
        for fd in fds:
            loop.remove_reader(fd)


def _read(armed: _Armed, seen: Observation) -> None:
    for index, tap in armed.taps:
        try:
            frames = tap.read()
        except HatobaError:
            continue
        seen.frames.setdefault(index, []).extend(frames)
    if armed.events is not None:
        seen.hits += armed.events.read()


def _first_packet(seen: Observation) -> bool:
    """Waiting for a flow: its first packet came (and tells its source port)."""
    forward = assemble.views(seen.route, seen.flow, None)
    found = assemble.belonging(seen.frames, seen.flow.proto, forward)
    if not found:
        return False
    first = found[0].ends
    seen.flow = Flow(seen.flow.proto, first[0], first[2], first[1], first[3])
    return True


def _decided(seen: Observation) -> bool:
    """An answer or an error came back to the source, or a rule dropped the flow."""
    forward = assemble.views(seen.route, seen.flow, None)
    if any(h.verdict == "drop" for h in assemble.flow_hits(seen.hits, forward)):
        return True
    found = assemble.belonging(seen.frames, seen.flow.proto, forward)
    return any(s.direction == REPLY and s.hop == 0 for s in found)  # hop 0: the source's side


def _rule_texts(
    instruments: Instruments, hits: Sequence[RuleHit]
) -> dict[tuple[str, str, str, int], str]:
    texts: dict[tuple[str, str, str, int], str] = {}
    for family, table, chain in {(h.family, h.table, h.chain) for h in hits if h.handle}:
        for handle, text in instruments.rule_texts(family, table, chain).items():
            texts[(family, table, chain, handle)] = text
    return texts
