"""Host port reservations (PortReservations) and conntrack cleanup of removed UDP mappings."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from ipaddress import IPv4Address, IPv6Address

import pytest
from fw_world import PY, world

from hatoba.errors import Conflict, HatobaError
from hatoba.kernel.netns import call_in_netns
from hatoba.kernel.portbind import PortReservations
from hatoba.model.ports import PortMapping
from hatoba.testing.sandbox import HOST_UPLINK, Sandbox

pytestmark = pytest.mark.root

LISTEN = """
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(); print("ready", flush=True); sys.stdin.read()
"""


@contextmanager
def reservations() -> Iterator[tuple[Sandbox, PortReservations]]:
    with Sandbox() as sb:
        ports = call_in_netns(str(sb.host), PortReservations)
        try:
            yield sb, ports
        finally:
            ports.close()


def _bindable(
    sb: Sandbox, port: int, proto: str = "tcp", host: str = "0.0.0.0", *, reuse: bool = False
) -> bool:
    """Whether another process could bind the port now (without SO_REUSEADDR unless `reuse`,
    as a server that must bind past connections lingering in TIME-WAIT sets it); an IPv6
    `host` alone, as a server with IPV6_V6ONLY."""
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    family = socket.AF_INET6 if ":" in host else socket.AF_INET

    def attempt() -> bool:
        with socket.socket(family, kind) as s:
            if family == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, int(reuse))
            try:
                s.bind((host, port))
            except OSError:
                return False
            return True

    return call_in_netns(str(sb.host), attempt)


def test_a_port_held_by_a_host_process_is_refused_with_dockers_text() -> None:
    with reservations() as (sb, ports):
        holder = sb.popen([PY, "-c", LISTEN, "8091"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"ready"
        with pytest.raises(Conflict) as err:
            ports.reserve(
                "c1", [PortMapping(80, host_port=8091)], endpoint="p3", endpoint_id="f0ed"
            )
        assert err.value.message == (
            "driver failed programming external connectivity on endpoint p3 (f0ed): "
            "Error starting userland proxy: listen tcp4 0.0.0.0:8091: bind: address already in use"
        )
        assert ports.held("c1") == ()


def test_a_port_published_twice_is_already_allocated_and_reservations_are_all_or_nothing() -> None:
    with reservations() as (sb, ports):
        assert ports.reserve("c1", [PortMapping(80, host_port=8090)]) == (
            PortMapping(80, host_port=8090),
        )
        assert not _bindable(sb, 8090)
        for clash in (
            PortMapping(80, host_port=8090),
            PortMapping(80, host_ip=IPv4Address("127.0.0.1"), host_port=8090),
        ):
            with pytest.raises(Conflict, match="already allocated"):
                ports.reserve("c2", [PortMapping(81, host_port=8092), clash])
        with pytest.raises(Conflict) as err:
            ports.reserve("c2", [PortMapping(81, host_port=8092), PortMapping(80, host_port=8090)])
        assert err.value.message == "Bind for 0.0.0.0:8090 failed: port is already allocated"
        assert _bindable(sb, 8092) and ports.held("c2") == ()  # the first one was given back
        # another protocol is another port
        assert ports.reserve("c2", [PortMapping(80, "udp", host_port=8090)])[0].host_port == 8090
        ports.release("c1")
        assert _bindable(sb, 8090)
        assert ports.reserve("c3", [PortMapping(80, host_port=8090)])[0].host_port == 8090


def test_random_ranges_and_specific_addresses() -> None:
    with reservations() as (sb, ports):
        random_tcp, random_udp = ports.reserve("c1", [PortMapping(80), PortMapping(53, "udp")])
        assert random_tcp.host_port > 1024 and random_udp.host_port > 1024
        assert not _bindable(sb, random_tcp.host_port) and not _bindable(
            sb, random_udp.host_port, "udp"
        )
        # -p 8000-8002:80 takes the first free port of the range
        ports.reserve("c2", [PortMapping(80, host_port=8000)])
        assert (
            ports.reserve("c3", [PortMapping(80, host_port=8000, host_port_end=8002)])[0].host_port
            == 8001
        )
        ports.reserve("c4", [PortMapping(80, host_port=8002)])
        with pytest.raises(
            Conflict, match=r"Bind for 0.0.0.0:8000-8002 failed: port is already allocated"
        ):
            ports.reserve("c5", [PortMapping(80, host_port=8000, host_port_end=8002)])
        # two specific addresses do not clash; an address the host lacks is refused
        loopback = PortMapping(80, host_ip=IPv4Address("127.0.0.1"), host_port=8100)
        ports.reserve("c6", [loopback])
        with pytest.raises(HatobaError, match="cannot assign requested address"):
            ports.reserve("c7", [replace(loopback, host_ip=IPv4Address(HOST_UPLINK))])
        ports.release("c6", [loopback])
        assert ports.held("c6") == ()


def test_ipv6_a_port_on_no_address_holds_both_families_and_one_on_any_address_one() -> None:
    with reservations() as (sb, ports):
        ports.reserve("c1", [PortMapping(80, host_port=8200), PortMapping(53, "udp", None, 8200)])
        for proto in ("tcp", "udp"):
            assert not _bindable(sb, 8200, proto) and not _bindable(sb, 8200, proto, "::")
        v4, v6 = IPv4Address("0.0.0.0"), IPv6Address("::")
        ports.reserve("c2", [PortMapping(80, host_ip=v4, host_port=8201)])
        assert not _bindable(sb, 8201) and _bindable(sb, 8201, host="::")
        # the other family is free for another mapping, the same one is not
        ports.reserve("c3", [PortMapping(80, host_ip=v6, host_port=8201)])
        assert not _bindable(sb, 8201, host="::")
        loopback6 = PortMapping(80, host_ip=IPv6Address("::1"), host_port=8201)
        with pytest.raises(Conflict, match=r"Bind for ::1:8201 failed: port is already alloc"):
            ports.reserve("c4", [loopback6])
        with pytest.raises(Conflict, match=r"Bind for :::8200 failed"):
            ports.reserve("c4", [PortMapping(80, host_ip=v6, host_port=8200)])
        # a random port is one number for both families
        (random,) = ports.reserve("c5", [PortMapping(80)])
        assert not _bindable(sb, random.host_port) and not _bindable(
            sb, random.host_port, host="::"
        )
        ports.release("c1")
        assert _bindable(sb, 8200) and _bindable(sb, 8200, "udp", "::")


def test_ipv6_loopback_is_carried_to_the_container_by_the_proxy() -> None:
    """[::1] cannot be DNATed (IPv6 has no route_localnet): what reaches the held port there
    goes on to the target, TCP and UDP; the port's other addresses get nothing."""
    with world() as w:
        net = w.network("a", "172.18.0.0/16")
        a1 = w.container("a1", net, 2)
        w.serve(a1.ns)
        ports = call_in_netns(str(w.sb.host), PortReservations)
        try:
            mappings = [PortMapping(80, "tcp", None, 8300), PortMapping(80, "udp", None, 8300)]
            ports.reserve("a1", mappings, proxy_to=a1.ip)
            gateway = str(net.gateway)
            seen = [w.ask(None, "::1", 8300, proto) for proto in ("tcp", "udp")]
            assert seen == [gateway] * 2, seen
            assert w.ask(None, "::1", 8300, "udp") == gateway  # the client's flow again
            w.sb.sh(["ip", "addr", "add", "2001:db8:9::1/128", "dev", "lo"])
            # the kernel has accepted it before the proxy looks: it is reset at once
            assert w.ask(None, "2001:db8:9::1", 8300) == "ERROR Connection reset by peer"
            ports.release("a1")
            assert w.ask(None, "::1", 8300) == "ERROR Connection refused"
            # free for a server again (the proxy's connections may linger in TIME-WAIT)
            assert _bindable(w.sb, 8300, host="::", reuse=True)
        finally:
            ports.close()


def _read_to_the_end(port: int) -> bytes:
    """A client of [::1]:port that waits for the server's end before closing its own, so the
    proxy closes first and its side of the connection lingers in TIME-WAIT on the port."""
    with socket.create_connection(("::1", port), timeout=5) as s:
        data = b""
        while chunk := s.recv(100):
            data += chunk
        return data


def test_a_port_the_proxy_served_is_held_again_at_once() -> None:
    """A container restarted at once publishes its port again: the connections the [::1]
    proxy served do not keep the port from its next holder."""
    with world() as w:
        net = w.network("a", "172.18.0.0/16")
        a1 = w.container("a1", net, 2)
        w.serve(a1.ns)
        ports = call_in_netns(str(w.sb.host), PortReservations)
        try:
            mappings = [PortMapping(80, "tcp", None, 8400)]
            for _ in range(2):
                ports.reserve("a1", mappings, proxy_to=a1.ip)
                assert call_in_netns(str(w.sb.host), lambda: _read_to_the_end(8400)) == (
                    str(net.gateway).encode()
                )
                ports.release("a1")
            lingering = w.sb.sh(["ss", "-Htan", "state", "time-wait", "sport", "= :8400"])
            assert lingering.stdout.strip(), "no connection of the proxy's lingers: test is moot"
        finally:
            ports.close()


def test_udp_conntrack_of_a_removed_mapping_is_cleared() -> None:
    with world(with_outside=True) as w:
        net = w.network("a", "172.18.0.0/16")
        a1 = w.container("a1", net, 2)
        dns = w.publish(a1, 5353, container_port=80, proto="udp")
        state = w.sync()
        w.serve(a1.ns)
        assert w.ask(w.sb.outside, HOST_UPLINK, 5353, "udp") == "203.0.113.150"

        def flows() -> list[str]:
            out = w.sb.sh(
                ["conntrack", "-L", "-p", "udp", "--orig-port-dst", "5353"], check=False
            ).stdout
            return [line for line in out.splitlines() if "dport=5353" in line]

        assert flows() and "src=172.18.0.2" in flows()[0]
        removed = replace(state, ports=())
        w.fw.apply(state, removed)
        w.fw.clear_udp_conntrack([dns])
        assert flows() == []
