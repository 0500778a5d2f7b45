"""The kernel's observation instruments in one adapter for the API: packet taps in any
namespace, nftables tracing of one flow (through the firewall's own transactions) and its
trace events, conntrack lookups, probes, the kernel's drop reasons, and the host's links,
addresses and routes.

Made on a thread in the host's namespace (the service's); usable from any thread after.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from hatoba.errors import KernelError
from hatoba.kernel import fw_conntrack, nftrace, probes
from hatoba.kernel import netlink as nl
from hatoba.kernel.capture import PacketTap, open_tap
from hatoba.kernel.dropwatch import DropWatch
from hatoba.kernel.firewall import NftFirewall
from hatoba.kernel.fw_netns import HomeNetns
from hatoba.kernel.netns import call_in_netns
from hatoba.model.flows import Flow
from hatoba.observe.evidence import Conntrack
from hatoba.observe.topology import HostLink, HostView


class KernelInstruments:
    def __init__(self, firewall: NftFirewall) -> None:
        self._home = HomeNetns()
        self._firewall = firewall

    def open_tap(self, netns: str | None, ifname: str, expression: str, snaplen: int) -> PacketTap:
        if netns is None:
            return self._home.call(lambda: open_tap(None, ifname, expression, snaplen))
        return open_tap(netns, ifname, expression, snaplen)

    # --- the host ---------------------------------------------------------------------------

    def host_addresses(self) -> dict[str, list[str]]:
        """Interface name → its IPv4 addresses, in the host's namespace."""
        return {
            link.name: [a.split("/")[0] for a in link.addresses]
            for link in self.host_view().links
            if link.addresses
        }

    def host_view(self, segments: Mapping[str, str] | None = None) -> HostView:
        """Every link of the host's namespace with its IPv4 addresses, and the default route;
        the links of `segments` (name -> namespace handle) too, those that are there."""
        view = self._home.call(_links_here)
        found = []
        for name, path in (segments or {}).items():
            try:
                found.append((name, call_in_netns(path, _links_here).links))
            except KernelError:
                continue  # gone: the picture says its bridge is missing
        return HostView(view.links, view.uplink, view.gateway, tuple(found))

    def route_via(self, address: str) -> str | None:
        """The interface the host sends to `address` through (None: no route)."""

        def work() -> str | None:
            with IPRoute() as ipr:
                try:
                    routes = ipr.route("get", dst=address)
                except NetlinkError:
                    return None
                if not routes:
                    return None
                index = routes[0].get_attr("RTA_OIF")
                return socket.if_indextoname(index) if index else None

        return self._home.call(work)

    # --- tracing ----------------------------------------------------------------------------

    def trace(self, flow: Flow) -> int:
        return self._firewall.trace(flow)

    def untrace(self, token: int) -> None:
        self._firewall.untrace(token)

    def trace_listener(self) -> nftrace.TraceListener:
        return nftrace.TraceListener(self._home)

    def rule_texts(self, family: str, table: str, chain: str) -> dict[int, str]:
        return nftrace.rule_texts(self._home, family, table, chain)

    def conntrack(self, flow: Flow) -> Conntrack | None:
        return fw_conntrack.find(self._home, flow)

    def prepare_probe(
        self, netns: str | None, proto: str, dst: str, dport: int | None, echo_id: int
    ) -> probes.Probe:
        if netns is None:
            return self._home.call(lambda: probes.prepare(None, proto, dst, dport, echo_id))
        return probes.prepare(netns, proto, dst, dport, echo_id)

    def drop_watch(self) -> DropWatch:
        return DropWatch.open()


def _links_here() -> HostView:
    """The links of the calling thread's namespace with their IPv4 addresses, and its default
    route."""
    sock = nl.NetlinkSocket()
    try:
        links, routes, addresses = sock.links(), sock.routes(), sock.addresses()
    finally:
        sock.close()
    names = {link.index: link.name for link in links}
    default = next((r for r in routes if r.dst.prefixlen == 0 and r.oif), None)
    return HostView(
        links=tuple(
            HostLink(
                name=link.name,
                kind=link.kind,
                mac=link.mac,
                mtu=link.mtu,
                up=link.up,
                master=names.get(link.master, ""),
                addresses=tuple(
                    f"{a.address}/{a.network.prefixlen}" for a in addresses if a.index == link.index
                ),
            )
            for link in links
        ),
        uplink=names.get(default.oif, "") if default else "",
        gateway=str(default.gateway or "") if default else "",
    )
