"""Published ports: `-p [ip:]hostPort:containerPort[/proto]` once parsed."""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address

from hatoba.model.portspec import PROTOCOLS as PROTOCOLS


@dataclass(frozen=True, order=True)
class PortMapping:
    container_port: int
    protocol: str = "tcp"
    host_ip: IPv4Address | None = None
    # 0 until the engine picks one for `-p containerPort`
    host_port: int = 0
    # `-p 8000-8010:80`: any free port from host_port to host_port_end (0: no range)
    host_port_end: int = 0

    @property
    def key(self) -> str:
        return f"{self.container_port}/{self.protocol}"
