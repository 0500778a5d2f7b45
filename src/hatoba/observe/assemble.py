"""Observations of one flow → its Timeline: which captured packets belong to the flow, in
what order they crossed the hops, where its addresses changed, which rules it met.

A packet belongs to the flow when its addresses and ports are the flow's as sent, or as NAT
made them (the conntrack entry's reply tuple, or the published port it was sent to), in
either direction; an ICMP error belongs when the datagram it quotes does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from hatoba.firewall.tracing import is_trace_chain
from hatoba.model.flows import Flow
from hatoba.observe.evidence import Conntrack, RuleHit
from hatoba.observe.lines import LineFormatter
from hatoba.observe.packets import ICMP, Packet, parse
from hatoba.observe.plan import OUTSIDE, Route
from hatoba.observe.timeline import FORWARD, REPLY, RuleMet, Sighting, Timeline

Ends = tuple[str, int, str, int]  # src, sport, dst, dport


class Frame(Protocol):
    @property
    def timestamp_ns(self) -> int: ...
    @property
    def data(self) -> bytes: ...
    @property
    def length(self) -> int: ...


@dataclass(frozen=True)
class Seen:
    """A packet of the flow at a hop."""

    time_ns: int
    hop: int  # index in the route's hops
    direction: str
    ends: Ends  # as seen there
    packet: Packet
    length: int
    number: int = 0  # the same packet has the same number at every hop

    @property
    def step(self) -> int:
        """Its place along the path in its direction (replies cross the hops backwards)."""
        return self.hop if self.direction == FORWARD else -self.hop


def views(route: Route, flow: Flow, conntrack: Conntrack | None) -> set[Ends]:
    """The flow's forward direction as it may look at any hop (before and after NAT)."""
    sport = flow.sport if flow.sport is not None else -1
    dport = flow.dport if flow.dport is not None else sport
    src = flow.src or ""
    found = {(src, sport, flow.dst, dport)}
    if route.backend is not None and route.published is not None:
        port = route.published.container_port if flow.proto != "icmp" else dport
        found.add((src, sport, route.backend.address, port))
    if conntrack is not None:
        o, r = conntrack.original, conntrack.reply
        found.add((o.src, o.sport, o.dst, o.dport))
        found.add((r.dst, r.dport, r.src, r.sport))
    return found


def _ends(packet: Packet) -> Ends:
    _proto, src, sport, dst, dport = packet.tuple()
    return src, sport, dst, dport


def _reverse(ends: Ends) -> Ends:
    src, sport, dst, dport = ends
    return dst, dport, src, sport


def _matches(ends: Ends, forward: set[Ends]) -> bool:
    """`ends` is a forward view; an unknown source (-1 port, "" address) matches any."""
    for src, sport, dst, dport in forward:
        if (dst, dport) == ends[2:] and src in ("", ends[0]) and sport in (-1, ends[1]):
            return True
    return False


def belonging(frames: Mapping[int, Sequence[Frame]], proto: str, forward: set[Ends]) -> list[Seen]:
    """The captured packets that are the flow's, in the order they crossed the hops."""
    seen = []
    for hop, captured in frames.items():
        for frame in captured:
            packet = parse(frame.data, frame.length)
            if packet.proto_name != proto and packet.proto != ICMP:
                continue
            ends = _ends(packet)
            if packet.proto_name == proto and _matches(ends, forward):
                direction = FORWARD
            elif packet.proto_name == proto and _matches(_reverse(ends), forward):
                direction = REPLY
            elif packet.inner is not None and _matches(_ends(packet.inner), forward):
                direction = REPLY  # an ICMP error about the flow
            else:
                continue
            seen.append(Seen(frame.timestamp_ns, hop, direction, ends, packet, frame.length))
    return _in_path_order(seen)


def _identity(s: Seen) -> tuple[object, ...]:
    """What NAT leaves alone: direction, IP id, and the transport's own numbers."""
    data, at, l4 = s.packet.data, s.packet.l3, s.packet.l4
    ip_id = data[at + 4 : at + 6]
    if s.packet.proto_name == "tcp":
        return (s.direction, ip_id, data[l4 + 4 : l4 + 14])  # seq, ack, offset, flags
    if s.packet.proto_name == "udp":
        return (s.direction, ip_id, data[l4 + 4 : l4 + 6])  # length (ports and sum change)
    return (s.direction, ip_id, data[l4 : l4 + 2], data[l4 + 6 : l4 + 8])  # ICMP type, seq


def _in_path_order(seen: list[Seen]) -> list[Seen]:
    """Each packet at every hop it crossed, in path order, packets in the order they left.

    Taps in different namespaces do not stamp a packet on one clock (a veth stamps it when
    its backlog runs), so time orders the packets only where each entered the path: at its
    first hop. The same packet is known at every hop by what NAT does not change.
    """
    packets: list[list[Seen]] = []
    open_packets: dict[tuple[object, ...], list[Seen]] = {}
    for s in sorted(seen, key=lambda s: (s.step, s.time_ns)):
        key = _identity(s)
        group = open_packets.get(key)
        if group is None or any(o.hop == s.hop for o in group):  # a retransmission
            group = []
            packets.append(group)
            open_packets[key] = group
        group.append(s)
    packets.sort(key=lambda group: group[0].time_ns)
    return [
        Seen(s.time_ns, s.hop, s.direction, s.ends, s.packet, s.length, number)
        for number, group in enumerate(packets)
        for s in group
    ]


def _endpoint(address: str, port: int, proto: str) -> str:
    return address if proto == "icmp" or port < 0 else f"{address}:{port}"


def _translation(before: Ends, after: Ends, direction: str, proto: str) -> str:
    notes = []
    if before[2:] != after[2:]:
        old, new = _endpoint(*before[2:], proto), _endpoint(*after[2:], proto)
        notes.append(f"{'DNAT' if direction == FORWARD else 'reply to'} {old} → {new}")
    if before[:2] != after[:2]:
        old, new = _endpoint(*before[:2], proto), _endpoint(*after[:2], proto)
        kind = "masquerade" if direction == FORWARD else "reply from"
        notes.append(f"{kind} {old} → {new}")
    return ", ".join(notes)


def timeline(
    route: Route,
    flow: Flow,
    frames: Mapping[int, Sequence[Frame]],
    hits: Sequence[RuleHit] = (),
    conntrack: Conntrack | None = None,
    rule_texts: Mapping[tuple[str, str, str, int], str] | None = None,
    notes: Sequence[str] = (),
) -> Timeline:
    forward = views(route, flow, conntrack)
    seen = belonging(frames, flow.proto, forward)
    formatter = LineFormatter()
    start = seen[0].time_ns if seen else 0
    sightings = []
    previous: Seen | None = None
    for s in seen:
        hop = route.hops[s.hop]
        note = ""
        if previous is not None and previous.number == s.number and previous.ends != s.ends:
            note = _translation(previous.ends, s.ends, s.direction, flow.proto)
        previous = s
        sightings.append(
            Sighting(
                packet=s.number,
                offset_ns=s.time_ns - start,
                hop=hop.label,
                what=hop.what,
                direction=s.direction,
                src=_endpoint(s.ends[0], s.ends[1], flow.proto),
                dst=_endpoint(s.ends[2], s.ends[3], flow.proto),
                line=formatter.line(s.packet.data, s.length),
                note=note,
            )
        )
    return Timeline(
        title=_title(flow),
        route=describe(route),
        hops=tuple(h.label for h in route.hops),
        sightings=tuple(sightings),
        rules=rules_met(flow_hits(hits, forward), rule_texts or {}),
        conntrack=_conntrack_text(conntrack),
        notes=tuple(notes),
    )


def flow_hits(hits: Iterable[RuleHit], forward: set[Ends]) -> list[RuleHit]:
    """The events of the packets that are the flow's (the kernel copies the headers into the
    first event of each hook; the others share its packet id)."""
    hits = list(hits)
    ours = set()
    for hit in hits:
        if hit.header:
            packet = hit.packet
            ends = _ends(packet)
            if _matches(ends, forward) or _matches(_reverse(ends), forward):
                ours.add(hit.packet_id)
    return [h for h in hits if h.packet_id in ours]


def rules_met(
    hits: Iterable[RuleHit], texts: Mapping[tuple[str, str, str, int], str]
) -> tuple[RuleMet, ...]:
    found: list[RuleMet] = []
    for hit in hits:
        if is_trace_chain(hit.family, hit.table, hit.chain):
            continue  # our own `meta nftrace set 1`
        if hit.kind == "rule" and hit.handle is None:
            continue  # the end of a chain: its policy or return follows
        verdict = hit.verdict
        if hit.target:
            verdict += f" {hit.target}"
        if hit.kind == "policy":
            verdict = f"policy {verdict}"
        text = ""
        if hit.handle is not None:
            text = texts.get((hit.family, hit.table, hit.chain, hit.handle), "")
        met = RuleMet(hit.where, verdict, text, hit.handle)
        if met not in found:
            found.append(met)
    return tuple(found)


def _title(flow: Flow) -> str:
    if flow.proto == "icmp":
        ident = f" (echo id {flow.sport})" if flow.sport is not None else ""
        return f"icmp {flow.src or '*'} → {flow.dst}{ident}"
    src = _endpoint(flow.src or "*", flow.sport if flow.sport is not None else -1, flow.proto)
    return f"{flow.proto} {src} → {flow.dst}:{flow.dport}"


def describe(route: Route) -> str:
    def party(kind: str, name: str, address: str) -> str:
        if kind == OUTSIDE:
            return f"outside {address}"
        if kind == "host":
            return f"host {address}".rstrip()
        return f"{name} {address}"

    text = party(route.source.kind, route.source.name, route.source.address)
    text += " → " + party(route.target.kind, route.target.name, route.target.address)
    if route.backend is not None and route.published is not None:
        text += (
            f" → {route.backend.name} {route.backend.address}:{route.published.container_port}"
            f" (published {route.published.host_port}/{route.published.protocol})"
        )
    return text


def _conntrack_text(entry: Conntrack | None) -> str:
    if entry is None:
        return ""
    state = f" {entry.state}" if entry.state else ""
    nat = [n for n, on in (("DNAT", entry.dnat), ("SNAT", entry.snat)) if on]
    tail = f" ({', '.join(nat)})" if nat else ""
    return (
        f"{entry.proto}{state} {entry.original.text(entry.proto)}, "
        f"reply {entry.reply.text(entry.proto)}{tail}"
    )
