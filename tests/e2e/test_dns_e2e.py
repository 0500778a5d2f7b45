"""Embedded DNS through the CLI: discovery by name on user-defined networks at 127.0.0.11.

Every test runs the real service in a sandbox; the host's resolv.conf names the simulated
resolver 198.51.100.53 in the outside namespace (a fake answering `*.example.test`, NXDOMAIN
for the rest). The outside routes container subnets back through the sandbox host, so
forwarded queries arrive with or without outbound NAT. Upstreams time out after 0.5 s.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator

import pytest

from fixtures.dns_tools import Dig, parse_dig, start_upstream, stop_upstreams
from fixtures.processes import kill_unsupervised
from hatoba.testing import Sandbox, resolver
from hatoba.testing.resolver import Resolver
from hatoba.testing.sandbox import HOST_UPLINK

pytestmark = pytest.mark.root


@pytest.fixture
def sb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    monkeypatch.setenv("HATOBA_DNS_TIMEOUT", "0.5")
    with Sandbox(with_outside=True) as sandbox:
        try:
            assert sandbox.outside is not None
            sandbox.sh(
                ["ip", "route", "add", "172.16.0.0/12", "via", HOST_UPLINK], ns=sandbox.outside
            )
            sandbox.sh(["sysctl", "-qw", "net.ipv4.ip_forward=1"])
            yield sandbox
        finally:
            stop_upstreams()


@pytest.fixture
def upstream(sb: Sandbox) -> Resolver:
    assert sb.outside is not None
    return start_upstream(sb, sb.outside)


def run(sb: Sandbox, name: str, *options: str, command: tuple[str, ...] = ()) -> str:
    argv = command or ("sleep", "infinity")
    return sb.hatoba("run", "-d", "--name", name, *options, "hostfs", *argv).stdout.strip()


def dig(sb: Sandbox, container: str, *args: str) -> Dig:
    out = sb.hatoba("exec", container, "dig", "+time=2", "+tries=1", *args, check=False).stdout
    return parse_dig(out)


def resolve(sb: Sandbox, container: str, name: str) -> list[str]:
    """The addresses 127.0.0.11 gives `container` for `name`, or the status when none."""
    reply = dig(sb, container, name)
    return reply.addresses if reply.status == "NOERROR" else [reply.status]


def address(sb: Sandbox, container: str, network: str) -> str:
    info = json.loads(sb.hatoba("inspect", container).stdout)[0]
    return str(info["NetworkSettings"]["Networks"][network]["IPAddress"])


def resolv_conf(sb: Sandbox, container: str) -> str:
    return sb.hatoba("exec", container, "cat", "/etc/resolv.conf").stdout


def test_seed_scenario_names_on_sample_but_not_on_the_default_bridge(
    sb: Sandbox, upstream: Resolver
) -> None:
    sb.resolv_conf.write_text("search corp.example\nnameserver 198.51.100.53\noptions edns0\n")
    sb.hatoba("network", "create", "sample")
    run(sb, "s1", "--net", "sample")
    run(sb, "s2", "--net", "sample")
    s2 = address(sb, "s2", "sample")
    assert resolv_conf(sb, "s1") == (
        "search corp.example\nnameserver 127.0.0.11\noptions edns0 ndots:0\n"
    )
    ping = sb.hatoba("exec", "s1", "ping", "-c", "1", "-W", "2", "s2").stdout
    assert f"PING s2 ({s2})" in ping and "1 received" in ping
    reply = dig(sb, "s1", "s2")
    assert "SERVER: 127.0.0.11#53(127.0.0.11)" in reply.text
    assert (reply.status, reply.flags, reply.answers) == (
        "NOERROR",
        ["qr", "rd", "ra"],
        [["s2.", "600", "IN", "A", s2]],
    )

    run(sb, "c1")
    run(sb, "c2")
    assert resolv_conf(sb, "c1") == "search corp.example\nnameserver 198.51.100.53\noptions edns0\n"
    iputils = sb.hatoba("exec", "c1", "ping", "-c", "1", "-W", "1", "c2", check=False)
    assert (iputils.returncode, iputils.stderr) == (2, "ping: c2: Name or service not known\n")
    busybox = sb.hatoba("exec", "c1", "busybox", "ping", "-c", "1", "-W", "1", "c2", check=False)
    assert (busybox.returncode, busybox.stderr) == (1, "ping: bad address 'c2'\n")
    # the default bridge asked the host's resolver directly: never 127.0.0.11
    assert ["c2.", "A"] in [q[2:] for q in upstream.queries()]


def test_aliases_short_id_hostname_network_suffix_and_round_robin(
    sb: Sandbox, upstream: Resolver
) -> None:
    sb.hatoba("network", "create", "sample")
    web1 = run(sb, "web1", "--net", "sample", "--network-alias", "svc", "--network-alias", "www")
    run(sb, "web2", "--net", "sample", "--network-alias", "svc", "--hostname", "zebra")
    run(sb, "client", "--net", "sample")
    a1, a2 = address(sb, "web1", "sample"), address(sb, "web2", "sample")
    for name, expected in (
        ("www", [a1]),
        ("WWW.Sample", [a1]),
        (web1[:12], [a1]),
        ("zebra", [a2]),
        ("web2.sample", [a2]),
    ):
        assert resolve(sb, "client", name) == expected, name
    orders = {tuple(resolve(sb, "client", "svc")) for _ in range(20)}
    assert {tuple(sorted(order)) for order in orders} == {tuple(sorted((a1, a2)))}
    assert len(orders) == 2  # one order in 20 answers would happen once in 500 000 runs
    assert dig(sb, "client", "svc").answers[0][1] == "600"
    ptr = dig(sb, "client", "-x", a2)
    assert [a[3:] for a in ptr.answers] == [["PTR", "web2.sample."]]
    assert upstream.queries() == []  # every name above was answered locally


def test_names_are_scoped_to_the_askers_networks(sb: Sandbox, upstream: Resolver) -> None:
    sb.hatoba("network", "create", "netA")
    sb.hatoba("network", "create", "netB")
    run(sb, "a1", "--net", "netA")
    run(sb, "b1", "--net", "netB")
    sb.hatoba("create", "--name", "ab", "--net", "netA", "hostfs", "sleep", "infinity")
    sb.hatoba("network", "connect", "netB", "ab")
    sb.hatoba("start", "ab")
    assert resolve(sb, "a1", "b1") == ["NXDOMAIN"]  # not local: asked upstream, unknown there
    assert ["b1.", "A"] in [q[2:] for q in upstream.queries()]
    assert resolve(sb, "ab", "a1") == [address(sb, "a1", "netA")]
    assert resolve(sb, "ab", "b1") == [address(sb, "b1", "netB")]
    # each side sees ab at its address on the network they share
    assert resolve(sb, "a1", "ab") == [address(sb, "ab", "netA")]
    assert resolve(sb, "b1", "ab") == [address(sb, "ab", "netB")]


def test_connect_disconnect_stop_and_run_are_seen_at_once(sb: Sandbox, upstream: Resolver) -> None:
    sb.hatoba("network", "create", "sample")
    run(sb, "s1", "--net", "sample")
    run(sb, "s2", "--net", "sample")
    run(sb, "c1")
    host_resolv = resolv_conf(sb, "c1")
    assert resolve(sb, "s1", "x") == ["NXDOMAIN"]

    sb.hatoba("network", "connect", "--alias", "x", "sample", "c1")
    c1 = address(sb, "c1", "sample")
    assert resolve(sb, "s1", "x") == [c1]
    assert resolve(sb, "s1", "c1") == [c1]
    # its first user-defined network: resolv.conf now points at 127.0.0.11
    assert resolv_conf(sb, "c1") == "nameserver 127.0.0.11\noptions ndots:0\n"
    assert resolve(sb, "c1", "s1") == [address(sb, "s1", "sample")]

    sb.hatoba("network", "disconnect", "sample", "c1")
    assert resolve(sb, "s1", "x") == ["NXDOMAIN"]
    assert resolv_conf(sb, "c1") == host_resolv  # the host's resolvers again

    sb.hatoba("stop", "-t", "0", "s2")
    assert resolve(sb, "s1", "s2") == ["NXDOMAIN"]
    sb.hatoba("start", "s2")
    assert resolve(sb, "s1", "s2") == [address(sb, "s2", "sample")]
    sb.hatoba("rm", "-f", "s2")
    assert resolve(sb, "s1", "s2") == ["NXDOMAIN"]
    run(sb, "s3", "--net", "sample", "--network-alias", "late")
    assert resolve(sb, "s1", "late") == [address(sb, "s3", "sample")]


def test_a_container_may_bind_port_53_itself(sb: Sandbox, upstream: Resolver) -> None:
    sb.hatoba("network", "create", "sample")
    run(sb, "s1", "--net", "sample")
    log = sb.dir / "own.log"
    server = resolver.command("0.0.0.0", answer="192.0.2.99", log=log)
    run(sb, "own", "--net", "sample", command=tuple(server))
    for _ in range(50):
        if dig(sb, "own", "@127.0.0.1", "x.example.test").addresses == ["192.0.2.99"]:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("the container's own DNS server did not answer")
    assert resolve(sb, "own", "s1") == [address(sb, "s1", "sample")]
    assert dig(sb, "own", "+tcp", "s1").addresses == [address(sb, "s1", "sample")]
    assert resolve(sb, "own", "x.example.test") == ["192.0.2.1"]  # 127.0.0.11 forwarded it


def test_forwarding_to_the_hosts_resolver_and_servfail_without_one(
    sb: Sandbox, upstream: Resolver
) -> None:
    assert sb.outside is not None
    sb.sh(["ip", "route", "add", "blackhole", "198.51.100.96/30"], ns=sb.outside)
    sb.hatoba("network", "create", "sample")
    run(sb, "s1", "--net", "sample")
    run(sb, "lost", "--net", "sample", "--dns", "198.51.100.97")
    assert resolve(sb, "s1", "www.example.test") == ["192.0.2.1"]
    assert resolve(sb, "s1", "nosuchname-xyz") == ["NXDOMAIN"]
    big = dig(sb, "s1", "big.example.test", "TXT")  # over 512 bytes: retried over TCP
    assert (big.status, len(big.answers)) == ("NOERROR", 6)
    assert resolve(sb, "lost", "s1") == [address(sb, "s1", "sample")]
    started = time.monotonic()
    assert resolve(sb, "lost", "www.example.test") == ["SERVFAIL"]
    assert time.monotonic() - started < 1.5  # HATOBA_DNS_TIMEOUT, not dig's own 2 s
    assert resolv_conf(sb, "lost") == "nameserver 127.0.0.11\noptions ndots:0\n"


def test_host_loopback_resolver_is_asked_from_the_host(sb: Sandbox) -> None:
    host_side = start_upstream(sb, sb.host, address="127.0.0.53", answer="192.0.2.53", tag="host")
    sb.resolv_conf.write_text("nameserver 127.0.0.53\n")
    sb.hatoba("network", "create", "sample")
    run(sb, "s1", "--net", "sample")
    run(sb, "c1")
    assert resolve(sb, "s1", "www.example.test") == ["192.0.2.53"]
    assert [q[2:] for q in host_side.queries()] == [["www.example.test.", "A"]]
    # the default bridge cannot use a loopback resolver: Docker's fallback servers instead
    assert resolv_conf(sb, "c1") == "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"


def test_internal_network_answers_names_but_never_forwards(sb: Sandbox) -> None:
    host_side = start_upstream(sb, sb.host, address="127.0.0.53", tag="host")
    sb.resolv_conf.write_text("nameserver 127.0.0.53\n")  # reachable from the service
    sb.hatoba("network", "create", "--internal", "intnet")
    sb.hatoba("network", "create", "sample")
    run(sb, "i1", "--net", "intnet")
    run(sb, "i2", "--net", "intnet")
    assert resolve(sb, "i1", "i2") == [address(sb, "i2", "intnet")]
    assert resolve(sb, "i1", "www.example.test") == ["NXDOMAIN"]
    assert host_side.queries() == []  # CVE-2024-29018: nothing left the resolver
    sb.hatoba("network", "connect", "sample", "i1")  # now it has a way out
    assert resolve(sb, "i1", "www.example.test") == ["192.0.2.1"]
    sb.hatoba("network", "disconnect", "sample", "i1")
    assert resolve(sb, "i1", "other.example.test") == ["NXDOMAIN"]
    assert len(host_side.queries()) == 1


def test_dns_answers_again_by_itself_soon_after_the_service_is_killed(sb: Sandbox) -> None:
    sb.hatoba("network", "create", "sample")
    s1 = run(sb, "s1", "--net", "sample")
    run(sb, "s2", "--net", "sample")
    s2 = address(sb, "s2", "sample")
    assert resolve(sb, "s1", "s2") == [s2]
    pid = sb.service_pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()
    netns = sb.run_root / "netns" / s1
    # no hatoba command from here on: the keeper starts the service again by itself
    while True:
        query = ["dig", "+short", "+time=1", "+tries=1", "@127.0.0.11", "s2"]
        answer = sb.sh(query, ns=netns, check=False).stdout.split()
        waited = time.monotonic() - killed
        if answer == [s2] or waited > 2:
            break
        time.sleep(0.02)
    assert (answer, waited < 2) == ([s2], True), f"{answer} after {waited:.2f} s"
    assert sb.service_pid() != pid
    assert (
        "was killed by SIGKILL; starting it again in 0.1 s"
        in (sb.run_root / "service.log").read_text()
    )


def test_dns_works_again_after_an_unsupervised_service_is_killed_and_restarted(
    sb: Sandbox, upstream: Resolver
) -> None:
    sb.hatoba("network", "create", "sample")
    s1 = run(sb, "s1", "--net", "sample")
    run(sb, "s2", "--net", "sample")
    s2 = address(sb, "s2", "sample")
    assert resolve(sb, "s1", "s2") == [s2]
    pid = kill_unsupervised(sb)
    netns = sb.run_root / "netns" / s1
    silent = sb.sh(["dig", "+time=1", "+tries=1", "@127.0.0.11", "s2"], ns=netns, check=False)
    assert "no servers could be reached" in silent.stdout  # nothing answers in between
    # the next command starts the service; it serves every running container again
    assert resolve(sb, "s1", "s2") == [s2]
    assert sb.service_pid() != pid
    assert resolve(sb, "s2", "s1") == [address(sb, "s1", "sample")]
    assert resolve(sb, "s1", "www.example.test") == ["192.0.2.1"]
    run(sb, "s3", "--net", "sample")
    assert resolve(sb, "s1", "s3") == [address(sb, "s3", "sample")]
    table = sb.sh(["nft", "list", "table", "ip", "hatoba-dns"], ns=netns).stdout
    assert table.count("dnat to 127.0.0.11:") == 2  # taken over, not stacked
