"""One flow as a packet first carries it: protocol, addresses and ports (an ICMP echo's id
in place of both ports), some of them unknown while a trace waits for the flow to begin."""

from __future__ import annotations

from dataclasses import dataclass

PROTOCOLS = ("tcp", "udp", "icmp")


@dataclass(frozen=True)
class Flow:
    proto: str  # tcp, udp or icmp
    src: str | None  # None: any source
    dst: str
    sport: int | None = None  # for icmp: the echo id
    dport: int | None = None  # for icmp: the echo id too

    def describe(self) -> str:
        if self.proto == "icmp":
            return f"icmp {self.src or '*'} → {self.dst}"
        sport = f":{self.sport}" if self.sport is not None else ""
        dport = f":{self.dport}" if self.dport is not None else ""
        return f"{self.proto} {self.src or '*'}{sport} → {self.dst}{dport}"
