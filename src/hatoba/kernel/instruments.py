"""The kernel's observation instruments in one adapter for the API: packet taps in any
namespace (more to come: nftables tracing, conntrack, kernel drop reasons, probes)."""

from __future__ import annotations

from hatoba.kernel.capture import PacketTap, open_tap


class KernelInstruments:
    def open_tap(self, netns: str | None, ifname: str, expression: str, snaplen: int) -> PacketTap:
        return open_tap(netns, ifname, expression, snaplen)
