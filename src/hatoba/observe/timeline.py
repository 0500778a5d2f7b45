"""A traced flow as people read it: every hop in time order with the addresses seen there,
the nftables rules the packets met, the conntrack entry, and (for explain) one verdict.

These are display values: the service builds them (`hatoba.observe.assemble`, `verdict`),
sends them as JSON, and the CLI renders them. Nothing here imports more than the standard
library, so the CLI may use it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

FORWARD, REPLY = "→", "←"


@dataclass(frozen=True)
class Sighting:
    """One packet of the flow at one hop."""

    packet: int  # which packet: the same number at every hop it crossed
    offset_ns: int  # since the flow's first packet, by this hop's clock
    hop: str  # interface@namespace: eth0@web, veth1a2b3c4@host
    what: str  # eth0 of web, bridge of sample, uplink
    direction: str  # → (as sent) or ← (an answer, or an error about the flow)
    src: str  # address:port as seen at this hop (address alone for ICMP)
    dst: str
    line: str  # tcpdump -tnl
    note: str = ""  # a translation that happened before this hop: DNAT …, masquerade …


@dataclass(frozen=True)
class RuleMet:
    """An nftables rule or chain policy a packet of the flow met."""

    where: str  # family table chain
    verdict: str  # accept, drop, jump published-dnat, policy accept, …
    rule: str = ""  # as `nft -a list` prints it
    handle: int | None = None


@dataclass(frozen=True)
class Timeline:
    title: str  # the flow: tcp 203.0.113.150:40312 → 203.0.113.1:8000
    route: str  # who to whom: outside 203.0.113.150 → web (published 8000/tcp)
    hops: tuple[str, ...] = ()
    sightings: tuple[Sighting, ...] = ()
    rules: tuple[RuleMet, ...] = ()
    conntrack: str = ""
    notes: tuple[str, ...] = ()  # what could not be observed, and why

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Timeline:
        return cls(
            title=data["title"],
            route=data["route"],
            hops=tuple(data.get("hops", ())),
            sightings=tuple(Sighting(**s) for s in data.get("sightings", ())),
            rules=tuple(RuleMet(**r) for r in data.get("rules", ())),
            conntrack=data.get("conntrack", ""),
            notes=tuple(data.get("notes", ())),
        )


@dataclass(frozen=True)
class Verdict:
    """`hatoba explain`: what happened to the flow, in one sentence, and why we think so."""

    outcome: str  # delivered, dropped, not-sent, unanswered
    sentence: str
    evidence: tuple[str, ...] = ()
    timeline: Timeline | None = None
    suggestions: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["timeline"] = self.timeline.to_json() if self.timeline else None
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Verdict:
        timeline = data.get("timeline")
        return cls(
            outcome=data["outcome"],
            sentence=data["sentence"],
            evidence=tuple(data.get("evidence", ())),
            timeline=Timeline.from_json(timeline) if timeline else None,
            suggestions=tuple(data.get("suggestions", ())),
        )


def render(timeline: Timeline) -> str:
    """Text for a terminal."""
    out = [f"trace {timeline.title}", f"  {timeline.route}"]
    if timeline.hops:
        out.append("  hops: " + " → ".join(timeline.hops))
    out.append("")
    if timeline.sightings:
        width = max(len(s.hop) for s in timeline.sightings)
        packet = -1
        for s in timeline.sightings:
            # a packet's time is where it entered the path: taps in different namespaces
            # do not share a clock
            stamp = f"{s.offset_ns / 1e6:9.3f} ms" if s.packet != packet else ""
            packet = s.packet
            out.append(f"{stamp:>12}  {s.hop.ljust(width)}  {s.direction} {s.line}")
            if s.note:
                out.append(f"{'':12}  {'':{width}}    ^ {s.note}")
    else:
        out.append("  no packet of the flow was seen")
    if timeline.rules:
        out += ["", "nftables rules met (nftrace):"]
        width = max(len(r.where) for r in timeline.rules)
        for r in timeline.rules:
            text = f"  {r.where.ljust(width)}  {r.verdict}"
            if r.rule:
                text += f"  [{r.rule}]" if r.handle is None else f"  [handle {r.handle}: {r.rule}]"
            out.append(text)
    if timeline.conntrack:
        out += ["", f"conntrack: {timeline.conntrack}"]
    out += [f"note: {note}" for note in timeline.notes]
    return "\n".join(out) + "\n"


def render_verdict(verdict: Verdict, *, with_timeline: bool = True) -> str:
    out = [verdict.sentence]
    out += [f"  - {line}" for line in verdict.evidence]
    out += [f"  hint: {line}" for line in verdict.suggestions]
    text = "\n".join(out) + "\n"
    if with_timeline and verdict.timeline is not None:
        text += "\n" + render(verdict.timeline)
    return text
