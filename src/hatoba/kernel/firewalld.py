"""firewalld through its D-Bus API: hatoba's bridges in a zone of ours, `hatoba` (target ACCEPT).

Docker does the same with its `docker` zone. firewalld's own forward chain rejects whatever
no zone accepts, so without this a host running firewalld cuts containers off. The zone is
permanent configuration, created once (with a reload, as Docker does); its interfaces are
runtime configuration, set at every change, and set again after a firewalld reload (which
drops runtime changes: the firewall adapter sees the reload rewrite firewalld's table).

Only a firewalld that manages this network namespace is touched: the process that owns the
bus name must be in it. A hatoba service in a test namespace must not add its bridges to the
machine's firewalld.

jeepney (pure Python, no dependencies, the D-Bus layer of secretstorage/keyring) speaks the
protocol: the alternative, dbus-python, needs a GLib main loop and a C build, and would run
on the service's worker thread all the same.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from jeepney import DBusAddress, DBusErrorResponse, new_method_call
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import DBusConnection, open_dbus_connection
from jeepney.wrappers import unwrap_msg

from hatoba.errors import KernelError

BUS_NAME = "org.fedoraproject.FirewallD1"
ZONE = "hatoba"
_MAIN = DBusAddress("/org/fedoraproject/FirewallD1", BUS_NAME, BUS_NAME)
_ZONES = DBusAddress("/org/fedoraproject/FirewallD1", BUS_NAME, f"{BUS_NAME}.zone")
_CONFIG = DBusAddress("/org/fedoraproject/FirewallD1/config", BUS_NAME, f"{BUS_NAME}.config")
_ZONE_SETTINGS = {
    "short": ("s", "hatoba"),
    "description": ("s", "hatoba's container bridges: their traffic is filtered by hatoba"),
    "target": ("s", "ACCEPT"),
}
_TIMEOUT = 10.0
_RELOAD_TIMEOUT = 60.0


class Firewalld:
    def __init__(self, home_inode: int) -> None:
        self._home_inode = home_inode

    def sync(self, bridges: Sequence[str]) -> bool:
        """Our zone holds exactly `bridges`; False (and nothing done) when no firewalld
        manages this namespace."""
        with _Session.open(self._home_inode) as session:
            if session is None:
                return False
            session.ensure_zone()
            present = set(session.call(_ZONES, "getInterfaces", "s", ZONE))
            for bridge in bridges:
                if bridge not in present:
                    # moves it from another zone too (a NetworkManager default, say)
                    session.call(_ZONES, "changeZoneOfInterface", "ss", ZONE, bridge)
            for stale in sorted(present - set(bridges)):
                session.call(_ZONES, "removeInterface", "ss", ZONE, stale)
            return True


class _Session:
    def __init__(self, conn: DBusConnection | None) -> None:
        self._conn = conn

    @classmethod
    def open(cls, home_inode: int) -> _Session:
        """A session with the firewalld of this namespace; `None` inside when there is none."""
        try:
            conn = open_dbus_connection(bus="SYSTEM")
        except (OSError, ValueError, KeyError):
            return cls(None)  # no system bus: no firewalld either
        session = cls(conn)
        try:
            if not session._manages(home_inode):
                session.close()
        except BaseException:
            session.close()
            raise
        return session

    def _manages(self, home_inode: int) -> bool:
        if not self._bus(message_bus.NameHasOwner(BUS_NAME))[0]:
            return False
        pid = self._bus(message_bus.GetConnectionUnixProcessID(BUS_NAME))[0]
        try:
            return os.stat(f"/proc/{pid}/ns/net").st_ino == home_inode
        except OSError:
            return False  # not visible from here: not ours to change

    def ensure_zone(self) -> None:
        if ZONE in self.call(_ZONES, "getZones", ""):
            return
        if ZONE not in self.call(_CONFIG, "getZoneNames", ""):
            self.call(_CONFIG, "addZone2", "sa{sv}", ZONE, _ZONE_SETTINGS)
        # a permanent zone exists at runtime only after a reload
        self.call(_MAIN, "reload", "", timeout=_RELOAD_TIMEOUT)

    def call(
        self,
        address: DBusAddress,
        method: str,
        signature: str,
        *args: Any,
        timeout: float = _TIMEOUT,
    ) -> Any:
        reply = self._bus(new_method_call(address, method, signature, args), timeout)
        return reply[0] if reply else None

    def _bus(self, message: Any, timeout: float = _TIMEOUT) -> tuple[Any, ...]:
        assert self._conn is not None
        try:
            reply = self._conn.send_and_get_reply(message, timeout=timeout)
        except (OSError, TimeoutError) as exc:
            raise KernelError(f"firewalld (D-Bus): {exc}") from exc
        try:
            return tuple(unwrap_msg(reply))
        except DBusErrorResponse as exc:
            raise KernelError(f"firewalld: {exc.name}: {' '.join(map(str, exc.data))}") from exc

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> _Session | None:
        return self if self._conn is not None else None

    def __exit__(self, *exc: object) -> None:
        self.close()
