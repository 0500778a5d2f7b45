"""Published host ports, reserved by binding them in the host namespace (Docker ≥ 28's idea).

A bound socket makes the kernel refuse the port to every other process for as long as the
mapping lives, so "is it free?" and "keep it" are one step with no race. TCP sockets are bound
but never listen, UDP sockets get a drop-all filter: DNAT takes the traffic before either would
see it. The error texts are Docker's.
"""

from __future__ import annotations

import ctypes
import errno
import os
import socket
import struct
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace

from hatoba.errors import Conflict, HatobaError, KernelError
from hatoba.firewall.validate import already_allocated
from hatoba.kernel.fw_netns import HomeNetns
from hatoba.model.ports import PortMapping

_SO_ATTACH_FILTER = 26
_BPF_RET_K = 0x06
_DROP_ALL = ctypes.create_string_buffer(struct.pack("HBBI", _BPF_RET_K, 0, 0, 0))
_DROP_ALL_PROG = struct.pack("HL", 1, ctypes.addressof(_DROP_ALL))
_SOCK_TYPES = {
    "tcp": (socket.SOCK_STREAM, socket.IPPROTO_TCP),
    "udp": (socket.SOCK_DGRAM, socket.IPPROTO_UDP),
    "sctp": (socket.SOCK_STREAM, socket.IPPROTO_SCTP),
}
_RANDOM_TRIES = 16
_ANY = "0.0.0.0"


@dataclass
class _Held:
    mapping: PortMapping  # with host_port chosen, host_port_end 0
    sock: socket.socket | None  # None: the kernel has no such protocol (sctp), held by us only

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()


def _ip(mapping: PortMapping) -> str:
    return _ANY if mapping.host_ip is None else str(mapping.host_ip)


def _number(mapping: PortMapping) -> tuple[str, int]:
    return (mapping.protocol, mapping.host_port)


def _overlap(a: PortMapping, b: PortMapping) -> bool:
    if a.protocol != b.protocol or a.host_port != b.host_port:
        return False
    return _ip(a) == _ip(b) or _ANY in (_ip(a), _ip(b))


class PortReservations:
    def __init__(self) -> None:
        """Binds in the network namespace of the calling thread (the host)."""
        self._home = HomeNetns()
        self._held: dict[str, list[_Held]] = {}
        # the same, by (protocol, host port): a conflict check looks at one number only
        self._by_number: dict[tuple[str, int], list[_Held]] = {}
        self._lock = threading.Lock()

    def reserve(
        self,
        container_id: str,
        mappings: Sequence[PortMapping],
        *,
        endpoint: str = "",
        endpoint_id: str = "",
    ) -> tuple[PortMapping, ...]:
        """Hold every mapping's host port, or none of them; return the mappings with the
        host ports chosen. With `endpoint`, errors read as Docker's "driver failed programming
        external connectivity on endpoint NAME (ID): …"."""
        with self._lock:
            taken: list[_Held] = []
            try:
                for mapping in mappings:
                    taken.append(self._take(mapping, taken))
            except HatobaError as exc:
                for held in taken:
                    held.close()
                if endpoint:
                    raise type(exc)(_on_endpoint(endpoint, endpoint_id) + exc.message) from None
                raise
            self._held.setdefault(container_id, []).extend(taken)
            for h in taken:
                self._by_number.setdefault(_number(h.mapping), []).append(h)
        return tuple(h.mapping for h in taken)

    def release(self, container_id: str, mappings: Sequence[PortMapping] | None = None) -> None:
        """Give back the container's ports (only `mappings` when given). Idempotent."""
        with self._lock:
            held = self._held.pop(container_id, [])
            keep = [h for h in held if mappings is not None and h.mapping not in mappings]
            for h in held:
                if h not in keep:
                    h.close()
                    same = self._by_number[_number(h.mapping)]
                    same.remove(h)
                    if not same:
                        del self._by_number[_number(h.mapping)]
            if keep:
                self._held[container_id] = keep

    def held(self, container_id: str) -> tuple[PortMapping, ...]:
        with self._lock:
            return tuple(h.mapping for h in self._held.get(container_id, []))

    def close(self) -> None:
        with self._lock:
            for held in self._held.values():
                for h in held:
                    h.close()
            self._held.clear()
            self._by_number.clear()
        self._home.close()

    # --- choosing and binding --------------------------------------------------------------

    def _take(self, mapping: PortMapping, pending: list[_Held]) -> _Held:
        if mapping.host_port == 0:
            return self._take_random(mapping, pending)
        last = mapping.host_port_end or mapping.host_port
        if last == mapping.host_port:
            return self._take_exact(replace(mapping, host_port_end=0), pending)
        for port in range(mapping.host_port, last + 1):
            try:
                return self._take_exact(replace(mapping, host_port=port, host_port_end=0), pending)
            except Conflict:
                continue
        raise already_allocated(_ip(mapping), f"{mapping.host_port}-{last}")

    def _take_exact(self, mapping: PortMapping, pending: list[_Held]) -> _Held:
        if self._allocated(mapping, pending):
            raise already_allocated(_ip(mapping), mapping.host_port)
        return _Held(mapping, self._bind(mapping))

    def _take_random(self, mapping: PortMapping, pending: list[_Held]) -> _Held:
        spares: list[_Held] = []  # kept bound while trying, so the kernel offers another port
        try:
            for _ in range(_RANDOM_TRIES):
                held = self._bind_any_port(mapping)
                if not self._allocated(held.mapping, pending):
                    return held
                spares.append(held)
        finally:
            for spare in spares:
                spare.close()
        raise already_allocated(_ip(mapping), 0)

    def _bind_any_port(self, mapping: PortMapping) -> _Held:
        sock = self._bind(mapping)
        if sock is None:
            # No such protocol in this kernel (sctp): a TCP bind picks the number, we hold it.
            probe = self._bind(replace(mapping, protocol="tcp"))
            if probe is None:
                raise KernelError("no TCP in this kernel")
            with probe:
                return _Held(replace(mapping, host_port=probe.getsockname()[1]), None)
        return _Held(replace(mapping, host_port=sock.getsockname()[1]), sock)

    def _allocated(self, mapping: PortMapping, pending: list[_Held]) -> bool:
        held = [*self._by_number.get(_number(mapping), ()), *pending]
        return any(_overlap(mapping, h.mapping) for h in held)

    def _bind(self, mapping: PortMapping) -> socket.socket | None:
        kind, proto = _SOCK_TYPES[mapping.protocol]

        def bind() -> socket.socket | None:
            try:
                sock = socket.socket(socket.AF_INET, kind | socket.SOCK_CLOEXEC, proto)
            except OSError as exc:
                if exc.errno in (errno.EPROTONOSUPPORT, errno.ESOCKTNOSUPPORT):
                    return None
                raise KernelError(f"socket: {exc.strerror}", exc.errno) from exc
            try:
                if kind == socket.SOCK_DGRAM:
                    sock.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_FILTER, _DROP_ALL_PROG)
                sock.bind((_ip(mapping), mapping.host_port))
            except OSError as exc:
                sock.close()
                raise _bind_error(mapping, exc) from None
            return sock

        return self._home.call(bind)


def _bind_error(mapping: PortMapping, exc: OSError) -> HatobaError:
    reason = os.strerror(exc.errno or 0)
    # Docker 20.10's text, userland proxy or not (it binds through a dummy proxy then)
    text = (
        f"Error starting userland proxy: listen {mapping.protocol}4 "
        f"{_ip(mapping)}:{mapping.host_port}: bind: {reason[:1].lower()}{reason[1:]}"
    )
    return Conflict(text) if exc.errno == errno.EADDRINUSE else HatobaError(text)


def _on_endpoint(endpoint: str, endpoint_id: str) -> str:
    return (
        f"driver failed programming external connectivity on endpoint {endpoint} ({endpoint_id}): "
    )
