"""Published ports: `-p [ip:]hostPort:containerPort[/proto]` once parsed."""

from __future__ import annotations

from dataclasses import dataclass

from hatoba.model.network import IPAddress
from hatoba.model.portspec import PROTOCOLS as PROTOCOLS


@dataclass(frozen=True, order=True)
class PortMapping:
    container_port: int
    protocol: str = "tcp"
    # None: every host address of both families; 0.0.0.0 or `::`: every one of that family
    host_ip: IPAddress | None = None
    # 0 until the engine picks one for `-p containerPort`
    host_port: int = 0
    # `-p 8000-8010:80`: any free port from host_port to host_port_end (0: no range)
    host_port_end: int = 0

    @property
    def key(self) -> str:
        return f"{self.container_port}/{self.protocol}"


def host_ips_overlap(a: IPAddress | None, b: IPAddress | None) -> bool:
    """Whether mappings of one host port on these host addresses would take the same
    connections (so only one of them can be held)."""
    if a is None or b is None:
        return True
    if a.version != b.version:
        return False
    return a == b or a.is_unspecified or b.is_unspecified
