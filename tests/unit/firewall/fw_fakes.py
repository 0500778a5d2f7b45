"""A firewall and a port reserver for engine tests without root.

`ModelFirewall` runs every document through the nft-command model, so a test can compare what
the tables hold after an operation with what a fresh render of the records would hold, and
count the transactions each operation made.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import replace

from nft_model import Tables

from hatoba.errors import HatobaError, KernelError
from hatoba.firewall import FirewallState, FwPort, delta, rebuild, teardown
from hatoba.firewall.validate import already_allocated
from hatoba.model.network import IPAddress
from hatoba.model.ports import PortMapping, host_ips_overlap


class ModelFirewall:
    def __init__(self) -> None:
        self.tables = Tables()
        self.transactions = 0
        self.ready: list[str] = []
        self.cleared: list[FwPort] = []
        self.fail_next_apply = False
        # "sent", "answered", "undone" of each apply, in order
        self.events: list[str] = []

    def sync(self, state: FirewallState) -> None:
        self._run(rebuild(state))

    def apply(
        self, old: FirewallState, new: FirewallState, meanwhile: Callable[[], None] = lambda: None
    ) -> None:
        """As NftFirewall's: the transaction sent, `meanwhile` done, its answer read (and a
        failure of `meanwhile` undoes a transaction that went through)."""
        self.events.append("sent")
        try:
            meanwhile()
        except BaseException:
            self.events.append("answered")
            if not self.fail_next_apply:
                self.events.append("undone")
            self.fail_next_apply = False
            raise
        self.events.append("answered")
        if self.fail_next_apply:
            self.fail_next_apply = False
            raise KernelError("nft: injected failure")
        document = delta(old, new)
        if document["nftables"]:
            self._run(document)

    def remove(self) -> None:
        self._run(teardown())

    def bridge_ready(self, bridge: str, internal: bool, routed: bool = False) -> None:
        self.ready.append(bridge)

    def warnings(self) -> list[str]:
        return []

    def clear_udp_conntrack(self, ports: Sequence[FwPort]) -> None:
        self.cleared += [p for p in ports if p.protocol == "udp"]

    def _run(self, document: dict[str, list[dict[str, object]]]) -> None:
        self.tables.apply(document)  # type: ignore[arg-type]
        self.transactions += 1


class FakePorts:
    """Host ports by (ip, proto, port); random ports count up from 32768."""

    def __init__(self) -> None:
        self.held: dict[str, tuple[PortMapping, ...]] = {}
        self.host_busy: set[tuple[str, int]] = set()  # (proto, port) bound by a host process
        self._random = itertools.count(32768)
        # where each container's [::1] traffic would be proxied to
        self.proxied: dict[str, IPAddress | None] = {}

    def reserve(
        self,
        container_id: str,
        mappings: Sequence[PortMapping],
        *,
        endpoint: str = "",
        endpoint_id: str = "",
        proxy_to: IPAddress | None = None,
    ) -> tuple[PortMapping, ...]:
        taken = [m for held in self.held.values() for m in held]
        chosen: list[PortMapping] = []
        for m in mappings:
            port = m.host_port or next(self._random)
            pick = replace(m, host_port=port, host_port_end=0)
            if any(_clash(pick, other) for other in (*taken, *chosen)):
                raise already_allocated(str(m.host_ip or "0.0.0.0"), port)
            if (m.protocol, port) in self.host_busy:
                raise HatobaError(f"listen {m.protocol}4 0.0.0.0:{port}: address already in use")
            chosen.append(pick)
        self.held[container_id] = (*self.held.get(container_id, ()), *chosen)
        self.proxied[container_id] = proxy_to
        return tuple(chosen)

    def release(self, container_id: str, mappings: Sequence[PortMapping] | None = None) -> None:
        self.held.pop(container_id, None)


def _clash(a: PortMapping, b: PortMapping) -> bool:
    same_number = (a.protocol, a.host_port) == (b.protocol, b.host_port)
    return same_number and host_ips_overlap(a.host_ip, b.host_ip)
