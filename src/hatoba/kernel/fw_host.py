"""The host's own firewalls beside hatoba's tables: iptables' and ip6tables' FORWARD and
firewalld kept open to hatoba's bridges, other programs' dropping chains reported (policy:
`hatoba.firewall.hostfw`).

Everything here is looked at again whenever the bridges change, at start-up, on a firewall
reload and when the ruleset changes outside our tables; what it finds is kept as warnings,
logged once each time they change. The host's chains, and iptables' FORWARD and our chain
with them, are listed again only when someone else committed to nftables since the last
listing (the ruleset's generation id moved on by more than our own commits): when nothing
else changed and the host has no firewalld, a network create or rm costs one generation
request and a failed connect to the system bus.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from hatoba.errors import KernelError
from hatoba.firewall import hostfw
from hatoba.firewall.model import FwNetwork
from hatoba.kernel.firewalld import ZONE, Firewalld
from hatoba.kernel.fw_netns import HomeNetns
from hatoba.kernel.iptables import IptablesRestore

log = logging.getLogger("hatoba.firewall")

# one nft list command → its JSON listing, or None when the object listed does not exist
Lister = Callable[[dict[str, Any]], dict[str, Any] | None]


class HostFirewalls:
    def __init__(self, home: HomeNetns, list_nft: Lister, generation: Callable[[], int]) -> None:
        self._iptables = {
            "ip": IptablesRestore(home, "iptables-restore"),
            "ip6": IptablesRestore(home, "ip6tables-restore"),
        }
        self._firewalld = Firewalld(home.inode)
        self._list = list_nft
        self._generation = generation
        # every chain of the ruleset as last listed, and the generation then plus our own
        # commits since: the listing holds while the generation is that
        self._chains: list[hostfw.HostChain] | None = None
        self._listing_holds_at = 0
        # what iptables lacked at the last look (by family), which holds with the listing
        self._troubles: dict[str, str] = {}
        self.warnings: tuple[str, ...] = ()

    def committed(self) -> None:
        """Our own commit went through: it moved the generation on by one."""
        self._listing_holds_at += 1

    def look_again(self) -> None:
        """List the chains at the next follow whatever the generation says."""
        self._chains = None

    def _host_chains(self) -> tuple[list[hostfw.HostChain], bool]:
        """The ruleset's chains, and whether they were listed now (the last listing did not
        hold: someone else committed since)."""
        if self._chains is not None:
            generation = self._generation()
            if generation == self._listing_holds_at:
                return self._chains, False
        else:
            generation = self._generation()
        self._listing_holds_at = generation
        self._chains = hostfw.parse_chains(self._list({"list": {"chains": None}}) or {})
        return self._chains, True

    def follow(self, networks: Sequence[FwNetwork], *, strict: bool, rewrite: bool) -> None:
        """Open iptables and firewalld to the bridges of `networks`, and note what else drops.

        Our iptables chain names the bridges by interface group (hostfw.py), so it is the same
        for any networks: it is written when it lost something, or with `rewrite` (at start, on
        a reload). firewalld's zone lists the bridges by name. `strict`: a failure raises (the
        operation undoes itself); otherwise it is kept as a warning.
        """
        chains, listed = self._host_chains()
        notes: list[str] = []
        # iptables(-nft) keeps its rules in nftables: while nobody else committed there, its
        # chains are as last looked at (and repaired), and are not listed again (two list
        # commands per family, ~1 ms each where FORWARD exists)
        if listed or rewrite:
            troubles = self._check_iptables(chains, strict=strict, rewrite=rewrite)
        else:
            troubles = self._troubles
        try:
            self._firewalld.sync([n.bridge for n in networks])
        except KernelError as exc:
            if strict:
                raise
            notes.append(f"hatoba's bridges could not be put in firewalld's zone {ZONE}: {exc}")
        ipv6 = any(s.version == 6 for n in networks for s in n.subnets)
        self._note(chains, troubles, notes, ipv6=ipv6)

    def _check_iptables(
        self, chains: Sequence[hostfw.HostChain], *, strict: bool, rewrite: bool
    ) -> dict[str, str]:
        """Our chain and jump in each family's FORWARD, written where they lost something;
        what kept them from being written, by family."""
        troubles: dict[str, str] = {}
        self._troubles = troubles
        for family, iptables in self._iptables.items():
            if not hostfw.iptables_forward(chains, family):
                continue
            trouble = iptables.missing()
            if trouble is None:
                try:
                    facts = self._iptables_facts(family)
                    if rewrite or not hostfw.iptables_intact(facts):
                        self._chains = None  # iptables-restore commits too
                        iptables.run(hostfw.iptables_sync(facts))
                except KernelError as exc:
                    if strict:
                        self._chains = None  # looked at again next time
                        raise
                    trouble = str(exc)
            if trouble is not None:
                troubles[family] = trouble
        return troubles

    def remove(self) -> None:
        """Take our chain and jump out of iptables and our bridges out of firewalld's zone."""
        errors: list[KernelError] = []
        for family, iptables in self._iptables.items():
            try:
                script = hostfw.iptables_removal(self._iptables_facts(family))
                if script is not None:
                    iptables.run(script)
            except KernelError as exc:
                errors.append(exc)
        try:
            self._firewalld.sync(())
        except KernelError as exc:
            errors.append(exc)
        if errors:
            raise errors[0]

    def _iptables_facts(self, family: str) -> hostfw.IptablesFacts:
        forward = self._list(_chain(hostfw.IPTABLES_FORWARD, family)) or {}
        return hostfw.iptables_facts(forward, self._list(_chain(hostfw.OUR_CHAIN, family)))

    def _note(
        self,
        chains: Sequence[hostfw.HostChain],
        troubles: dict[str, str],
        notes: list[str],
        *,
        ipv6: bool,
    ) -> None:
        found = [
            hostfw.dropping_chain_warning(c)
            for c in hostfw.dropping_chains(chains, iptables_handled=True, ipv6=ipv6)
        ]
        found += [
            hostfw.dropping_chain_warning(
                c, f"hatoba could not add its rules there ({troubles[c.family]})"
            )
            for c in chains
            if c.is_iptables_forward
            and c.policy == "drop"
            and c.family in troubles
            and (ipv6 or c.family == "ip")
        ]
        found += notes
        if tuple(found) == self.warnings:
            return
        for text in found:
            if text not in self.warnings:
                log.warning("host firewall: %s", text)
        for text in self.warnings:
            if text not in found:
                log.info("host firewall: resolved: %s", text)
        self.warnings = tuple(found)


def _chain(name: str, family: str) -> dict[str, Any]:
    table = {"family": family, "table": hostfw.IPTABLES_TABLE, "name": name}
    return {"list": {"chain": table}}
