"""NftFirewall: hatoba's nftables tables in the host namespace, one transaction per change.

Documents come from the pure `hatoba.firewall`; this adapter sends them to libnftables (in its
helper process, `kernel/nft_helper.py`), keeps `net.ipv4.ip_forward` (and, once a network has
IPv6, `net.ipv6.conf.all.forwarding`) on while a network needs it, and watches nftables
notifications so that a `nft flush ruleset`, a deleted table or a firewall reload is repaired
within a fraction of a second. Watching costs nothing while the
ruleset does not change.

The host's own firewalls (iptables' FORWARD, firewalld, other programs' tables) follow the
bridges in the same calls (`fw_host`), so an operation that fails undoes them with the rest.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import threading
from collections.abc import Callable, Sequence

from hatoba.errors import KernelError
from hatoba.firewall import hostfw, layout, plan, tracing
from hatoba.firewall.model import FirewallState, FwPort
from hatoba.firewall.shape import expected_shape, listed_shape
from hatoba.kernel import fw_conntrack, netlink, nfnetlink
from hatoba.kernel.fw_events import EventsLost, NftEvents
from hatoba.kernel.fw_host import HostFirewalls
from hatoba.kernel.fw_netns import HomeNetns
from hatoba.kernel.nft_helper import NftHelper, SentCommand
from hatoba.model.flows import Flow

log = logging.getLogger("hatoba.firewall")
_OURS = frozenset({f"1/{layout.TABLE}", f"7/{layout.TABLE}"})  # NFPROTO_INET, NFPROTO_BRIDGE
_RESTORE_DELAY = 0.05  # coalesce the burst of notifications one flush produces
_RETRY_DELAY = 1.0
_HOST_CHECK_DELAY = 0.1  # a firewalld reload or an iptables-restore is a burst of commits


class NftFirewall:
    def __init__(self, helper: NftHelper, segments_dir: str = "") -> None:
        """Binds to the network namespace of the calling thread (the host); `segments_dir`:
        where the handles of segment namespaces (overlay networks) are, by segment name."""
        self._segments_dir = segments_dir
        self._home = HomeNetns()
        self._links = netlink.NetlinkSocket()  # in the host namespace, as `_home`
        self._generation = nfnetlink.Generation()  # as well
        # every commit goes through the helper: a notification naming one of its processes is
        # our own change
        self._helper = helper
        self._nft = helper.namespace(self._home.path)
        self._lock = threading.Lock()
        # the state the tables were last made to match; None before the first commit and
        # after remove()
        self._applied: FirewallState | None = None
        self._removed = False
        self._watch: _Watch | None = None
        self._host = HostFirewalls(self._home, self._list, self._generation.read)
        # flows traced now (hatoba trace, explain): rebuilt with the tables, by token
        self._traces: dict[int, Flow] = {}
        self._trace_tokens = itertools.count(1)

    # --- changes -----------------------------------------------------------------------

    def sync(self, state: FirewallState) -> None:
        """Replace both tables by the ones for `state`, in one transaction, and open the
        host's firewalls to its bridges (what fails there becomes a warning)."""
        with self._lock:
            self._forwarding(state)
            self._commit(self._rebuild(state))
            self._segments(None, state)
            self._applied, self._removed = state, False
            self._host.look_again()
            self._host.follow(state.networks, strict=False, rewrite=True)

    def apply(
        self, old: FirewallState, new: FirewallState, meanwhile: Callable[[], None] = lambda: None
    ) -> None:
        """Move the tables from `old` to `new` in one transaction; on failure nothing changed.

        `meanwhile`: the caller's own work, done while the helper commits (it must not use
        this firewall or the helper). If it fails, the transaction is undone and its error
        raised; if the transaction fails, its work stands (the caller undoes it)."""
        document = plan.delta(old, new)
        with self._lock:
            self._forwarding(new)
            if not document["nftables"]:  # nothing of ours changed (a stopped container's)
                meanwhile()
                self._applied = new
                return
            sent = self._nft.send(json.dumps(document))
            try:
                meanwhile()
            except BaseException:
                self._abandon(sent, new, old)
                raise
            try:
                sent.answer()
                self._host.committed()
            except KernelError as exc:
                # The tables were not those of `old` (flushed behind our back, or out of step
                # after a crash); a full rebuild reaches the same end state in one transaction.
                try:
                    self._commit(self._rebuild(new))
                except KernelError:
                    raise exc from None
            if _bridges(old) != _bridges(new):
                try:
                    self._host.follow(new.networks, strict=True, rewrite=False)
                except KernelError:
                    self._back_to(new, old)
                    self._host.follow(old.networks, strict=False, rewrite=False)
                    raise
            self._segments(old, new)
            self._applied, self._removed = new, False

    def _segments(self, old: FirewallState | None, new: FirewallState) -> None:
        """Each segment's own bridge table, made again where its endpoints changed (all of
        them without `old`). Best effort: a segment being removed has no table to keep, and
        the host's tables are right whatever happens here."""
        now = plan.segment_endpoints(new)
        if not now:
            return
        was = plan.segment_endpoints(old) if old is not None else {}
        for net in new.networks:
            if not net.segment or (
                net.network_id in was and was[net.network_id] == now[net.network_id]
            ):
                continue
            path = os.path.join(self._segments_dir, net.segment)
            try:
                with self._helper.namespace(path) as nft:
                    nft.run_json(plan.segment_table(now[net.network_id], net.icc))
            except (KernelError, OSError) as exc:
                log.warning("firewall: the table of segment %s not made: %s", net.segment, exc)

    def _abandon(self, sent: SentCommand, new: FirewallState, old: FirewallState) -> None:
        """The caller's work failed while `sent` (old → new) ran: back to `old` if it went
        through. Best effort: the caller's error is the one raised."""
        try:
            sent.answer()
        except KernelError:
            return  # nothing changed
        self._host.committed()
        try:
            self._back_to(new, old)
        except KernelError as exc:
            log.warning("firewall: undoing a change after a failure failed: %s", exc)

    def _back_to(self, new: FirewallState, old: FirewallState) -> None:
        try:
            self._commit(plan.delta(new, old))
        except KernelError:
            self._commit(self._rebuild(old))

    def _rebuild(self, state: FirewallState) -> plan.Document:
        """The tables for `state` from nothing, with the flows traced now."""
        document = plan.rebuild(state)
        if self._traces:
            document["nftables"] += tracing.document(list(self._traces.values()))["nftables"]
        return document

    def remove(self) -> None:
        """Delete both tables whole, and what we added to the host's firewalls. Idempotent."""
        with self._lock:
            self._commit(plan.teardown())
            self._applied, self._removed = None, True
            self._traces = {}
            self._host.remove()

    # --- tracing -------------------------------------------------------------------------

    def trace(self, flow: Flow) -> int:
        """Have the kernel trace `flow` (nftrace) until `untrace` is given the token returned."""
        with self._lock:
            if self._removed or self._applied is None:
                raise KernelError("hatoba's nftables tables are not there to trace in")
            token = next(self._trace_tokens)
            traces = {**self._traces, token: flow}
            self._commit(tracing.document(list(traces.values())))
            self._traces = traces
            return token

    def untrace(self, token: int) -> None:
        """Stop tracing a flow; the trace chains go with the last one. Best effort: a reset
        or a rebuild may have taken them already."""
        with self._lock:
            traces = {k: v for k, v in self._traces.items() if k != token}
            if len(traces) == len(self._traces):
                return
            self._traces = traces
            if self._removed or self._applied is None:
                return
            try:
                self._commit(tracing.document(list(traces.values())))
            except KernelError as exc:
                # the tables changed behind our back: the watcher's rebuild leaves this out
                log.warning("firewall: ending the trace of a flow failed: %s", exc)

    def warnings(self) -> list[str]:
        """What keeps hatoba's traffic from passing the host's firewalls, as last seen."""
        return list(self._host.warnings)

    def bridge_ready(self, bridge: str, internal: bool, routed: bool = False) -> None:
        """Per-bridge settings, once the bridge exists (`routed`: it is the host's link into
        a segment bridged in a namespace of its own, a veth, and takes the first two alone).

        * its interface group, by which our iptables chain knows hatoba's bridges
          (hostfw.bridge_group);
        * route_localnet: DNAT from 127.0.0.1 to a container routes a loopback source out of
          the bridge, which the kernel allows only then (the raw-table rule keeps others from
          using it).
        * nf_call_iptables: a container reaching a neighbour through a published port gets
          its answer straight across the bridge; only if bridged frames pass conntrack is the
          answer un-NATed, so hairpin can keep the client's address. Set on the bridge, it
          holds whatever the host's net.bridge.bridge-nf-call-iptables says (the br_netfilter
          module must be present, as Docker also requires).
        """
        settings = netlink.bridge_settings(
            bridge, hostfw.bridge_group(internal), bridged=not routed
        )
        self._links.request([settings], f"bridge {bridge}")

    def clear_udp_conntrack(self, ports: Sequence[FwPort]) -> None:
        fw_conntrack.clear_udp(self._home, ports)

    def _forwarding(self, state: FirewallState) -> None:
        # Enabled while needed and never turned off: the host may route for its own reasons.
        # (With IPv6 forwarding on, the host's own interfaces ignore router advertisements
        # unless their accept_ra is 2, as with Docker.)
        for needed, key in (
            (state.forwarding_needed, "net/ipv4/ip_forward"),
            (state.forwarding6_needed, "net/ipv6/conf/all/forwarding"),
        ):
            if needed and self._home.read_sysctl(key) != "1":
                self._home.write_sysctl(key, "1")

    def _commit(self, document: plan.Document) -> None:
        self._nft.run_json(document)
        self._host.committed()

    def _list(self, command: dict[str, object]) -> dict[str, object] | None:
        """One nft list command; None when what it names does not exist."""
        try:
            return self._nft.run_json({"nftables": [command]})
        except KernelError:
            return None

    # --- repair --------------------------------------------------------------------------

    def start_watch(
        self, loop: asyncio.AbstractEventLoop, current: Callable[[], FirewallState]
    ) -> None:
        """Restore the tables within a second after someone else deletes part of them.

        The tables are restored to the state last committed here; `current` is asked only if
        nothing was committed yet. Call on the loop's thread (as stop_watch); the rebuild runs
        in the loop's default executor.
        """
        self.stop_watch()
        events = NftEvents(self._home)
        self._watch = _Watch(loop, events, current)
        loop.add_reader(events.fileno(), self._on_events)

    def stop_watch(self) -> None:
        watch, self._watch = self._watch, None
        if watch is not None:
            watch.loop.remove_reader(watch.events.fileno())
            for pending in (watch.pending, watch.host_pending):
                if pending is not None:
                    pending.cancel()
            watch.events.close()

    def _on_events(self) -> None:
        watch = self._watch
        if watch is None:
            return
        try:
            commits = watch.events.read()
        except EventsLost:
            self._schedule(check_first=True, delay=_RESTORE_DELAY)
            self._schedule_host_check()
            return
        # any change to our tables by someone else (a flush, a deleted element, a rule
        # inserted into one of our chains) is undone: the rebuild restores their exact content
        if any(c.touched & _OURS and c.committer not in self._helper.pids for c in commits):
            self._schedule(check_first=False, delay=_RESTORE_DELAY)
        if any(c.reshaped - _OURS for c in commits):
            self._schedule_host_check()

    def _schedule(self, check_first: bool, delay: float) -> None:
        """On the loop: restore after `delay` (once, however many notifications come)."""
        watch = self._watch
        if watch is not None and watch.pending is None:
            watch.pending = watch.loop.call_later(delay, self._restore_later, check_first)

    def _schedule_host_check(self) -> None:
        """On the loop: look at the host's firewalls again once a burst of changes settled
        (someone enabled ufw, flushed FORWARD, reloaded firewalld, added a table)."""
        watch = self._watch
        if watch is not None and watch.host_pending is None:
            watch.host_pending = watch.loop.call_later(_HOST_CHECK_DELAY, self._host_check_later)

    def _host_check_later(self) -> None:
        watch = self._watch
        if watch is None:
            return
        watch.host_pending = None
        watch.loop.run_in_executor(None, self._check_host)

    def _check_host(self) -> None:
        """In a worker thread: repair what we added to the host's firewalls, note the rest."""
        with self._lock:
            if self._removed or self._applied is None:
                return
            self._host.look_again()
            self._host.follow(self._applied.networks, strict=False, rewrite=False)

    def _restore_later(self, check_first: bool) -> None:
        watch = self._watch
        if watch is None:
            return
        watch.pending = None
        watch.loop.run_in_executor(None, self._restore, watch, check_first)

    def _restore(self, watch: _Watch, check_first: bool) -> None:
        """In a worker thread: rebuild the tables unless `check_first` finds them intact."""
        with self._lock:
            if self._removed:
                return
            state = self._applied if self._applied is not None else watch.current()
            if check_first and self._intact(state):
                return
            try:
                self._commit(self._rebuild(state))
            except KernelError:
                # nothing else would bring us back: look again in a while
                watch.loop.call_soon_threadsafe(self._schedule, True, _RETRY_DELAY)
                return
            self._applied = state

    def _intact(self, state: FirewallState) -> bool:
        listing: list[dict[str, object]] = []
        try:
            for family in layout.FAMILIES:  # one list command per call: nft 1.0.6 fails on two
                table = {"table": {"family": family, "name": layout.TABLE}}
                listing += self._nft.run_json({"nftables": [{"list": table}]})["nftables"]
        except KernelError:
            return False
        expected = expected_shape(state) | tracing.shape(list(self._traces.values()))
        return listed_shape({"nftables": listing}) == expected

    def close(self) -> None:
        self.stop_watch()
        self._nft.close()
        self._links.close()
        self._generation.close()
        self._home.close()


def _bridges(state: FirewallState) -> list[tuple[str, bool]]:
    """What the host's firewalls are told about a state."""
    return [(n.bridge, n.internal) for n in state.networks]


class _Watch:
    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        events: NftEvents,
        current: Callable[[], FirewallState],
    ) -> None:
        self.loop = loop
        self.events = events
        self.current = current
        self.pending: asyncio.TimerHandle | None = None
        self.host_pending: asyncio.TimerHandle | None = None
