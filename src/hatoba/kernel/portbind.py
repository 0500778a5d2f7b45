"""Published host ports, reserved by binding them in the host namespace (Docker ≥ 28's idea).

A bound socket makes the kernel refuse the port to every other process for as long as the
mapping lives, so "is it free?" and "keep it" are one step with no race. TCP sockets are bound
but never listen, UDP sockets get a drop-all filter: DNAT takes the traffic before either would
see it. A mapping with no host address holds the port on 0.0.0.0 and on `::` (IPv6 only), one
on 0.0.0.0 or `::` that family alone. The error texts are Docker's.

The exception is IPv6's loopback, which NAT cannot serve (`hatoba.kernel.loopback_proxy`): the
socket holding a port on ::1 (or on `::`, which covers it) is handed to the proxy, with the
container's address to carry [::1]'s connections to.
"""

from __future__ import annotations

import ctypes
import errno
import os
import socket
import struct
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace

from hatoba.errors import Conflict, HatobaError, KernelError
from hatoba.firewall.validate import already_allocated
from hatoba.kernel.fw_netns import HomeNetns
from hatoba.kernel.loopback_proxy import LoopbackProxy
from hatoba.model.network import IPAddress
from hatoba.model.ports import PortMapping, host_ips_overlap

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
# what a mapping with no host address holds: every address of both families
_EVERYWHERE = ((socket.AF_INET, _ANY), (socket.AF_INET6, "::"))
# the addresses whose holder serves [::1] through the proxy (see _Held.loopback6)
_PROXIED = ("::", "::1")
# the host has no IPv6 (none in the kernel, or none on its loopback)
_NO_IPV6 = (errno.EAFNOSUPPORT, errno.EADDRNOTAVAIL)


@dataclass
class _Held:
    mapping: PortMapping  # with host_port chosen, host_port_end 0
    # one per address family held; none: the kernel has no such protocol (sctp), held by us
    socks: list[socket.socket]
    proxy: Future[None] | None = field(default=None)

    def loopback6(self) -> socket.socket | None:
        """The socket that [::1]'s traffic to the port reaches, if this mapping covers it."""
        ip = self.mapping.host_ip
        if ip is not None and not (ip.version == 6 and (ip.is_unspecified or ip.is_loopback)):
            return None
        return next((s for s in self.socks if s.family == socket.AF_INET6), None)

    def close(self) -> None:
        for sock in self.socks:
            sock.close()


def _ip(mapping: PortMapping) -> str:
    return _ANY if mapping.host_ip is None else str(mapping.host_ip)


def _number(mapping: PortMapping) -> tuple[str, int]:
    return (mapping.protocol, mapping.host_port)


def _overlap(a: PortMapping, b: PortMapping) -> bool:
    return _number(a) == _number(b) and host_ips_overlap(a.host_ip, b.host_ip)


def _addresses(mapping: PortMapping) -> tuple[tuple[int, str], ...]:
    ip = mapping.host_ip
    if ip is None:
        return _EVERYWHERE
    return ((socket.AF_INET if ip.version == 4 else socket.AF_INET6, str(ip)),)


class PortReservations:
    def __init__(self) -> None:
        """Binds in the network namespace of the calling thread (the host)."""
        self._home = HomeNetns()
        self._held: dict[str, list[_Held]] = {}
        # the same, by (protocol, host port): a conflict check looks at one number only
        self._by_number: dict[tuple[str, int], list[_Held]] = {}
        self._lock = threading.Lock()
        self._proxy = LoopbackProxy(self._home)

    def reserve(
        self,
        container_id: str,
        mappings: Sequence[PortMapping],
        *,
        endpoint: str = "",
        endpoint_id: str = "",
        proxy_to: IPAddress | None = None,
    ) -> tuple[PortMapping, ...]:
        """Hold every mapping's host port, or none of them; return the mappings with the
        host ports chosen. With `endpoint`, errors read as Docker's "driver failed programming
        external connectivity on endpoint NAME (ID): …". With `proxy_to` (the container's
        address), what reaches a held port on [::1] goes on to its container port there."""
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
                loopback = h.loopback6()
                if proxy_to is not None and loopback is not None and h.mapping.protocol != "sctp":
                    target = (str(proxy_to), h.mapping.container_port)
                    h.proxy = self._proxy.serve(loopback, h.mapping.protocol, target)
        return tuple(h.mapping for h in taken)

    def release(self, container_id: str, mappings: Sequence[PortMapping] | None = None) -> None:
        """Give back the container's ports (only `mappings` when given). Idempotent."""
        with self._lock:
            held = self._held.pop(container_id, [])
            keep = [h for h in held if mappings is not None and h.mapping not in mappings]
            for h in held:
                if h not in keep:
                    if h.proxy is not None:
                        self._proxy.stop(h.proxy)
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
        self._proxy.close()
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
                try:
                    held = self._bind_any_port(mapping)
                except Conflict:  # the number the kernel offered is taken in the other family
                    continue
                if not self._allocated(held.mapping, pending):
                    return held
                spares.append(held)
        finally:
            for spare in spares:
                spare.close()
        raise already_allocated(_ip(mapping), 0)

    def _bind_any_port(self, mapping: PortMapping) -> _Held:
        first, *others = _addresses(mapping)
        sock = self._bind_one(mapping, first)
        if sock is None:
            # No such protocol in this kernel (sctp): a TCP bind picks the number, we hold it.
            probe = self._bind_one(replace(mapping, protocol="tcp"), first)
            if probe is None:
                raise KernelError("no TCP in this kernel")
            with probe:
                return _Held(replace(mapping, host_port=probe.getsockname()[1]), [])
        chosen = replace(mapping, host_port=sock.getsockname()[1])
        socks = [sock]
        try:
            socks += self._bind_each(chosen, others)
        except HatobaError:
            sock.close()
            raise
        return _Held(chosen, socks)

    def _allocated(self, mapping: PortMapping, pending: list[_Held]) -> bool:
        held = [*self._by_number.get(_number(mapping), ()), *pending]
        return any(_overlap(mapping, h.mapping) for h in held)

    def _bind(self, mapping: PortMapping) -> list[socket.socket]:
        return self._bind_each(mapping, _addresses(mapping))

    def _bind_each(
        self, mapping: PortMapping, addresses: Sequence[tuple[int, str]]
    ) -> list[socket.socket]:
        """A socket on each address, or none at all; `::` for a mapping with no host address
        is left out when the host has no IPv6."""
        socks: list[socket.socket] = []
        try:
            for address in addresses:
                try:
                    sock = self._bind_one(mapping, address)
                except KernelError as exc:
                    if mapping.host_ip is None and exc.errno in _NO_IPV6:
                        continue
                    raise
                if sock is not None:
                    socks.append(sock)
        except HatobaError:
            for sock in socks:
                sock.close()
            raise
        return socks

    def _bind_one(self, mapping: PortMapping, address: tuple[int, str]) -> socket.socket | None:
        """None: the kernel has no such protocol (sctp)."""
        family, host = address
        kind, proto = _SOCK_TYPES[mapping.protocol]

        def bind() -> socket.socket | None:
            try:
                sock = socket.socket(family, kind | socket.SOCK_CLOEXEC, proto)
            except OSError as exc:
                if exc.errno in (errno.EPROTONOSUPPORT, errno.ESOCKTNOSUPPORT):
                    return None
                raise KernelError(f"socket: {exc.strerror}", exc.errno) from exc
            try:
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                if mapping.protocol == "tcp" and host in _PROXIED:
                    # it may listen for the [::1] proxy: the connections the proxy closed
                    # first linger in TIME-WAIT on the port, and only a socket with
                    # SO_REUSEADDR binds it again before they expire (a listener stays
                    # exclusive with it; Docker's proxy sets it too)
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if kind == socket.SOCK_DGRAM:
                    sock.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_FILTER, _DROP_ALL_PROG)
                sock.bind((host, mapping.host_port))
            except OSError as exc:
                sock.close()
                raise _bind_error(mapping, family, host, exc) from None
            return sock

        return self._home.call(bind)


def _bind_error(mapping: PortMapping, family: int, host: str, exc: OSError) -> HatobaError:
    reason = os.strerror(exc.errno or 0)
    # Docker 20.10's text, userland proxy or not (it binds through a dummy proxy then)
    version, where = ("4", host) if family == socket.AF_INET else ("6", f"[{host}]")
    text = (
        f"Error starting userland proxy: listen {mapping.protocol}{version} "
        f"{where}:{mapping.host_port}: bind: {reason[:1].lower()}{reason[1:]}"
    )
    if exc.errno == errno.EADDRINUSE:
        return Conflict(text)
    if exc.errno in _NO_IPV6:
        return KernelError(text, exc.errno)
    return HatobaError(text)


def _on_endpoint(endpoint: str, endpoint_id: str) -> str:
    return (
        f"driver failed programming external connectivity on endpoint {endpoint} ({endpoint_id}): "
    )
