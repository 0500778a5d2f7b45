"""Verdicts from evidence built here: each kind of outcome, and what it names."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from fixtures.frames import ACK, RST, SYN, echo, tcp, udp, unreachable
from fixtures.observe_world import world
from hatoba.model.flows import Flow
from hatoba.observe.assemble import timeline
from hatoba.observe.evidence import KernelDrop, RuleHit
from hatoba.observe.plan import Route, plan
from hatoba.observe.timeline import Verdict, render_verdict
from hatoba.observe.verdict import explain, not_sent

BRIDGES = {"hatoba0": "bridge", "br-ssssssssssss": "sample", "br-oooooooooooo": "other"}


@dataclass(frozen=True)
class F:
    timestamp_ns: int
    data: bytes

    @property
    def length(self) -> int:
        return len(self.data)


def judge(
    route: Route,
    flow: Flow,
    frames: dict[int, list[bytes]],
    hits: tuple[RuleHit, ...] = (),
    drops: tuple[KernelDrop, ...] = (),
    texts: dict[tuple[str, str, str, int], str] | None = None,
    probe_error: str = "",
) -> Verdict:
    got = {hop: [F(i, d) for i, d in enumerate(datas)] for hop, datas in frames.items()}
    line = timeline(route, flow, got, hits, None, texts)
    return explain(
        route, flow, line, hits, drops, None, got,
        probe_error=probe_error, networks_by_bridge=BRIDGES, texts=texts,
    )  # fmt: skip


S1, O1 = "172.18.0.2", "172.19.0.2"


def test_isolation_names_both_networks() -> None:
    route = plan(world(), "s1", f"{O1}:80")
    flow = route.flow(40000)
    syn = tcp(S1, 40000, O1, 80, SYN, 1)
    hit = RuleHit(
        5, "inet", "hatoba", "forward", "rule", "drop", 12,
        iif="br-ssssssssssss", oif="br-oooooooooooo", header=syn[14:],
    )  # fmt: skip
    texts = {("inet", "hatoba", "forward", 12): 'oifname @bridges drop comment "ISOLATION"'}
    verdict = judge(route, flow, {0: [syn], 1: [syn], 2: [syn]}, (hit,), texts=texts)
    assert verdict.outcome == "dropped"
    assert verdict.sentence == "Dropped by hatoba: isolation between networks sample and other."
    assert verdict.evidence[0] == (
        "seen at: eth0@s1, veths1@host, br-ssssssssssss@host; "
        "not at: br-oooooooooooo@host, vetho1@host, eth0@o1"
    )
    assert verdict.evidence[1] == (
        'rule: inet hatoba forward, handle 12: oifname @bridges drop comment "ISOLATION"'
    )
    assert "hatoba network connect other s1" in verdict.suggestions[0]
    assert Verdict.from_json(verdict.to_json()) == verdict
    assert render_verdict(verdict).startswith("Dropped by hatoba: isolation")


def test_a_host_table_policy_drop_is_named_with_advice() -> None:
    route = plan(world(), "c1", "198.51.100.10")
    flow = route.flow(9)
    ping = echo("172.17.0.2", "198.51.100.10", 9, 0)
    hits = (
        RuleHit(5, "inet", "hatoba", "forward", "rule", "accept", 3, header=ping[14:]),
        RuleHit(5, "inet", "filter", "forward", "policy", "drop"),
    )
    verdict = judge(route, flow, {0: [ping]}, hits)
    assert verdict.sentence == (
        "Dropped by the host's firewall: table inet filter, chain forward has policy drop."
    )
    assert "rule: inet filter forward policy drop" in verdict.evidence
    assert "hatoba does not edit other programs' tables" in verdict.suggestions[0]


@pytest.mark.parametrize(
    ("source", "target", "src", "dst", "last_hop", "named"),
    [
        ("c1", "web:81", "172.17.0.2", "172.17.0.4", 4, "web"),
        ("v1", "r3:81", "10.0.9.2", "10.0.9.4", 3, "r3"),  # through the tunnel
    ],
    ids=["here", "another-host"],
)
def test_refused_by_a_reset_names_the_container(
    source: str, target: str, src: str, dst: str, last_hop: int, named: str
) -> None:
    route = plan(world(), source, target)
    flow = route.flow(41000)
    syn = tcp(src, 41000, dst, 81, SYN, 7)
    rst = tcp(dst, 81, src, 41000, RST | ACK, 0, 8)
    verdict = judge(route, flow, {0: [syn, rst], last_hop: [syn, rst]})
    assert verdict.sentence == f"Refused: nothing listens on 81/tcp in {named}."
    assert f"TCP reset from {dst}:81" in verdict.evidence
    assert route.hops[last_hop].label in verdict.evidence[0]  # seen at


def test_nothing_listening_by_port_unreachable_or_by_the_kernel() -> None:
    route = plan(world(), "c1", "web:81")
    flow = route.flow(41000)
    syn = tcp("172.17.0.2", 41000, "172.17.0.4", 81, SYN, 7)
    no_socket = KernelDrop(1, "NO_SOCKET", "tcp_v4_rcv", 99)
    verdict = judge(route, flow, {0: [syn], 4: [syn]}, drops=(no_socket,))
    assert verdict.outcome == "refused"
    assert "kernel: NO_SOCKET in tcp_v4_rcv" in verdict.evidence

    route = plan(world(), "c1", "web:53", "udp")
    flow = route.flow(42000)
    query = udp("172.17.0.2", 42000, "172.17.0.4", 53, b"q")
    verdict = judge(route, flow, {0: [query, unreachable("172.17.0.4", "172.17.0.2", 3, query)]})
    assert verdict.sentence == "Refused: nothing listens on 53/udp in web."


def test_delivered_through_a_published_port_and_an_echo_reply_despite_ping_noise() -> None:
    route = plan(world(), "host", "203.0.113.1:8000")
    flow = route.flow(43000)
    syn = tcp("203.0.113.1", 43000, "172.17.0.4", 80, SYN, 1)
    answer = tcp("172.17.0.4", 80, "203.0.113.1", 43000, SYN | ACK, 5, 2)
    verdict = judge(route, flow, {0: [syn, answer], 2: [syn, answer]})
    assert verdict.sentence == (
        "Delivered: web answered on 80/tcp (published on 203.0.113.1:8000, DNAT to 172.17.0.4:80)."
    )
    route = plan(world(), "c1", "c2")
    flow = route.flow(3)
    frames = {
        0: [
            echo("172.17.0.2", "172.17.0.3", 3, 0),
            echo("172.17.0.3", "172.17.0.2", 3, 0, reply=True),
        ]
    }
    noise = KernelDrop(1, "NO_SOCKET", "ping_rcv", 99)  # the reply meets no ping socket
    assert judge(route, flow, frames, drops=(noise,)).sentence == "Delivered: c2 answered the ping."


def test_kernel_reasons_udp_silence_loss_and_not_sent() -> None:
    route = plan(world(), "c1", "c2")
    flow = route.flow(4)
    ping = echo("172.17.0.2", "172.17.0.3", 4, 0)
    drop = KernelDrop(1, "NEIGH_FAILED", "neigh_invalidate", 0)
    verdict = judge(route, flow, {0: [ping]}, drops=(drop,))
    assert verdict.sentence == (
        "Dropped by the kernel: no neighbour answered ARP for the next hop (reason NEIGH_FAILED)."
    )
    verdict = judge(route, flow, {0: [ping], 1: [ping]})
    assert verdict.outcome == "lost"
    assert verdict.sentence.startswith("Lost after vethc1@host (veth of c1)")
    assert judge(route, flow, {}).sentence.startswith("Not seen")

    route = plan(world(), "c1", "c2:9999", "udp")
    flow = route.flow(44000)
    datagram = udp("172.17.0.2", 44000, "172.17.0.3", 9999, b"x")
    verdict = judge(route, flow, {i: [datagram] for i in range(5)})
    assert verdict.sentence.startswith("Delivered to c2: nothing refused it")

    verdict = judge(route, flow, {}, probe_error="Network is unreachable")
    assert verdict.sentence == "Not sent: c1 has no way to 172.17.0.3 (network is unreachable)."
    assert not_sent("a → b", "why").sentence == "Not sent: why."
