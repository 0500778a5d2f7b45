"""The host's own firewalls, pure: which of them would drop hatoba's forwarded traffic, what
hatoba adds to iptables, and what it says about the rest.

nftables runs every base chain on a hook, and a drop in any of them is final: an accept in
`inet hatoba`'s forward chain does not save a packet from another table's forward chain. So a
host firewall that drops forwarding (`iptables -P FORWARD DROP`, what ufw and Docker leave
behind; a hand-written `inet filter` with `policy drop`) cuts every container off. Each kind
is met by the means its owner offers:

* iptables (iptables-nft: table `ip filter`, base chain `FORWARD`; for IPv6 ip6tables' `ip6
  filter`): like Docker's DOCKER-USER/DOCKER-FORWARD, a chain of ours jumped to first from
  FORWARD, written with `iptables-restore --noflush` (`ip6tables-restore`). It accepts no
  more than `inet hatoba` lets through: what leaves a hatoba bridge (isolation, internal
  networks and ICC are decided by our table), and toward a bridge only replies and published
  flows (DNAT), so unsolicited traffic to a container stays refused by the host's policy too.
  Its rules name hatoba's bridges by their interface group (every bridge of a network that
  reaches out is in OPEN_GROUP, of an internal one in INTERNAL_GROUP), not by name: the chain
  is the same whatever networks exist, so creating or removing a network never runs
  iptables-restore (~14 ms a run, for each family).
* firewalld: our bridges in a zone of ours (the adapter, `hatoba.kernel.firewalld`).
* any other base chain on the forward hook whose policy is drop: another program's table, not
  ours to edit. It is named in warnings (`hatoba info`, the service log, the operations).

The rules name bridges, not addresses, so both families get the same ones. An `ip6` chain
that drops is named in warnings only while a network has IPv6.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from hatoba.firewall import layout as L

IPTABLES_TABLE, IPTABLES_FORWARD = "filter", "FORWARD"
# iptables-nft's table for IPv4, ip6tables-nft's for IPv6
IPTABLES_FAMILIES = ("ip", "ip6")
OUR_CHAIN = "HATOBA-FORWARD"
# the interface groups of hatoba's bridges ("hb" and a number; iproute2's groups are 0)
OPEN_GROUP, INTERNAL_GROUP = 0x68620001, 0x68620002
_FORWARDED_FAMILIES = frozenset({"ip", "inet", "bridge"})


@dataclass(frozen=True)
class HostChain:
    """A base chain of the host's ruleset, as `nft list chains` shows it."""

    family: str
    table: str
    name: str
    hook: str
    policy: str

    @property
    def label(self) -> str:
        return f"table {self.family} {self.table}, chain {self.name}"

    @property
    def is_iptables_forward(self) -> bool:
        return self.family in IPTABLES_FAMILIES and (self.table, self.name) == (
            IPTABLES_TABLE,
            IPTABLES_FORWARD,
        )


def parse_chains(listing: dict[str, Any]) -> list[HostChain]:
    """The base chains in `nft -j list chains` output."""
    out = []
    for obj in listing.get("nftables", []):
        chain = obj.get("chain")
        if chain is None or "hook" not in chain:
            continue
        out.append(
            HostChain(
                chain["family"],
                chain["table"],
                chain["name"],
                chain["hook"],
                chain.get("policy", "accept"),
            )
        )
    return out


def iptables_forward(chains: Iterable[HostChain], family: str = "ip") -> bool:
    """Whether the host has iptables' FORWARD chain of `family` (iptables-nft made it:
    someone uses it)."""
    return any(c.family == family and c.is_iptables_forward and c.hook == "forward" for c in chains)


def dropping_chains(
    chains: Iterable[HostChain], *, iptables_handled: bool, ipv6: bool = False
) -> list[HostChain]:
    """Other programs' forward chains whose policy drops what nothing in them accepts (`ip6`
    ones only when a network has IPv6)."""
    families = _FORWARDED_FAMILIES | ({"ip6"} if ipv6 else set())
    return [
        c
        for c in chains
        if c.hook == "forward"
        and c.policy == "drop"
        and c.family in families
        and c.table != L.TABLE
        and not (iptables_handled and c.is_iptables_forward)
    ]


# --- iptables ------------------------------------------------------------------------------


@dataclass(frozen=True)
class IptablesFacts:
    """What FORWARD and our chain hold now (from `nft -j list chain ...`)."""

    jumps: int = 0  # rules of FORWARD that jump to our chain
    jump_first: bool = False  # FORWARD's first rule is one of them
    rules: int | None = None  # rules in our chain; None when there is no such chain


def iptables_facts(forward: dict[str, Any], ours: dict[str, Any] | None) -> IptablesFacts:
    """From the listings of FORWARD and of our chain (None when it does not exist)."""
    targets = [_jump_target(r["rule"]) for r in forward.get("nftables", []) if "rule" in r]
    rules = None
    if ours is not None:
        rules = sum(1 for r in ours.get("nftables", []) if "rule" in r)
    return IptablesFacts(
        jumps=targets.count(OUR_CHAIN),
        jump_first=bool(targets) and targets[0] == OUR_CHAIN,
        rules=rules,
    )


def _jump_target(rule: dict[str, Any]) -> str | None:
    for expr in rule.get("expr", []):
        if "jump" in expr:
            return str(expr["jump"]["target"])
    return None


def bridge_group(internal: bool) -> int:
    """The interface group of a network's bridges, which our iptables rules match."""
    return INTERNAL_GROUP if internal else OPEN_GROUP


def iptables_rules() -> list[str]:
    """Our chain's rules (iptables-restore syntax): the same for any set of networks."""
    chain, open_, internal = OUR_CHAIN, f"{OPEN_GROUP:#x}", f"{INTERNAL_GROUP:#x}"
    replies = "-m conntrack --ctstate RELATED,ESTABLISHED"
    return [
        f"-A {chain} -m devgroup --src-group {open_} -j ACCEPT",
        # two rules: iptables-nft 1.8.9 loses RELATED,ESTABLISHED when DNAT is in the list
        f"-A {chain} -m devgroup --dst-group {open_} {replies} -j ACCEPT",
        f"-A {chain} -m devgroup --dst-group {open_} -m conntrack --ctstate DNAT -j ACCEPT",
        # nothing leaves an internal network's bridge, nothing comes in: it only hairpins
        # (between internal networks, our own table drops as it drops between any two)
        f"-A {chain} -m devgroup --src-group {internal} --dst-group {internal} -j ACCEPT",
    ]


def iptables_intact(facts: IptablesFacts) -> bool:
    return facts.jumps == 1 and facts.jump_first and facts.rules == len(iptables_rules())


def iptables_sync(facts: IptablesFacts) -> str:
    """`iptables-restore --noflush` input: our chain holds our rules and FORWARD jumps to it
    first, exactly once. Declaring a chain that exists flushes it."""
    lines = ["*filter", f":{OUR_CHAIN} - [0:0]"]
    if not (facts.jumps == 1 and facts.jump_first):
        lines += [f"-D {IPTABLES_FORWARD} -j {OUR_CHAIN}"] * facts.jumps
        lines.append(f"-I {IPTABLES_FORWARD} 1 -j {OUR_CHAIN}")
    lines += iptables_rules()
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"


def iptables_removal(facts: IptablesFacts) -> str | None:
    """`iptables-restore --noflush` input that removes our jumps and chain; None: none there."""
    if facts.jumps == 0 and facts.rules is None:
        return None
    lines = ["*filter"]
    if facts.rules is not None:
        lines.append(f":{OUR_CHAIN} - [0:0]")  # flushed, so that it can be deleted
    lines += [f"-D {IPTABLES_FORWARD} -j {OUR_CHAIN}"] * facts.jumps
    if facts.rules is not None:
        lines.append(f"-X {OUR_CHAIN}")
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"


# --- what is said about it -------------------------------------------------------------------


def dropping_chain_warning(
    chain: HostChain, why: str = "hatoba does not edit other programs' tables"
) -> str:
    """Why: what keeps hatoba from making the chain accept its traffic."""
    return (
        f"the host firewall's {chain.label} (hook forward) has policy drop and {why}: "
        "containers' forwarded traffic (to and from other hosts, published ports, between "
        "containers on a bridge) is dropped there unless that chain accepts it; accept "
        'hatoba\'s bridges in it (e.g. iifname "hatoba0" accept; oifname "hatoba0" accept) '
        "or set its policy to accept"
    )
