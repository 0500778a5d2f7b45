"""A flow's timeline from what the taps, nftrace and conntrack saw (frames built here)."""

from __future__ import annotations

from dataclasses import dataclass

from fixtures.frames import ACK, SYN, echo, tcp, udp, unreachable
from fixtures.observe_world import world
from hatoba.model.flows import Flow
from hatoba.observe.assemble import timeline
from hatoba.observe.evidence import Conntrack, Endpoints, RuleHit
from hatoba.observe.plan import plan
from hatoba.observe.timeline import Timeline, render

CLIENT, HOST, WEB = "203.0.113.150", "203.0.113.1", "172.17.0.4"


@dataclass(frozen=True)
class F:
    timestamp_ns: int
    data: bytes
    length: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "length", self.length or len(self.data))


def test_the_publish_path_in_path_order_with_dnat_where_it_happens() -> None:
    route = plan(world(), CLIENT, f"{HOST}:8000")
    flow = Flow("tcp", CLIENT, HOST, 40312, 8000)
    syn_out = tcp(CLIENT, 40312, HOST, 8000, SYN, 1000)
    syn_in = tcp(CLIENT, 40312, WEB, 80, SYN, 1000)
    answer_in = tcp(WEB, 80, CLIENT, 40312, SYN | ACK, 5000, 1001)
    answer_out = tcp(HOST, 8000, CLIENT, 40312, SYN | ACK, 5000, 1001)
    noise = tcp(CLIENT, 40313, HOST, 8000, SYN, 1)  # another connection
    # a packet's stamps do not follow the path: the host's veth stamps it late (when its
    # backlog runs), after the container stamped it coming in
    frames = {
        0: [F(100, syn_out), F(101, noise), F(190, answer_out)],
        1: [F(150, syn_in), F(180, answer_in)],
        2: [F(151, syn_in), F(179, answer_in)],
        3: [F(140, syn_in), F(160, answer_in)],
    }
    entry = Conntrack(
        "tcp", Endpoints(CLIENT, 40312, HOST, 8000), Endpoints(WEB, 80, CLIENT, 40312), "SYN_RECV"
    )
    hits = [
        RuleHit(
            9, "inet", "hatoba", "trace-prerouting", "rule", "continue", 3, header=syn_out[14:]
        ),
        RuleHit(9, "inet", "hatoba", "prerouting", "rule", "jump", 27, "published-dnat"),
        RuleHit(9, "inet", "hatoba", "published-dnat", "rule", "accept", 30),
        RuleHit(9, "inet", "hatoba", "forward", "rule", "continue", None),
        RuleHit(8, "inet", "filter", "forward", "policy", "drop", header=noise[14:]),
    ]
    texts = {("inet", "hatoba", "published-dnat", 30): 'dnat … comment "PUBLISHED"'}
    done = timeline(route, flow, frames, hits, entry, texts)
    assert [(s.hop, s.direction, s.packet) for s in done.sightings] == [
        ("eth0@host", "→", 0),
        ("hatoba0@host", "→", 0),
        ("vethweb@host", "→", 0),
        ("eth0@web", "→", 0),
        ("eth0@web", "←", 1),
        ("vethweb@host", "←", 1),
        ("hatoba0@host", "←", 1),
        ("eth0@host", "←", 1),
    ]
    notes = [s.note for s in done.sightings]
    assert notes[1] == f"DNAT {HOST}:8000 → {WEB}:80"
    assert notes[7] == f"reply from {WEB}:80 → {HOST}:8000"
    assert [n for i, n in enumerate(notes) if i not in (1, 7)] == [""] * 6
    assert (done.sightings[3].src, done.sightings[3].dst) == (f"{CLIENT}:40312", f"{WEB}:80")
    assert [(r.where, r.verdict, r.rule) for r in done.rules] == [
        ("inet hatoba prerouting", "jump published-dnat", ""),
        ("inet hatoba published-dnat", "accept", 'dnat … comment "PUBLISHED"'),
    ]
    assert done.conntrack == (
        f"tcp SYN_RECV {CLIENT}:40312 → {HOST}:8000, reply {WEB}:80 → {CLIENT}:40312 (DNAT)"
    )
    assert Timeline.from_json(done.to_json()) == done
    text = render(done)
    assert f"^ DNAT {HOST}:8000 → {WEB}:80" in text
    assert "    0.000 ms  eth0@host" in text


def test_the_masquerade_path_and_an_icmp_error_about_the_flow() -> None:
    route = plan(world(), "c1", "198.51.100.10:53", "udp")
    flow = Flow("udp", "172.17.0.2", "198.51.100.10", 40000, 53)
    inside = udp("172.17.0.2", 40000, "198.51.100.10", 53, b"q")
    outside = udp(HOST, 40000, "198.51.100.10", 53, b"q")
    error_out = unreachable("198.51.100.10", HOST, 3, outside)
    error_in = unreachable("198.51.100.10", "172.17.0.2", 3, inside)
    frames = {
        0: [F(10, inside), F(90, error_in)],
        2: [F(20, inside), F(80, error_in)],
        3: [F(30, outside), F(70, error_out), F(75, echo(HOST, "198.51.100.10", 1, 1))],
    }
    entry = Conntrack(
        "udp", Endpoints("172.17.0.2", 40000, "198.51.100.10", 53),
        Endpoints("198.51.100.10", 53, HOST, 40000),
    )  # fmt: skip
    done = timeline(route, flow, frames, conntrack=entry, notes=["no capture on x"])
    assert [(s.hop, s.direction) for s in done.sightings] == [
        ("eth0@c1", "→"),
        ("hatoba0@host", "→"),
        ("eth0@host", "→"),
        ("eth0@host", "←"),
        ("hatoba0@host", "←"),
        ("eth0@c1", "←"),
    ]
    assert done.sightings[2].note == f"masquerade 172.17.0.2:40000 → {HOST}:40000"
    assert "udp port 53 unreachable" in done.sightings[5].line
    assert done.conntrack.endswith("(SNAT)")
    assert render(done).endswith("note: no capture on x\n")


def test_nothing_seen_is_said() -> None:
    route = plan(world(), "c1", "c2")
    done = timeline(route, route.flow(5), {})
    assert "no packet of the flow was seen" in render(done)
