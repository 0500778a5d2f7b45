"""The host's network stack as the engine sees it: bridges, container namespaces, veth pairs,
and the segments of overlay networks (a namespace each, holding a bridge and a VXLAN port).

All calls come from the engine's worker thread. One rtnetlink socket serves the host
namespace (the namespace this object was created in); container and segment namespaces get a
socket each, opened inside the namespace when it is created (or first needed after a restart)
and kept until the namespace is removed. Segments are named; their handles are in the folder
the adapter is given.

IPv6 stays off wherever hatoba has no IPv6 network: an interface that accepts router
advertisements takes a prefix and a default route from whichever container sends one
(CVE-2020-13401). Container namespaces make every interface with IPv6 disabled and router
advertisements ignored, host-side veth ends have IPv6 disabled (a bridge port needs none), and
bridges ignore router advertisements. The `bridge hatoba` table also drops them
(hatoba.firewall.layout). On a network with IPv6, the bridge gets its IPv6 gateways and the
container's interface on it alone gets IPv6 turned on, still ignoring router advertisements:
static addresses (no duplicate address detection: they are ours by allocation) and a static
default route through the gateway.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import secrets
import threading
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from ipaddress import IPv4Address

from hatoba.errors import KernelError
from hatoba.kernel import netlink as nl
from hatoba.kernel.fw_netns import HomeNetns
from hatoba.kernel.netns import (
    begin_netns,
    call_in_netns,
    create_netns,
    is_netns_handle,
    rebind_handle,
    remove_handle,
    write_sysctl,
    write_sysctls,
)
from hatoba.model.cluster import VXLAN_PORT
from hatoba.model.host import (
    OWNER_PREFIX,
    AttachRequest,
    HostFacts,
    HostLink,
    IPInterface,
    MacvlanRequest,
    OwnedLink,
    TunnelPeer,
)

log = logging.getLogger("hatoba.kernel")
# what host_facts depends on: links (the uplink's MTU), addresses and routes of both families
_FACTS_GROUPS = (
    nl.RTNLGRP_LINK,
    nl.RTNLGRP_IPV4_IFADDR,
    nl.RTNLGRP_IPV4_ROUTE,
    nl.RTNLGRP_IPV6_IFADDR,
    nl.RTNLGRP_IPV6_ROUTE,
)
# a link or namespace that is already gone: deleting it again counts as done
_GONE = (errno.ENODEV, errno.ENOENT)
# The bridge a `network rm` leaves for the next `network create` (see retire_bridge), and its
# owner alias: no network's, so a service that starts finds it a leftover and deletes it.
SPARE_BRIDGE, _SPARE_OWNER = "hatoba-spare", "spare"
# Set in a container namespace before its first veth: the defaults every interface made
# later (eth0, eth1 …) starts from, so none ever has IPv6 on. accept_ra stays off for the
# day an IPv6 network turns IPv6 on for its interface.
_SANDBOX_IPV6 = {"disable_ipv6": "1", "accept_ra": "0"}


class HostKernel:
    def __init__(self, segments_dir: str) -> None:
        # where the handles of segment namespaces (overlay networks) are, by segment name
        self._segments_dir = segments_dir
        self._reaper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hatoba-reaper")
        self._home = HomeNetns()
        self._host = nl.NetlinkSocket()
        self._reaper_sock = nl.NetlinkSocket()
        self._sandboxes: dict[str, nl.NetlinkSocket] = {}
        self._bridge_index: dict[str, int] = {}
        # host_facts as last dumped (by `ipv6`), kept until the kernel announces a change that
        # is not of the bridges this object made (`_own`, whose subnets the engine knows)
        self._announced = nl.NetlinkSocket(_FACTS_GROUPS)
        self._facts: dict[bool, HostFacts] = {}
        self._uplink = 0
        self._own: set[int] = set()
        # whether SPARE_BRIDGE is ours to make the next bridge from (see retire_bridge)
        self._spare = False
        # links the reaper is deleting, by name (see `settle`)
        self._deleting: dict[str, Future[None]] = {}
        self._deleting_lock = threading.Lock()

    def close(self) -> None:
        if self._spare:
            self._spare = False
            with contextlib.suppress(KernelError):
                self.delete_link(SPARE_BRIDGE)
        self._reaper.shutdown(wait=True)
        for sock in self._sandboxes.values():
            sock.close()
        self._sandboxes.clear()
        self._host.close()
        self._reaper_sock.close()
        self._announced.close()
        self._home.close()

    # --- facts ------------------------------------------------------------------------------

    def host_facts(self, ipv6: bool = True) -> HostFacts:
        """The uplink's MTU and the prefixes routed or addressed on the host, but for those
        of hatoba's own bridges (the engine has their subnets): dumped again only after the
        kernel announced a change elsewhere (three to five netlink round trips saved)."""
        self._forget_changed_facts()
        facts = self._facts.get(ipv6)
        if facts is None:
            facts = self._facts[ipv6] = self._dump_facts(ipv6)
        return facts

    def _forget_changed_facts(self) -> None:
        announced = self._announced.announced()
        if announced is None:  # some were lost
            self._facts.clear()
            return
        for kind, index in announced:
            if kind in (nl.RTM_NEWLINK, nl.RTM_DELLINK):
                if index == self._uplink:  # its MTU may have changed
                    self._facts.clear()
                if kind == nl.RTM_DELLINK:
                    self._own.discard(index)
            elif index not in self._own:
                self._facts.clear()

    def _dump_facts(self, ipv6: bool) -> HostFacts:
        routes = self._host.routes()
        default = next((r for r in routes if r.dst.prefixlen == 0 and r.oif), None)
        self._uplink = default.oif if default else 0
        uplink = self._host.link(index=default.oif) if default else None
        uplink_mtu = uplink.mtu if uplink else 1500
        addresses = self._host.addresses()
        if ipv6:
            routes += self._host.routes(nl.AF_INET6)
            addresses += self._host.addresses(nl.AF_INET6)
        taken = {r.dst for r in routes if r.dst.prefixlen > 0 and r.oif not in self._own}
        taken.update(a.network for a in addresses if a.index not in self._own)
        mine = sorted(
            (n for n in taken if not (n.is_loopback or n.is_link_local or n.is_multicast)),
            key=lambda n: (n.version, n),
        )
        return HostFacts(uplink_mtu=uplink_mtu, taken=tuple(mine))

    def host_link(self, name: str) -> HostLink | None:
        link = self._host.link(name)
        return HostLink(link.name, link.kind, link.mtu) if link is not None else None

    def supports_link_kind(self, kind: str) -> bool:
        """Asks the kernel to make a link of `kind` without the lower device every such kind
        needs: it answers EOPNOTSUPP when it has no driver for the kind (after trying to load
        its module), EINVAL otherwise; nothing is made either way."""
        try:
            self._host.request([nl.link_probe(kind)], f"probe {kind} links")
        except KernelError as exc:
            return exc.errno != errno.EOPNOTSUPP
        raise KernelError(f"the kernel made a {kind} link without a lower device", errno.EINVAL)

    # --- bridges ----------------------------------------------------------------------------

    def create_bridge(
        self, name: str, mac: str, mtu: int, gateways: tuple[IPInterface, ...], owner: str
    ) -> None:
        self._bridge_index.pop(name, None)  # an earlier bridge of that name may have been deleted
        index = self._remade(name, mac, mtu, owner) if mac else None
        made = (
            []
            if index is not None
            else self._host.request(
                [nl.bridge_create(name, mtu, mac), nl.link_alias(name, OWNER_PREFIX + owner)],
                f"create bridge {name}",
            )
        )
        try:
            if index is None:
                # a kernel before 6.3 echoes nothing: looked up then
                index = made[0].index if made else self._index(name)
            self._bridge_index[name] = index
            # before it has addresses: what the kernel announces of it leaves host_facts be
            self._own.add(index)
            self._gateway_up(name, gateways, index)
        except KernelError:
            self.delete_link(name)
            raise

    def retire_bridge(self, name: str, gateways: tuple[IPInterface, ...]) -> bool:
        """Take a bridge (with no ports left) out of service at once and keep it, to make the
        next bridge from (create_bridge): down, without `gateways`, renamed SPARE_BRIDGE, in
        no interface group. False when one is kept already or this one could not be retired:
        the caller deletes it then.

        The kernel's deletion of a bridge holds its RTNL lock for ~25-35 ms here (an
        rcu_barrier() in the bridge's multicast teardown, and two RCU waits), which every
        netlink request made meanwhile waits for: the next network create above all."""
        if self._spare:
            return False
        index = self._index(name)
        self._bridge_index.pop(name, None)  # the name goes with the rename, done or not
        try:
            self._host.request(
                [
                    # before it goes down: the kernel drops its IPv6 addresses then
                    *(nl.address_delete(index, g.network, g.ip) for g in gateways),
                    nl.link_down(index),
                    nl.link_retire(index, SPARE_BRIDGE),
                    nl.link_alias(SPARE_BRIDGE, OWNER_PREFIX + _SPARE_OWNER),
                ],
                f"retire bridge {name}",
            )
        except KernelError as exc:
            log.warning("bridge %s not kept for the next network: %s", name, exc)
            return False
        self._spare = True
        return True

    def _remade(self, name: str, mac: str, mtu: int, owner: str) -> int | None:
        """The kept bridge made into `name` (its index), or None when there is none."""
        if not self._spare:
            return None
        self._spare = False
        spare = self._host.link(SPARE_BRIDGE)
        # deleted meanwhile (system reset, by hand): made afresh
        if spare is None or spare.alias != OWNER_PREFIX + _SPARE_OWNER:
            return None
        self._host.request(
            [
                nl.link_remake(spare.index, name, mac, mtu),
                nl.link_alias(name, OWNER_PREFIX + owner),
            ],
            f"create bridge {name} from {SPARE_BRIDGE}",
        )
        return spare.index

    def _gateway_up(self, name: str, gateways: tuple[IPInterface, ...], index: int) -> None:
        """A host link the containers route through (a bridge, a segment's link): its
        gateway addresses, up."""
        # before it is up: the containers' router, never a host taking advice
        settings = {"accept_ra": "0"}
        if any(g.version == 6 for g in gateways):
            # its link-local address usable at once: the bridge solicits its neighbours
            # from it, and would hold the first packets to a container a second or two
            settings |= {"accept_dad": "0", "disable_ipv6": "0"}
        _set_ipv6(f"net/ipv6/conf/{name}", settings, self._home.write_sysctls)
        self._host.request(
            [*(nl.address_add(index, g.network, g.ip) for g in gateways), nl.link_up(index)],
            f"configure {name}",
        )

    def repair_bridge(self, name: str, gateways: tuple[IPInterface, ...]) -> None:
        """An existing bridge up, with its gateway addresses (whatever someone removed)."""
        self._bridge_index.pop(name, None)
        index = self._index(name)
        for gateway in gateways:
            try:
                self._host.request([nl.address_add(index, gateway.network, gateway.ip)], name)
            except KernelError as exc:
                if exc.errno != errno.EEXIST:
                    raise
        self._host.request([nl.link_up(index)], f"bring up {name}")

    def enslave(self, name: str, bridge: str, segment: str = "") -> None:
        """Make a veth a port of `bridge` again (after the bridge was recreated); `segment`:
        the namespace both are in (a segment's name, "" for the host's)."""
        if segment:
            sock, master = self._segment(segment), self._segment_index(segment, bridge)
        else:
            self._bridge_index.pop(bridge, None)
            sock, master = self._host, self._index(bridge)
        sock.request(
            [nl.link_master(name, master), nl.hairpin(name), nl.link_up(name=name)],
            f"attach {name} to {bridge}",
        )

    def delete_link(self, name: str, segment: str = "") -> None:
        """Idempotent: a link that is already gone counts as deleted (so does one whose
        segment is gone)."""
        if segment and not is_netns_handle(self._segment_path(segment)):
            return
        sock = self._segment(segment) if segment else self._host
        if not segment:
            self._bridge_index.pop(name, None)
        try:
            sock.request([nl.link_delete(name=name)], f"delete {name}")
        except KernelError as exc:
            if exc.errno not in _GONE:
                raise

    def link_exists(self, name: str) -> bool:
        return self._host.link(name) is not None

    def owned_links(self, segment: str = "") -> list[OwnedLink]:
        """The links with hatoba's owner alias, in the host namespace or in `segment`'s."""
        return _owned((self._segment(segment) if segment else self._host).links())

    def _index(self, name: str) -> int:
        index = self._bridge_index.get(name)
        if index is None:
            link = self._host.link(name)
            if link is None:
                raise KernelError(f"link {name} not found", 19)
            index = self._bridge_index[name] = link.index
        return index

    # --- container namespaces ---------------------------------------------------------------

    def begin_netns(self, path: str) -> Callable[[], None]:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        made = begin_netns(path, then=_sandbox_socket)

        def wait() -> None:
            sock = made()
            assert sock is not None
            self._sandboxes[path] = sock

        return wait

    def remove_netns(self, path: str) -> None:
        """Drop the handle and let the kernel reap the namespace and its veth ends.

        Deleting a veth synchronously waits ~30 ms for RCU; unmounting costs ~0.1 ms.
        """
        sock = self._sandboxes.pop(path, None)
        if sock is not None:
            sock.close()
        remove_handle(path)

    def netns_ok(self, path: str) -> bool:
        return is_netns_handle(path)

    def rebind_netns(self, path: str, pid: int) -> None:
        """The handle of a container whose namespace handle was unmounted, from its process."""
        sock = self._sandboxes.pop(path, None)
        if sock is not None:
            sock.close()
        rebind_handle(path, pid)

    def netns_handles(self, directory: str) -> list[str]:
        try:
            names = os.listdir(directory)
        except FileNotFoundError:
            return []
        return [os.path.join(directory, n) for n in names]

    def _sandbox(
        self, path: str, opened: Callable[[], nl.NetlinkSocket] | None = None
    ) -> nl.NetlinkSocket:
        sock = self._sandboxes.get(path)
        if sock is None:
            if not is_netns_handle(path):
                raise KernelError(f"network namespace {path} is gone", 2)
            # a namespace made by an older hatoba gets the IPv6 defaults for its next veths
            sock = self._sandboxes[path] = call_in_netns(path, opened or _sandbox_socket)
        return sock

    def attach(self, netns: str, request: AttachRequest) -> None:
        """A veth pair: its outer end a port of the request's bridge, in the host namespace
        or in the bridge's segment."""
        sandbox = self._sandbox(netns)
        if request.segment:
            outer, master = (
                self._segment(request.segment),
                self._segment_index(request.segment, request.bridge),
            )
        else:
            outer, master = self._host, self._index(request.bridge)
        fd = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
        try:
            outer.request(
                [
                    nl.veth_create(
                        request.host_ifname,
                        request.ifname,
                        request.ifindex,
                        request.mac,
                        fd,
                        master,
                        request.mtu,
                    ),
                    nl.link_alias(request.host_ifname, OWNER_PREFIX + request.owner),
                    nl.hairpin(request.host_ifname),
                ],
                f"create veth pair {request.host_ifname}",
            )
        except KernelError as exc:
            if exc.errno != errno.EXFULL:
                raise
            # the kernel numbers a bridge's ports in 10 bits, port 0 unused
            raise KernelError(
                f"adding interface {request.host_ifname} to bridge {request.bridge} failed: "
                "exchange full (a Linux bridge takes at most 1023 interfaces)",
                exc.errno,
            ) from None
        finally:
            os.close(fd)
        try:
            if not request.segment:
                # the host end is up but has no carrier until the container end is: no IPv6
                # address or router solicitation happens before this (a segment makes every
                # link with IPv6 off)
                disable = {"disable_ipv6": "1"}
                _set_ipv6(f"net/ipv6/conf/{request.host_ifname}", disable, self._home.write_sysctls)
            if request.ipv6:
                call_in_netns(netns, lambda: _enable_ipv6(request.ifname))
            try:
                sandbox.request(_configure(request, request.ifindex), f"configure {request.ifname}")
            except KernelError as exc:
                # The peer's index is the namespace's next one, which is `request.ifindex` unless
                # an index went unused (a failed attach, a veth made again): ask for it then.
                link = sandbox.link(request.ifname) if exc.errno == errno.ENODEV else None
                if link is None:
                    raise
                sandbox.request(_configure(request, link.index), f"configure {request.ifname}")
        except KernelError:
            with contextlib.suppress(KernelError):
                outer.request([nl.link_delete(name=request.host_ifname)], "undo veth")
            raise

    def attach_macvlan(self, netns: str, request: MacvlanRequest) -> None:
        """A macvlan on `request.parent`, made inside the container's namespace (no device
        move). It is born under a name of its own, since an older kernel looks the new name
        up in the requesting namespace (where `eth0` may be the host's), and renamed there."""
        sandbox = self._sandbox(netns)
        parent = self._host.link(request.parent)
        if parent is None:
            raise KernelError(f"parent interface {request.parent} not found", errno.ENODEV)
        born = "mv" + secrets.token_hex(6)
        fd = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
        try:
            self._host.request(
                [nl.macvlan_create(born, parent.index, request.mode, request.mac, fd)],
                f"create macvlan {request.ifname} on {request.parent}",
            )
        except KernelError as exc:
            if exc.errno == errno.EINVAL and request.mode == "passthru":
                raise KernelError(
                    f"macvlan passthru mode takes {request.parent} whole: another macvlan "
                    "already uses it",
                    exc.errno,
                ) from None
            raise
        finally:
            os.close(fd)
        try:
            link = sandbox.link(born)
        except KernelError:
            with contextlib.suppress(KernelError):
                sandbox.request([nl.link_delete(name=born)], "undo macvlan")
            raise
        if link is None:
            raise KernelError(f"macvlan {born} vanished", errno.ENODEV)
        try:
            if request.ipv6:
                # the setting follows the link through its rename
                call_in_netns(netns, lambda: _enable_ipv6(born))
            sandbox.request(
                [
                    nl.link_rename(link.index, request.ifname),
                    nl.link_alias(request.ifname, OWNER_PREFIX + request.owner),
                    *_configure(request, link.index),
                ],
                f"configure {request.ifname}",
            )
        except KernelError:
            with contextlib.suppress(KernelError):
                sandbox.request([nl.link_delete(index=link.index)], "undo macvlan")
            raise

    def delete_inside(self, netns: str, ifname: str) -> None:
        """Best effort and at once (a link no other namespace holds a reference to): gone
        already, with its namespace or by hand, counts as deleted."""
        try:
            self._sandbox(netns).request([nl.link_delete(name=ifname)], f"delete {ifname}")
        except KernelError as exc:
            if exc.errno not in _GONE:
                log.warning("could not delete interface %s in %s: %s", ifname, netns, exc)

    def owned_links_inside(self, netns: str) -> list[OwnedLink]:
        return _owned(self._sandbox(netns).links())

    # --- segments and tunnels (overlay networks) ----------------------------------------------

    def _segment_path(self, segment: str) -> str:
        return os.path.join(self._segments_dir, segment)

    def _segment(self, segment: str) -> nl.NetlinkSocket:
        # first needed after a restart: br_netfilter may have been loaded since the segment
        # was made, with its switches on in every namespace
        return self._sandbox(self._segment_path(segment), _segment_socket)

    def _segment_index(self, segment: str, name: str) -> int:
        link = self._segment(segment).link(name)
        if link is None:
            raise KernelError(f"link {name} not found in segment {segment}", errno.ENODEV)
        return link.index

    def segment_ok(self, segment: str) -> bool:
        return is_netns_handle(self._segment_path(segment))

    def create_segment(
        self,
        segment: str,
        bridge: str,
        mac: str,
        mtu: int,
        gateways: tuple[IPInterface, ...],
        owner: str,
    ) -> None:
        """A namespace of its own (`segment`, made unless it exists) holding `bridge`, and
        the host's link to it (`link_segment`). Frames bridged in there pass no hook of the
        host's netfilter: br_netfilter is off in that namespace, whatever the host's sysctls
        say."""
        path = self._segment_path(segment)
        if is_netns_handle(path):
            sock = self._segment(segment)
        else:
            os.makedirs(self._segments_dir, exist_ok=True)
            made = create_netns(path, then=_segment_socket)
            assert made is not None
            sock = self._sandboxes[path] = made
        try:
            sock.request(
                [
                    nl.bridge_create(bridge, mtu),
                    nl.link_alias(bridge, OWNER_PREFIX + owner),
                    nl.link_up(name=bridge),
                ],
                f"create bridge {bridge} in {segment}",
            )
            self.link_segment(segment, bridge, mac, mtu, gateways, owner)
        except KernelError:
            self.remove_segment(segment)
            raise

    def link_segment(
        self,
        segment: str,
        bridge: str,
        mac: str,
        mtu: int,
        gateways: tuple[IPInterface, ...],
        owner: str,
    ) -> None:
        """The host's link into a segment: a veth named as `bridge`, in the host namespace
        with the gateway addresses and `mac`, its peer a port of `bridge` in the segment.
        Containers reach the host (NAT, published ports) routed through it."""
        sock = self._segment(segment)
        inner = _segment_end(bridge)
        fd = os.open(self._home.path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            sock.request(
                [
                    # the inner end has no owner alias: it lives and dies with the host's
                    nl.veth_create(
                        inner,
                        bridge,
                        0,
                        mac,
                        fd,
                        self._segment_index(segment, bridge),
                        mtu,
                        SEGMENT_END_INDEX,
                    ),
                ],
                f"link {segment} to the host",
            )
        finally:
            os.close(fd)
        try:
            self._bridge_index.pop(bridge, None)
            self._host.request([nl.link_alias(bridge, OWNER_PREFIX + owner)], f"name {bridge}")
            index = self._index(bridge)
            # like a bridge's: its subnet is the engine's to know, not a host fact
            self._own.add(index)
            self._gateway_up(bridge, gateways, index)
        except KernelError:
            self.delete_link(bridge)
            raise

    def remove_segment(self, segment: str) -> None:
        """The segment's namespace goes, with every link in it (the kernel reaps them)."""
        self.remove_netns(self._segment_path(segment))

    def create_tunnel(
        self,
        name: str,
        vni: int,
        mtu: int,
        bridge: str,
        local: IPv4Address,
        owner: str,
        segment: str = "",
    ) -> None:
        """A VXLAN port of `bridge` on the IANA port, from the advertise address `local`.
        In a segment it is made from the host namespace straight into the segment's: its UDP
        socket stays in the host's, so the encapsulated packets take the host's routes."""
        if not segment:
            self._host.request(
                [
                    nl.vxlan_create(name, vni, mtu, self._index(bridge), local, VXLAN_PORT),
                    nl.link_alias(name, OWNER_PREFIX + owner),
                ],
                f"create vxlan {name}",
            )
            return
        sock = self._segment(segment)
        master = self._segment_index(segment, bridge)
        fd = os.open(self._segment_path(segment), os.O_RDONLY | os.O_CLOEXEC)
        try:
            self._host.request(
                [nl.vxlan_create(name, vni, mtu, master, local, VXLAN_PORT, netns_fd=fd)],
                f"create vxlan {name}",
            )
        finally:
            os.close(fd)
        sock.request([nl.link_alias(name, OWNER_PREFIX + owner)], f"name vxlan {name}")

    def set_tunnel_peers(self, name: str, peers: Collection[TunnelPeer], segment: str = "") -> None:
        """Exactly `peers` behind the tunnel: a forwarding entry (MAC -> tunnel endpoint) and
        a neighbour entry (address -> MAC) each, in one batch of changes against what the
        device holds now."""
        sock = self._segment(segment) if segment else self._host
        link = sock.link(name)
        if link is None:
            raise KernelError(f"link {name} not found", errno.ENODEV)
        index = link.index
        held = sock.neighbours(index)
        fdb = {(n.mac, n.address) for n in held if n.family == nl.AF_BRIDGE}
        neigh = {(n.address, n.mac) for n in held if n.family == nl.AF_INET}
        want_fdb = {(p.mac, p.vtep) for p in peers}
        want_neigh = {(p.address, p.mac) for p in peers}
        messages = [
            nl.forwarding(index, mac, vtep, add=False) for mac, vtep in fdb - want_fdb if vtep
        ]
        messages += [nl.neighbour(index, a, mac, add=False) for a, mac in neigh - want_neigh if a]
        messages += [nl.forwarding(index, mac, vtep, add=True) for mac, vtep in want_fdb - fdb]
        messages += [nl.neighbour(index, a, mac, add=True) for a, mac in want_neigh - neigh]
        if messages:
            sock.request(messages, f"program peers of {name}")

    def detach(self, name: str) -> None:
        """Delete a link (a veth pair by its host end, a bridge) in the background.

        The kernel spends ~20-30 ms of RCU waits inside the request itself, so a reaper thread
        makes it, on a socket of its own; the caller must not hand out again what the link
        held (its address, its subnet) before it is gone (see `link_exists` and `settle`).
        """
        self._bridge_index.pop(name, None)
        future = self._reaper.submit(self._delete_later, name)
        with self._deleting_lock:
            self._deleting[name] = future
        future.add_done_callback(lambda done: self._forget_deletion(name, done))

    def settle(self, names: Sequence[str]) -> None:
        """Wait until the reaper has deleted these links (those it is not deleting count)."""
        with self._deleting_lock:
            pending = [f for name in names if (f := self._deleting.get(name)) is not None]
        for future in pending:
            future.result()

    def being_deleted(self, names: Sequence[str]) -> bool:
        with self._deleting_lock:
            return any(name in self._deleting for name in names)

    def _forget_deletion(self, name: str, done: Future[None]) -> None:
        with self._deleting_lock:
            if self._deleting.get(name) is done:
                del self._deleting[name]

    def _delete_later(self, name: str) -> None:
        try:
            self._reaper_sock.request([nl.link_delete(name=name)], "delete interface")
        except KernelError as exc:
            # gone already: with its namespace, or by hand
            if exc.errno not in _GONE:
                log.warning("could not delete interface %s: %s", name, exc)


def uplink_address() -> IPv4Address | None:
    """The first address of the interface the default route leaves by (None: no uplink)."""
    sock = nl.NetlinkSocket()
    try:
        default = next((r for r in sock.routes() if r.dst.prefixlen == 0 and r.oif), None)
        if default is None:
            return None
        found = next((a for a in sock.addresses() if a.index == default.oif), None)
        return found.address if found and isinstance(found.address, IPv4Address) else None
    finally:
        sock.close()


def _configure(request: AttachRequest | MacvlanRequest, index: int) -> list[bytes]:
    messages = [
        nl.link_up(index),
        *(nl.address_add(index, a.network, a.ip) for a in request.addresses),
    ]
    messages += [nl.default_route(gateway, index) for gateway in request.default_gateways]
    return messages


def _enable_ipv6(ifname: str) -> None:
    """Inside a container namespace: IPv6 on for one interface (made with it off), its
    link-local address usable at once, router advertisements still ignored."""
    write_sysctls(
        f"net/ipv6/conf/{ifname}", {"accept_dad": "0", "accept_ra": "0", "disable_ipv6": "0"}
    )


def _set_ipv6(
    directory: str, settings: Mapping[str, str], write: Callable[[str, Mapping[str, str]], None]
) -> None:
    """Write IPv6 sysctls of one directory; a kernel without IPv6 has nothing to turn off."""
    try:
        write(directory, settings)
    except KernelError as exc:
        if exc.errno != errno.ENOENT or os.path.isdir("/proc/sys/net/ipv6"):
            raise


def _owned(links: Iterable[nl.Link]) -> list[OwnedLink]:
    every = list(links)
    names = {link.index: link.name for link in every}
    return [
        OwnedLink(link.name, link.kind, link.alias[len(OWNER_PREFIX) :], names.get(link.master, ""))
        for link in every
        if link.alias.startswith(OWNER_PREFIX)
    ]


# The inner end's ifindex, far above what the host's namespace hands out. A veth whose
# ifindex equals its peer's has its carrier changes handled as non-urgent link events, up to
# a second late (linkwatch_urgent_event): left to the kernel, the inner end (3, after lo and
# the bridge) would equal the host end on a host with two links before it.
SEGMENT_END_INDEX = 1 << 20


def _segment_end(bridge: str) -> str:
    """The name of the host link's peer inside the segment (a port of `bridge`)."""
    return f"gw-{bridge[-12:]}"


# br_netfilter's switches of a namespace: off in a segment, so its bridged frames skip the
# netfilter hooks (a kernel without br_netfilter has nothing to turn off)
_SEGMENT_BRIDGE_NF = tuple(
    (f"net/bridge/bridge-nf-call-{table}", "0") for table in ("iptables", "ip6tables", "arptables")
)


def _segment_socket() -> nl.NetlinkSocket:
    """Inside a segment namespace: br_netfilter off, then as a container namespace."""
    for key, value in _SEGMENT_BRIDGE_NF:
        try:
            write_sysctl(key, value)
        except KernelError as exc:
            if exc.errno != errno.ENOENT:
                raise
    return _sandbox_socket()


def _sandbox_socket() -> nl.NetlinkSocket:
    """Inside a container namespace: its IPv6 defaults, lo up, and its netlink socket."""
    _set_ipv6("net/ipv6/conf/default", _SANDBOX_IPV6, write_sysctls)
    sock = nl.NetlinkSocket()
    sock.request([nl.link_up(1)], "bring up lo")
    return sock
