"""The resolver at 127.0.0.11 in real namespaces, asked with dig as a container would ask."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dnslib
import pytest
from dns_world import GATEWAYS, NET2, Service, container_ns, dig, record, upstream

from fixtures.dns_tools import start_upstream, stop_upstreams
from hatoba.dns import DnsAttachment, nat
from hatoba.dns.table import by_container
from hatoba.errors import KernelError
from hatoba.kernel.netns import call_in_netns, remove_handle
from hatoba.kernel.nft import NftContext
from hatoba.testing.sandbox import Sandbox

pytestmark = pytest.mark.root

A, B, C, D = "a" * 64, "b" * 64, "c" * 64, "d" * 64
RECORDS = [
    record(A, "web", "172.31.1.2", "www"),
    record(B, "db", "172.31.1.3", "svc"),
    record(C, "cache", "172.31.1.4", "svc"),
    record(D, "back", "172.31.2.2", net=NET2),
]


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    with Sandbox(with_outside=True) as sandbox:
        try:
            yield sandbox
        finally:
            stop_upstreams()


@pytest.fixture
def service(sb: Sandbox) -> Iterator[Service]:
    svc = Service(sb, upstream_timeout=0.5)
    try:
        svc.server.update(by_container(RECORDS), GATEWAYS)
        yield svc
    finally:
        svc.close()


def nft_table(sb: Sandbox, ns: Path) -> str:
    return sb.sh(["nft", "list", "table", "ip", nat.TABLE], ns=ns, check=False).stdout


def test_local_names_as_docker_answers_them(sb: Sandbox, service: Service) -> None:
    ns = container_ns(sb, "c1")
    service.server.attach(A, str(ns), [], True)
    for name in ("web", "WWW", A[:12], "web.front", "Www.Front"):
        reply = dig(sb, ns, name)
        assert (reply.status, reply.addresses) == ("NOERROR", ["172.31.1.2"]), reply.text
    reply = dig(sb, ns, "web")
    assert reply.flags == ["qr", "rd", "ra"]
    assert reply.answers[0][1] == "600"
    assert "SERVER: 127.0.0.11#53" in reply.text
    assert "; EDNS: version: 0" in reply.text  # dig asks with EDNS: the answer carries OPT
    assert "OPT PSEUDOSECTION" not in dig(sb, ns, "+noedns", "web").text
    aaaa = dig(sb, ns, "web", "AAAA")
    assert (aaaa.status, aaaa.answers) == ("NOERROR", [])
    ptr = dig(sb, ns, "-x", "172.31.1.3")
    assert [a[4] for a in ptr.answers] == ["db.front."]
    assert dig(sb, ns, "host.docker.internal").addresses == ["172.31.1.1"]
    tcp = dig(sb, ns, "+tcp", "db")
    assert tcp.addresses == ["172.31.1.3"]
    assert "(TCP)" in tcp.text


def test_shared_alias_answers_all_in_rotating_order(sb: Sandbox, service: Service) -> None:
    ns = container_ns(sb, "c1")
    service.server.attach(A, str(ns), [], True)
    orders = {tuple(dig(sb, ns, "svc").addresses) for _ in range(12)}
    assert all(sorted(order) == ["172.31.1.3", "172.31.1.4"] for order in orders)
    assert len(orders) == 2


def test_names_are_scoped_to_the_askers_networks(sb: Sandbox, service: Service) -> None:
    up = start_upstream(sb, sb.outside)  # type: ignore[arg-type]
    ns = container_ns(sb, "c1")
    service.server.attach(A, str(ns), [upstream()], True)
    assert dig(sb, ns, "back").status == "NXDOMAIN"  # not ours: asked upstream, unknown there
    assert ["udp", "203.0.113.1", "back.", "A"] in up.queries()
    other = container_ns(sb, "c2")
    service.server.attach(D, str(other), [], True)
    assert dig(sb, other, "back").addresses == ["172.31.2.2"]
    assert dig(sb, other, "host.docker.internal").addresses == ["172.31.2.1"]
    assert dig(sb, other, "web").status == "SERVFAIL"  # no upstreams at all


def test_published_changes_are_seen_by_the_next_query(sb: Sandbox, service: Service) -> None:
    ns = container_ns(sb, "c1")
    service.server.attach(A, str(ns), [], False)
    assert dig(sb, ns, "newcomer").status == "NXDOMAIN"
    newcomer = record("e" * 64, "newcomer", "172.31.1.9")
    service.server.update({newcomer.container_id: (newcomer,)}, GATEWAYS)
    assert dig(sb, ns, "newcomer").addresses == ["172.31.1.9"]
    service.server.update({A: ()}, GATEWAYS)  # web is gone, and so is the asker's view
    assert dig(sb, ns, "db").status == "NXDOMAIN"


def test_the_container_may_bind_port_53_itself(sb: Sandbox, service: Service) -> None:
    ns = container_ns(sb, "c1")
    start_upstream(sb, ns, address="0.0.0.0", answer="192.0.2.99", tag="own")
    service.server.attach(A, str(ns), [], True)
    assert dig(sb, ns, "web").addresses == ["172.31.1.2"]
    assert dig(sb, ns, "x.example.test", server="127.0.0.1").addresses == ["192.0.2.99"]
    assert dig(sb, ns, "+tcp", "web").addresses == ["172.31.1.2"]


def test_forwarding_from_the_host_namespace_and_cache(sb: Sandbox, service: Service) -> None:
    up = start_upstream(sb, sb.outside)  # type: ignore[arg-type]
    ns = container_ns(sb, "c1")
    service.server.attach(A, str(ns), [upstream()], True)
    first = dig(sb, ns, "www.example.test")
    assert (first.status, first.addresses) == ("NOERROR", ["192.0.2.1"])
    second = dig(sb, ns, "WWW.example.test")
    assert second.addresses == ["192.0.2.1"]
    assert int(second.answers[0][1]) <= 300
    assert up.queries() == [["udp", "203.0.113.1", "www.example.test.", "A"]]


def test_forwarding_from_the_container_namespace(sb: Sandbox, service: Service) -> None:
    up = start_upstream(sb, sb.outside)  # type: ignore[arg-type]
    ns = container_ns(sb, "c1", "172.31.1.2")
    service.server.attach(A, str(ns), [upstream(from_host=False)], True)
    assert dig(sb, ns, "a.example.test").addresses == ["192.0.2.1"]
    tcp = dig(sb, ns, "+tcp", "big.example.test", "TXT")
    assert (tcp.status, len(tcp.answers)) == ("NOERROR", 6)
    assert up.queries() == [
        ["udp", "172.31.1.2", "a.example.test.", "A"],
        ["tcp", "172.31.1.2", "big.example.test.", "TXT"],
    ]


def test_big_udp_answer_is_truncated_and_dig_retries_over_tcp(
    sb: Sandbox, service: Service
) -> None:
    up = start_upstream(sb, sb.outside)  # type: ignore[arg-type]
    ns = container_ns(sb, "c1")
    service.server.attach(A, str(ns), [upstream()], True)
    cut = dig(sb, ns, "+noedns", "+ignore", "big.example.test", "TXT")
    assert "tc" in cut.flags
    full = dig(sb, ns, "+noedns", "big.example.test", "TXT")
    assert (full.status, len(full.answers)) == ("NOERROR", 6)
    assert "(TCP)" in full.text
    assert [q[0] for q in up.queries()][-1] == "tcp"


def test_silent_upstreams_give_servfail_after_their_timeouts(sb: Sandbox, service: Service) -> None:
    assert sb.outside is not None
    sb.sh(["ip", "route", "add", "blackhole", "198.51.100.96/30"], ns=sb.outside)
    ns = container_ns(sb, "c1")
    service.server.attach(A, str(ns), [upstream("198.51.100.97"), upstream("198.51.100.98")], True)
    started = time.monotonic()
    slow = sb.popen(
        ["dig", "@127.0.0.11", "+time=5", "+tries=1", "x.example.test"],
        ns=ns,
        stdout=subprocess.PIPE,
    )
    time.sleep(0.1)  # the forward is now waiting on the first server
    local_started = time.monotonic()
    assert dig(sb, ns, "web").addresses == ["172.31.1.2"]  # local names never wait
    assert time.monotonic() - local_started < 0.3
    out, _ = slow.communicate(timeout=10)
    elapsed = time.monotonic() - started
    assert "status: SERVFAIL" in out.decode()
    assert 1.0 <= elapsed < 2.5  # two servers at 0.5 s each, plus dig itself


def test_closed_upstream_port_fails_over_at_once(sb: Sandbox) -> None:
    """The closed port's ICMP error moves the query on: it is answered within dig's 5 s
    although waiting out the dead upstream would take 60 s."""
    patient = Service(sb, upstream_timeout=60)
    try:
        patient.server.update(by_container(RECORDS), GATEWAYS)
        start_upstream(sb, sb.outside)  # type: ignore[arg-type]
        ns = container_ns(sb, "c1")
        dead = upstream(port=5353)
        patient.server.attach(A, str(ns), [dead, upstream()], True)
        assert dig(sb, ns, "x.example.test", timeout=5).addresses == ["192.0.2.1"]
    finally:
        patient.close()


def test_next_upstream_after_a_dead_or_failing_one(sb: Sandbox, service: Service) -> None:
    assert sb.outside is not None
    sb.sh(["ip", "addr", "add", "198.51.100.54/32", "dev", "lo"], ns=sb.outside)
    failing = start_upstream(sb, sb.outside, servfail=True, tag="failing")
    good = start_upstream(sb, sb.outside, address="198.51.100.54", answer="192.0.2.54", tag="good")
    ns = container_ns(sb, "c1")
    upstreams = [upstream("198.51.100.99"), upstream(), upstream("198.51.100.54")]
    service.server.attach(A, str(ns), upstreams, True)
    assert dig(sb, ns, "x.example.test", timeout=5).addresses == ["192.0.2.54"]
    assert len(failing.queries()) == len(good.queries()) == 1


def test_internal_only_container_never_forwards(sb: Sandbox, service: Service) -> None:
    up = start_upstream(sb, sb.outside)  # type: ignore[arg-type]
    ns = container_ns(sb, "c1")
    service.server.attach(A, str(ns), [upstream()], False)
    assert dig(sb, ns, "www.example.test").status == "NXDOMAIN"
    assert dig(sb, ns, "web").addresses == ["172.31.1.2"]
    service.server.attach(A, str(ns), [upstream()], True)  # idempotent: updates forwarding only
    assert dig(sb, ns, "www.example.test").addresses == ["192.0.2.1"]
    assert len(up.queries()) == 1


def test_restarted_service_takes_over_with_the_same_ports(sb: Sandbox) -> None:
    ns = container_ns(sb, "c1")
    first = Service(sb)
    try:
        first.server.update(by_container(RECORDS), GATEWAYS)
        first.server.attach(A, str(ns), [], True)
        assert dig(sb, ns, "web").addresses == ["172.31.1.2"]
        ports, handle = _ports(ns), _table_handle(ns)
    finally:
        first.close()
    assert dig(sb, ns, "web", timeout=1).status == "NO REPLY"
    second = Service(sb)
    try:
        second.server.update(by_container(RECORDS), GATEWAYS)
        second.server.attach(A, str(ns), [], True)
        assert dig(sb, ns, "web").addresses == ["172.31.1.2"]
        assert dig(sb, ns, "+tcp", "web").addresses == ["172.31.1.2"]
        assert _ports(ns) == ports  # conntrack entries of long-lived clients stay valid
        assert _table_handle(ns) == handle  # the table was right: it was left alone
    finally:
        second.close()


def test_a_restart_takes_over_every_container_at_once_and_names_the_ones_it_cannot(
    sb: Sandbox,
) -> None:
    """`restore` (a service start) opens every container's sockets on one thread: the same
    ports as before; a namespace that is gone fails alone."""
    spaces = {A: container_ns(sb, "c1"), B: container_ns(sb, "c2")}
    first = Service(sb)
    try:
        for cid, ns in spaces.items():
            first.server.attach(cid, str(ns), [], True)
        ports = {cid: _ports(ns) for cid, ns in spaces.items()}
    finally:
        first.close()
    second = Service(sb)
    try:
        second.server.update(by_container(RECORDS), GATEWAYS)
        gone = str(sb.dir / "gone")
        failed = second.server.restore(
            [
                DnsAttachment(A, str(spaces[A]), [], True),
                DnsAttachment(C, gone, [], True),
                DnsAttachment(B, str(spaces[B]), [], True),
            ]
        )
        assert [(cid, type(exc)) for cid, exc in failed] == [(C, KernelError)]
        assert {cid: _ports(ns) for cid, ns in spaces.items()} == ports
        assert dig(sb, spaces[A], "db").addresses == ["172.31.1.3"]
        assert dig(sb, spaces[B], "+tcp", "web").addresses == ["172.31.1.2"]
    finally:
        second.close()


def test_reattach_while_the_old_ports_are_taken_replaces_the_table(sb: Sandbox) -> None:
    ns = container_ns(sb, "c1")
    first, second = Service(sb), Service(sb)
    try:
        first.server.attach(A, str(ns), [], True)
        old_ports = _ports(ns)
        second.server.update(by_container(RECORDS), GATEWAYS)
        second.server.attach(A, str(ns), [], True)
        assert _ports(ns).keys() == old_ports.keys()
        assert set(_ports(ns).values()).isdisjoint(old_ports.values())
        assert nft_table(sb, ns).count("table ip") == 1
        assert dig(sb, ns, "web").addresses == ["172.31.1.2"]
    finally:
        first.close()
        second.close()


def test_a_client_on_a_fixed_port_follows_the_new_ports(sb: Sandbox) -> None:
    """Its conntrack entry was pinned to the old port; the takeover must drop it."""
    ns = container_ns(sb, "c1")
    first, second = Service(sb), Service(sb)
    try:
        for svc in (first, second):
            svc.server.update(by_container(RECORDS), GATEWAYS)
        first.server.attach(A, str(ns), [], True)
        question = bytes(dnslib.DNSRecord.question("web").pack()).hex()
        script = f"""
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
s.settimeout(0.2)
for i in range(16):
    try:
        s.sendto(bytes.fromhex("{question}"), ("127.0.0.11", 53))
        s.recv(512)
        print("ok", flush=True)
    except OSError:
        print("lost", flush=True)
    time.sleep(0.05)
"""
        client = sb.popen([sys.executable, "-c", script], ns=ns, stdout=subprocess.PIPE)
        time.sleep(0.5)
        second.server.attach(A, str(ns), [], True)  # the first still holds the old ports
        first.close()
        out, _ = client.communicate(timeout=20)
        results = out.decode().split()
        assert results[0] == "ok"
        assert results[-4:] == ["ok"] * 4, results
    finally:
        first.close()
        second.close()


def _table_handle(ns: Path) -> int:
    def read() -> int:
        with NftContext() as nft:
            listing = json.loads(nft.run(nat.list_command()))
        return next(i["table"]["handle"] for i in listing["nftables"] if "table" in i)

    return call_in_netns(str(ns), read)


def _ports(ns: Path) -> dict[str, int]:
    def read() -> dict[str, int]:
        with NftContext() as nft:
            return nat.ports_in(nat.shape_of(json.loads(nft.run(nat.list_command()))))

    return call_in_netns(str(ns), read)


def test_detach_stops_serving_and_removes_the_table(sb: Sandbox, service: Service) -> None:
    ns = container_ns(sb, "c1")
    service.server.attach(A, str(ns), [], True)
    assert dig(sb, ns, "web").status == "NOERROR"
    service.server.detach(A)
    assert nft_table(sb, ns) == ""
    assert dig(sb, ns, "web", timeout=1).status == "NO REPLY"
    service.server.detach(A)  # twice is fine
    gone = container_ns(sb, "c2")
    service.server.attach(B, str(gone), [], True)
    remove_handle(str(gone))
    service.server.detach(B)  # the namespace is already gone: no error


def test_malformed_queries_do_not_stall_the_resolver(sb: Sandbox, service: Service) -> None:
    ns = container_ns(sb, "c1")
    service.server.attach(A, str(ns), [], True)
    good = dnslib.DNSRecord.question("web")
    good.header.id = 77
    script = f"""
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
for junk in (b"", b"\\x01", b"\\x00" * 12, b"\\xff" * 600, b"\\x00\\x07" + b"\\x00" * 3000):
    s.sendto(junk, ("127.0.0.11", 53))
s.sendto(bytes.fromhex("{bytes(good.pack()).hex()}"), ("127.0.0.11", 53))
while True:
    data = s.recv(4096)
    if data[:2] == b"\\x00\\x4d":
        print(data.hex())
        break
t = socket.create_connection(("127.0.0.11", 53), timeout=2)
t.sendall(b"\\x00\\x05junk!")
print(t.recv(100).hex() or "closed")
"""
    out = sb.sh([sys.executable, "-c", script], ns=ns).stdout.split()
    reply = dnslib.DNSRecord.parse(bytes.fromhex(out[0]))
    assert [str(rr.rdata) for rr in reply.rr] == ["172.31.1.2"]
    assert out[1] == "closed"  # an unreadable message on TCP: the connection is dropped
    assert dig(sb, ns, "web").addresses == ["172.31.1.2"]


def test_tcp_connection_carries_several_queries(sb: Sandbox, service: Service) -> None:
    ns = container_ns(sb, "c1")
    service.server.attach(A, str(ns), [], False)
    queries = []
    for i, name in enumerate(["web", "db", "nope"]):
        q = dnslib.DNSRecord.question(name)
        q.header.id = i + 1
        packed = bytes(q.pack())
        queries.append(len(packed).to_bytes(2, "big") + packed)
    script = f"""
import socket
t = socket.create_connection(("127.0.0.11", 53), timeout=3)
t.sendall(bytes.fromhex("{b"".join(queries).hex()}"))
for _ in range(3):
    size = int.from_bytes(t.recv(2, socket.MSG_WAITALL), "big")
    print(t.recv(size, socket.MSG_WAITALL).hex())
"""
    out = sb.sh([sys.executable, "-c", script], ns=ns).stdout.split()
    replies = {r.header.id: r for r in (dnslib.DNSRecord.parse(bytes.fromhex(h)) for h in out)}
    assert [str(rr.rdata) for rr in replies[1].rr] == ["172.31.1.2"]
    assert [str(rr.rdata) for rr in replies[2].rr] == ["172.31.1.3"]
    assert replies[3].header.rcode == dnslib.RCODE.NXDOMAIN


def test_attach_of_a_missing_namespace_fails_cleanly(sb: Sandbox, service: Service) -> None:
    with pytest.raises(KernelError):
        service.server.attach(A, str(sb.dir / "nope"), [], True)
    ns = container_ns(sb, "c1")
    service.server.attach(A, str(ns), [], True)
    assert dig(sb, ns, "web").addresses == ["172.31.1.2"]


def test_idle_tcp_connections_are_closed(sb: Sandbox) -> None:
    ns = container_ns(sb, "c1")
    svc = Service(sb, tcp_idle_timeout=0.3)
    try:
        svc.server.attach(A, str(ns), [], True)
        script = """
import socket, time
t = socket.create_connection(("127.0.0.11", 53), timeout=3)
started = time.monotonic()
print(t.recv(10) == b"", round(time.monotonic() - started, 1))
"""
        closed, after = sb.sh([sys.executable, "-c", script], ns=ns).stdout.split()
        assert closed == "True"
        assert 0.2 <= float(after) <= 1.0
    finally:
        svc.close()
