"""What the kernel reports about a traced flow, as plain values: the nftables rules a packet
met (nftrace), the conntrack entry with its NAT, and the drops the kernel gave a reason for.

The adapters in `hatoba.kernel` make these; timelines and verdicts read them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hatoba.observe.packets import Packet, parse_ip


@dataclass(frozen=True)
class RuleHit:
    """One nftrace event: a rule (or a chain's policy) that a traced packet met."""

    packet_id: int  # the kernel's id of the packet (its events share it)
    family: str  # of the table: inet, ip, bridge, …
    table: str
    chain: str
    kind: str  # rule, policy or return
    verdict: str  # accept, drop, continue, jump, goto, return, queue, stolen
    handle: int | None = None  # the rule's handle (kind "rule")
    target: str = ""  # the chain a jump or goto went to
    iif: str = ""
    oif: str = ""
    header: bytes = b""  # the packet's network header as the rule saw it
    rule: str = ""  # the rule as `nft -a list` prints it, when it could be looked up

    @property
    def packet(self) -> Packet:
        return parse_ip(self.header)

    @property
    def where(self) -> str:
        return f"{self.family} {self.table} {self.chain}"


@dataclass(frozen=True)
class Endpoints:
    """One direction of a conntrack entry."""

    src: str
    sport: int
    dst: str
    dport: int

    def text(self, proto: str) -> str:
        if proto == "icmp":
            return f"{self.src} → {self.dst} id {self.sport}"
        return f"{self.src}:{self.sport} → {self.dst}:{self.dport}"


@dataclass(frozen=True)
class Conntrack:
    proto: str
    original: Endpoints
    reply: Endpoints
    state: str = ""  # TCP's state (SYN_SENT, ESTABLISHED, …); "" for other protocols
    flags: tuple[str, ...] = field(default=())  # SEEN_REPLY, ASSURED, SRC_NAT, DST_NAT, …

    @property
    def dnat(self) -> bool:
        """The destination was translated (a published port)."""
        return (self.reply.src, self.reply.sport) != (self.original.dst, self.original.dport)

    @property
    def snat(self) -> bool:
        """The source was translated (masquerade)."""
        return (self.reply.dst, self.reply.dport) != (self.original.src, self.original.sport)


@dataclass(frozen=True)
class KernelDrop:
    """A packet the kernel freed with a reason (tracepoint skb:kfree_skb)."""

    time_ns: int  # CLOCK_MONOTONIC
    reason: str  # NO_SOCKET, NETFILTER_DROP, IP_RPFILTER, NEIGH_FAILED, …
    location: str  # the kernel function that dropped it
    task: int = 0  # the thread the kernel ran on then (0: none, an interrupt)
