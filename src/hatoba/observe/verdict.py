"""`hatoba explain`: what happened to one flow, in one sentence, and the evidence for it.

In order of precedence: the flow was never sent (a name its source cannot resolve, no route);
a rule dropped it (hatoba's, named for what it does, or another table's on the host, named by
table, chain and handle); nothing listened (a TCP reset, an ICMP port unreachable, or the
kernel's NO_SOCKET); the destination answered; the kernel dropped it with another reason;
it was delivered and needs no answer (UDP); or it was lost after the last hop that saw it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from hatoba.firewall import layout as L
from hatoba.firewall.hostfw import HostChain, dropping_chain_warning
from hatoba.model.flows import Flow
from hatoba.observe import assemble
from hatoba.observe.evidence import Conntrack, KernelDrop, RuleHit
from hatoba.observe.packets import ICMP, RST, SYN
from hatoba.observe.plan import CONTAINER, OUTSIDE, REMOTE, Party, Route
from hatoba.observe.timeline import REPLY, Timeline, Verdict

_COMMENT = re.compile(r'comment "(.*)"\s*$')
# what the kernel's drop reasons mean, for the reasons a flow between containers meets
_REASONS = {
    "NETFILTER_DROP": "a netfilter rule dropped it",
    "IP_RPFILTER": "reverse path filtering (rp_filter) refused its source address",
    "NEIGH_FAILED": "no neighbour answered ARP for the next hop",
    "NEIGH_QUEUEFULL": "too many packets waited for ARP to answer",
    "IP_INNOROUTES": "the host has no route for it",
    "IP_OUTNOROUTES": "the sender has no route for it",
    "IP_INADDRERRORS": "its destination address is not valid here",
    "IP_LOCALNET": "127.0.0.0/8 came from outside the host (route_localnet is off)",
    "OTHERHOST": "it was for another link-layer address",
    "PKT_TOO_BIG": "it was larger than the path's MTU",
    "TC_INGRESS": "a tc ingress filter dropped it",
    "TC_EGRESS": "a tc egress filter dropped it",
    "QDISC_DROP": "a queue was full",
}


def not_sent(route_text: str, why: str, suggestions: Sequence[str] = ()) -> Verdict:
    return Verdict("not-sent", f"Not sent: {why}.", (route_text,), None, tuple(suggestions))


def explain(
    route: Route,
    flow: Flow,
    timeline: Timeline,
    hits: Sequence[RuleHit],
    drops: Sequence[KernelDrop],
    conntrack: Conntrack | None,
    frames: Mapping[int, Sequence[assemble.Frame]],
    *,
    probe_error: str = "",
    networks_by_bridge: Mapping[str, str] | None = None,
    texts: Mapping[tuple[str, str, str, int], str] | None = None,
) -> Verdict:
    bridges = networks_by_bridge or {}
    texts = texts or {}
    reached = route.reached
    if probe_error:
        why = f"{route.source.name} has no way to {flow.dst} ({probe_error.lower()})"
        return not_sent(assemble.describe(route), why)
    forward = assemble.views(route, flow, conntrack)
    seen = assemble.belonging(frames, flow.proto, forward)
    evidence = _where_seen(route, seen)
    ours = assemble.flow_hits(hits, forward)
    dropped = next((h for h in ours if h.verdict == "drop"), None)
    if dropped is not None:
        text = texts.get((dropped.family, dropped.table, dropped.chain, dropped.handle or 0), "")
        evidence.append(_rule_line(dropped, text))
        sentence, hints = _rule_drop(dropped, text, route, bridges)
        return Verdict("dropped", sentence, _with(evidence, timeline), timeline, hints)
    refusal = _refusal(seen, flow)
    if refusal:
        evidence.append(refusal)
        return _refused(route, flow, evidence, drops, timeline)
    if _answered(seen):
        sentence = f"Delivered: {_party(reached)} answered{_through(route, flow)}."
        return Verdict("delivered", sentence, _with(evidence, timeline), timeline)
    # an echo reply reaching a namespace with no ping socket is NO_SOCKET too: not a refusal
    if flow.proto != "icmp" and any(d.reason == "NO_SOCKET" for d in drops):
        return _refused(route, flow, evidence, drops, timeline)
    other = [d for d in drops if d.reason != "NO_SOCKET"]
    if other:
        drop = other[0]
        meaning = _REASONS.get(drop.reason, "the kernel gave no more detail")
        evidence.append(f"kernel: {drop.reason} in {drop.location}")
        sentence = f"Dropped by the kernel: {meaning} (reason {drop.reason})."
        return Verdict("dropped", sentence, _with(evidence, timeline), timeline)
    last = max((s.hop for s in seen if s.direction != REPLY), default=-1)
    if flow.proto == "udp" and route.hops and last == len(route.hops) - 1:
        sentence = (
            f"Delivered to {_party(reached)}: nothing refused it (UDP needs no answer, "
            "and none came)"
        )
        return Verdict("delivered", sentence + ".", _with(evidence, timeline), timeline)
    if last < 0:
        sentence = "Not seen: no packet of the flow crossed any hop hatoba watched."
    else:
        sentence = (
            f"Lost after {route.hops[last].label} ({route.hops[last].what}): no rule and no "
            "kernel drop reason accounts for it."
        )
    return Verdict("lost", sentence, _with(evidence, timeline), timeline)


def _refused(
    route: Route,
    flow: Flow,
    evidence: list[str],
    drops: Sequence[KernelDrop],
    timeline: Timeline,
) -> Verdict:
    reached = route.reached
    evidence += [f"kernel: {d.reason} in {d.location}" for d in drops if d.reason == "NO_SOCKET"]
    named = reached.kind in (CONTAINER, REMOTE)
    where = f"in {reached.name}" if named else f"on {reached.address}"
    port = _port(route, flow)
    hints: tuple[str, ...] = ()
    if named:
        hints = (f"is the server in {reached.name} listening on 0.0.0.0:{port}?",)
    sentence = f"Refused: nothing listens on {port}/{flow.proto} {where}."
    return Verdict("refused", sentence, _with(evidence, timeline), timeline, hints)


def _with(evidence: list[str], timeline: Timeline) -> tuple[str, ...]:
    out = list(evidence)
    if timeline.conntrack:
        out.append(f"conntrack: {timeline.conntrack}")
    out += timeline.notes
    return tuple(out)


def _where_seen(route: Route, seen: Sequence[assemble.Seen]) -> list[str]:
    if not route.hops:
        return []
    crossed = sorted({s.hop for s in seen if s.direction != REPLY})
    labels = [route.hops[i].label for i in crossed]
    missing = [h.label for i, h in enumerate(route.hops) if i not in crossed]
    text = f"seen at: {', '.join(labels) or 'no hop'}"
    if missing:
        text += f"; not at: {', '.join(missing)}"
    return [text]


def _rule_line(hit: RuleHit, text: str) -> str:
    if hit.kind == "policy":
        return f"rule: {hit.where} policy {hit.verdict}"
    return f"rule: {hit.where}, handle {hit.handle}: {text}".rstrip(": ")


def _rule_drop(
    hit: RuleHit, text: str, route: Route, bridges: Mapping[str, str]
) -> tuple[str, tuple[str, ...]]:
    """The sentence for a rule that dropped the flow, and what could be done about it."""
    if hit.table != L.TABLE:
        chain = HostChain(hit.family, hit.table, hit.chain, "forward", hit.verdict)
        if hit.kind == "policy":
            sentence = f"Dropped by the host's firewall: {chain.label} has policy drop."
            return sentence, (dropping_chain_warning(chain),)
        rule = f" ({text})" if text else ""
        return f"Dropped by the host's firewall: {chain.label}, rule handle {hit.handle}{rule}.", ()
    found = _COMMENT.search(text)
    comment = found[1] if found else ""
    src = bridges.get(hit.iif, "") or _network(route.source)
    dst = bridges.get(hit.oif, "") or _network(route.reached)
    if comment == L.ISOLATION:
        hint = (
            f"connect one of them to the other's network (hatoba network connect {dst} "
            f"{route.source.name}), or publish the port and go through the host"
        )
        return f"Dropped by hatoba: isolation between networks {src} and {dst}.", (hint,)
    if comment.endswith(f": {L.NETWORK_INTERNAL}"):
        return f"Dropped by hatoba: {src} is an internal network; nothing leaves it.", ()
    if comment == L.INTERNAL_OFF_HOST:
        return (
            f"Dropped by hatoba: {src} is internal; its containers reach no address of the host.",
            (),
        )
    if comment == L.ICC_DISABLED or comment.endswith(f": {L.NETWORK_ICC}"):
        return (
            f"Dropped by hatoba: containers on {src} may not talk to each other "
            "(com.docker.network.bridge.enable_icc=false).",
            (),
        )
    if comment.startswith(L.SPOOFING) or comment == L.ROUTER_ADVICE:
        what = comment.removeprefix(L.SPOOFING).strip().lower() or "advice"
        return (
            f"Dropped by hatoba's anti-spoofing: {route.source.name} sent from a {what} "
            "source that is not its own.",
            (),
        )
    if comment == L.LOOPBACK_ONLY:
        return "Dropped by hatoba: 127.0.0.0/8 is reachable only from the host itself.", ()
    name = f'"{comment}"' if comment else f"handle {hit.handle}"
    return f"Dropped by hatoba's rule {name} in {hit.where}.", ()


def _network(party: Party) -> str:
    return party.network.name if party.network is not None else party.name


def _refusal(seen: Sequence[assemble.Seen], flow: Flow) -> str:
    """A TCP reset or an ICMP port unreachable sent back about the flow."""
    for s in seen:
        if s.direction != REPLY:
            continue
        if flow.proto == "tcp" and s.packet.proto_name == "tcp" and s.packet.tcp_flags & RST:
            return f"TCP reset from {s.ends[0]}:{s.ends[1]}"
        if s.packet.proto == ICMP and s.packet.icmp_type == 3 and s.packet.icmp_code == 3:
            return f"ICMP port unreachable from {s.packet.src}"
    return ""


def _answered(seen: Sequence[assemble.Seen]) -> bool:
    for s in seen:
        if s.direction != REPLY:
            continue
        if s.packet.proto_name == "tcp" and s.packet.tcp_flags & SYN:
            return True
        if s.packet.proto_name == "udp":
            return True
        if s.packet.proto == ICMP and s.packet.icmp_type == 0:
            return True
    return False


def _party(party: Party) -> str:
    if party.kind in (CONTAINER, REMOTE):
        return party.name
    if party.kind == OUTSIDE:
        return party.address
    return f"the host ({party.address})"


def _port(route: Route, flow: Flow) -> int:
    if route.published is not None:
        return route.published.container_port
    return flow.dport or 0


def _through(route: Route, flow: Flow) -> str:
    if flow.proto == "icmp":
        return " the ping"
    text = f" on {_port(route, flow)}/{flow.proto}"
    if route.published is not None and route.backend is not None:
        text += (
            f" (published on {route.target.address}:{route.published.host_port}, "
            f"DNAT to {route.backend.address}:{route.published.container_port})"
        )
    return text
