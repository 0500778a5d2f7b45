"""The event stream (GET /events): what happened to containers, networks and volumes, as Docker
reports it, kept for late subscribers (`since`) and sent to live ones.

Most events are read off the engine's committed state: each snapshot is compared with the one
before it (a container appeared: create; its endpoints came up: network connect; it runs:
start; it stopped running: die, then network disconnect; renamed; gone: destroy; networks
and volumes created and destroyed). Comparing snapshots costs nothing for what did not change
(unchanged objects are the same objects). The rest are said by the API where they happen
(kill with its signal, stop, restart), in Docker's order: kill before die, stop after it.

The comparison runs on the engine's worker thread, inside its commit; the events reach the
loop in commit order through `call_soon_threadsafe`, before the use case's own result does.
Docker keeps the last 256 events for `since`; so does this log.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from hatoba.engine.engine import Engine
from hatoba.engine.state import State
from hatoba.model.container import Container
from hatoba.model.humanize import parse_timestamp
from hatoba.model.network import Network

KEPT = 256
# a subscriber this far behind is dropped (its stream ends) rather than let the queue grow
BACKLOG = 4096

CONTAINER, NETWORK, VOLUME = "container", "network", "volume"


@dataclass(frozen=True)
class Event:
    type: str
    action: str
    actor: str
    attributes: Mapping[str, str]
    time_ns: int
    # container events: the image as the container was created with (Docker's `from`)
    image: str = ""

    def json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {}
        if self.type == CONTAINER:
            # the pre-1.22 fields, which docker-compose 1.29 still reads
            doc = {"status": self.action, "id": self.actor, "from": self.image}
        return {
            **doc,
            "Type": self.type,
            "Action": self.action,
            "Actor": {"ID": self.actor, "Attributes": dict(self.attributes)},
            "scope": "local",
            "time": self.time_ns // 1_000_000_000,
            "timeNano": self.time_ns,
        }


def container_event(action: str, container: Container, time_ns: int, **extra: str) -> Event:
    cfg = container.config
    attributes = {**cfg.labels, "image": cfg.image, "name": container.name, **extra}
    return Event(CONTAINER, action, container.id, attributes, time_ns, cfg.image)


def network_event(action: str, network: Network, time_ns: int, **extra: str) -> Event:
    attributes = {**extra, "name": network.name, "type": network.driver}
    return Event(NETWORK, action, network.id, attributes, time_ns)


def volume_event(action: str, name: str, time_ns: int) -> Event:
    return Event(VOLUME, action, name, {"driver": "local"}, time_ns)


def changes(before: State, after: State, time_ns: int) -> list[Event]:
    """The events that take `before` to `after`, in Docker's order."""
    found = [
        network_event("create", n, time_ns)
        for nid, n in after.networks.items()
        if nid not in before.networks
    ]
    # a container's new volumes are made before it (its create comes after theirs)
    found += [volume_event("create", v, time_ns) for v in after.volumes if v not in before.volumes]
    # the containers the commits between touched, where the snapshots know them: at 1000
    # containers a comparison of every one took ~1 ms of each start
    touched = after.containers_touched_since(before)
    for cid in after.containers if touched is None else touched:
        container = after.containers.get(cid)
        old = before.containers.get(cid)
        if container is not None and old is not container:
            found.extend(_container_changes(old, container, after, time_ns))
    for cid in before.containers if touched is None else touched:
        old = before.containers.get(cid)
        if old is not None and cid not in after.containers:
            found.extend(_endpoint_changes(old, None, before, time_ns))
            found.append(container_event("destroy", old, time_ns))
    found += [
        network_event("destroy", n, time_ns)
        for nid, n in before.networks.items()
        if nid not in after.networks
    ]
    found += [volume_event("destroy", v, time_ns) for v in before.volumes if v not in after.volumes]
    return found


def _container_changes(
    old: Container | None, new: Container, state: State, time_ns: int
) -> Iterator[Event]:
    if old is None:
        yield container_event("create", new, time_ns)
    elif old.name != new.name:
        yield container_event("rename", new, time_ns, oldName="/" + old.name)
    was_running = old is not None and old.state.running
    if new.state.running and not was_running:
        yield from _endpoint_changes(old, new, state, time_ns)
        yield container_event("start", new, time_ns)
        return
    if was_running and not new.state.running:
        yield container_event("die", new, time_ns, exitCode=str(new.state.exit_code))
    yield from _endpoint_changes(old, new, state, time_ns)


def _endpoint_changes(
    old: Container | None, new: Container | None, state: State, time_ns: int
) -> Iterator[Event]:
    """Docker's network connect and disconnect follow live endpoints: made at start and by a
    connect of a running container, gone at exit and by a disconnect."""
    had = {e.network_id for e in old.endpoints} if old is not None else set()
    has = {e.network_id for e in new.endpoints} if new is not None else set()
    container_id = (new or old).id  # type: ignore[union-attr]
    for action, network_ids in (("connect", has - had), ("disconnect", had - has)):
        for nid in sorted(network_ids):
            network = state.networks.get(nid)
            if network is not None:
                yield network_event(action, network, time_ns, container=container_id)


@dataclass
class EventFilter:
    """Docker's events filters: type, event, container, network, image, label, scope."""

    filters: Mapping[str, list[str]] = field(default_factory=dict)

    def __call__(self, event: Event) -> bool:
        f = self.filters
        attrs = event.attributes
        if "type" in f and event.type not in f["type"]:
            return False
        if "event" in f and event.action.split(":", 1)[0] not in f["event"]:
            return False
        if "scope" in f and "local" not in f["scope"]:
            return False
        # a container or network filter keeps only events about such an object, by id
        # prefix or name
        for kind in (CONTAINER, NETWORK):
            if kind in f and not (
                event.type == kind
                and any(event.actor.startswith(v) or attrs.get("name") == v for v in f[kind])
            ):
                return False
        if "image" in f and not (event.type == CONTAINER and attrs.get("image") in f["image"]):
            return False
        for want in f.get("label", ()):
            key, has_value, value = want.partition("=")
            if key not in attrs or (has_value and attrs[key] != value):
                return False
        return True


class EventLog:
    """Recent events and the live subscribers; lives on the API's event loop."""

    def __init__(self) -> None:
        self._recent: deque[Event] = deque(maxlen=KEPT)
        self._subscribers: set[asyncio.Queue[Event | None]] = set()

    def follow(self, engine: Engine, loop: asyncio.AbstractEventLoop) -> None:
        """Turn every commit of the engine into events from now on."""
        last = [engine.state]

        def committed() -> None:  # on the engine's worker thread
            before, last[0] = last[0], engine.state
            found = changes(before, last[0], time.time_ns())
            if found:
                loop.call_soon_threadsafe(self.publish, found)

        engine.on_change(committed)

    @property
    def listeners(self) -> int:
        """How many clients follow the stream now (/info's NEventsListener)."""
        return len(self._subscribers)

    def container(self, action: str, container: Container, **extra: str) -> None:
        """An event the API says itself (kill, stop, restart)."""
        self.publish([container_event(action, container, time.time_ns(), **extra)])

    def publish(self, events: list[Event]) -> None:
        self._recent.extend(events)
        for queue in list(self._subscribers):
            for event in events:
                if queue.qsize() >= BACKLOG:
                    self._subscribers.discard(queue)
                    queue.put_nowait(None)
                    break
                queue.put_nowait(event)

    def stream(
        self, matches: EventFilter, since: str = "", until: str = ""
    ) -> AsyncIterator[bytes]:
        """Events as JSON lines: the kept ones from `since`, then live ones until `until`
        (without `until`, for as long as the client listens). An unreadable `since` or `until`
        is refused here, before the answer's head is sent."""
        now = time.time()
        start = parse_timestamp(since, now) if since else None
        end = parse_timestamp(until, now) if until else None
        return self._stream(matches, start, end)

    async def _stream(
        self, matches: EventFilter, start: float | None, end: float | None
    ) -> AsyncIterator[bytes]:
        queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self._subscribers.add(queue)  # before the kept ones are read: nothing falls between
        try:
            if start is not None or end is not None:
                for event in list(self._recent):
                    if _within(event, start, end) and matches(event):
                        yield _line(event)
            while end is None or time.time() < end:
                timeout = None if end is None else max(end - time.time(), 0)
                try:
                    live = await asyncio.wait_for(queue.get(), timeout)
                except TimeoutError:
                    return
                if live is None:
                    return
                if _within(live, start, end) and matches(live):
                    yield _line(live)
        finally:
            self._subscribers.discard(queue)


def _within(event: Event, start: float | None, end: float | None) -> bool:
    seconds = event.time_ns / 1e9
    return (start is None or seconds >= start) and (end is None or seconds <= end)


def _line(event: Event) -> bytes:
    return json.dumps(event.json()).encode() + b"\n"
