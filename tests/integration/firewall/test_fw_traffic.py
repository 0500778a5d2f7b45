"""hatoba's firewall with real traffic: outbound NAT, publishing, isolation, spoofing, MSS.

Bridges and containers are built by hand (fw_world); each test has its own Sandbox. Servers
answer with the address they saw, so every reachability check also checks the source address.
"""

from __future__ import annotations

import re
import subprocess
import time

import pytest
from fw_world import PEER, PY, world

from hatoba.errors import InvalidArgument
from hatoba.firewall import FirewallState
from hatoba.testing.sandbox import CLIENT, HOST_UPLINK, INTERNET

pytestmark = pytest.mark.root
BLOCKED = "TIMEOUT"


def test_outbound_is_masqueraded_and_internal_networks_stay_inside() -> None:
    with world(with_outside=True) as w:
        net = w.network("web", "172.18.0.0/16")
        internal = w.network("secret", "172.20.0.0/16", internal=True)
        a1 = w.container("a1", net, 2)
        i1, i2 = w.container("i1", internal, 2), w.container("i2", internal, 3)
        w.sync()
        w.serve(w.sb.outside)
        w.serve(i1.ns)

        assert w.probe(
            a1.ns, [("tcp", INTERNET, 80), ("udp", INTERNET, 80), ("icmp", INTERNET, 0)]
        ) == [
            HOST_UPLINK,
            HOST_UPLINK,
            "ok",
        ]
        # internal: nothing leaves, but the network itself works
        assert w.probe(
            i2.ns, [("tcp", INTERNET, 80), ("icmp", INTERNET, 0), ("tcp", i1.ip, 80)]
        ) == [
            BLOCKED,
            BLOCKED,
            str(i2.ip),
        ]
        # and no address of the host answers it (a normal network's containers reach them all)
        w.serve(None)
        host = [HOST_UPLINK, internal.gateway, net.gateway]
        asks = [("icmp", addr, 0) for addr in host] + [("tcp", addr, 80) for addr in host]
        results = w.probe_all({i2.ns: asks, a1.ns: asks})
        assert results[i2.ns] == [BLOCKED] * 6
        assert results[a1.ns] == ["ok"] * 3 + [str(a1.ip)] * 3
        # while the host still reaches the internal network
        assert w.ask(None, i1.ip) == str(internal.gateway)
        # and nothing comes in from another network either
        assert w.ask(a1.ns, i1.ip) == BLOCKED


@pytest.mark.parametrize("host_brnf", [1, 0], ids=["bridge-nf-call-iptables", "no-bridge-nf"])
def test_published_port_from_everywhere_with_the_real_client_address(host_brnf: int) -> None:
    with world(with_outside=True) as w:
        # the host's global switch must not matter: bridge_ready turns it on per bridge
        w.sb.sh(["sysctl", "-qw", f"net.bridge.bridge-nf-call-iptables={host_brnf}"])
        a, b = w.network("a", "172.18.0.0/16"), w.network("b", "172.19.0.0/16")
        a1, a2, b1 = w.container("a1", a, 2), w.container("a2", a, 3), w.container("b1", b, 2)
        w.publish(a1, 8000)
        w.publish(a1, 8000, proto="udp")
        w.publish(a1, 8002, host_ip=HOST_UPLINK)  # one host address only
        w.sync()
        w.serve(a1.ns)
        # the outside may route to container subnets through us: that must not bypass DNAT
        w.sb.sh(["ip", "route", "add", "172.16.0.0/12", "via", HOST_UPLINK], ns=w.sb.outside)

        results = w.probe_all(
            {
                w.sb.outside: [
                    ("tcp", HOST_UPLINK, 8000),
                    ("udp", HOST_UPLINK, 8000),
                    ("tcp", a1.ip, 80),
                    ("tcp", HOST_UPLINK, 8002),
                ],
                None: [
                    ("tcp", HOST_UPLINK, 8000),
                    ("tcp", "127.0.0.1", 8000),
                    ("tcp", a.gateway, 8000),
                    ("udp", "127.0.0.1", 8000),
                    ("tcp", HOST_UPLINK, 8002),
                    ("tcp", "127.0.0.1", 8002),
                ],
                a2.ns: [
                    ("tcp", HOST_UPLINK, 8000),
                    ("tcp", a.gateway, 8000),
                    ("udp", HOST_UPLINK, 8000),
                ],
                a1.ns: [("tcp", HOST_UPLINK, 8000)],
                b1.ns: [("tcp", HOST_UPLINK, 8000), ("tcp", a.gateway, 8000), ("tcp", a1.ip, 80)],
            }
        )
        # outside client: its own address; direct routing to the container is dropped
        assert results[w.sb.outside] == [CLIENT, CLIENT, BLOCKED, CLIENT]
        # the host by its own address keeps it; by 127.0.0.1 it is masqueraded to the gateway
        gateway = str(a.gateway)
        assert results[None] == [
            HOST_UPLINK,
            gateway,
            gateway,
            gateway,
            HOST_UPLINK,
            "ERROR Connection refused",
        ]
        # hairpin on the same network keeps the client's address
        assert results[a2.ns] == [str(a2.ip)] * 3
        # a container reaching itself through its own published port (Docker masquerades it)
        assert results[a1.ns] == [str(a.gateway)]
        # another network reaches the published port (not the container directly), unmasked
        assert results[b1.ns] == [str(b1.ip), str(b1.ip), BLOCKED]


def test_networks_are_isolated_pairwise_for_icmp_tcp_and_udp() -> None:
    with world() as w:
        nets = [w.network(f"n{i}", f"172.{18 + i}.0.0/16") for i in range(3)]
        boxes = [w.container(f"c{i}", net, 2) for i, net in enumerate(nets)]
        peers = [w.container(f"p{i}", net, 3) for i, net in enumerate(nets)]
        w.sync()
        for box in boxes:
            w.serve(box.ns)
        plan = {}
        for i, src in enumerate(boxes):
            targets = [
                (proto, dst.ip, 80)
                for dst in boxes
                if dst is not src
                for proto in ("tcp", "udp", "icmp")
            ]
            targets += [(proto, peers[i].ip, 80) for proto in ("icmp",)]
            # the other networks' gateways are host addresses: reachable, as with Docker
            targets += [("icmp", net.gateway, 0) for net in nets]
            plan[src.ns] = targets
        plan.update(
            {
                peer.ns: [("tcp", boxes[i].ip, 80), ("udp", boxes[i].ip, 80)]
                for i, peer in enumerate(peers)
            }
        )
        results = w.probe_all(plan)
        for i, src in enumerate(boxes):
            assert results[src.ns] == [BLOCKED] * 6 + ["ok"] + ["ok"] * 3, f"from network {i}"
        for i, peer in enumerate(peers):
            assert results[peer.ns] == [str(peer.ip)] * 2, f"within network {i}"


def test_icc_disabled_drops_traffic_between_containers_of_the_network() -> None:
    with world(with_outside=True) as w:
        net = w.network("quiet", "172.18.0.0/16", icc=False)
        n1, n2 = w.container("n1", net, 2), w.container("n2", net, 3)
        w.publish(n1, 8000)
        w.sync()
        w.serve(n1.ns)
        w.serve(w.sb.outside)
        results = w.probe_all(
            {
                n2.ns: [
                    ("tcp", n1.ip, 80),
                    ("udp", n1.ip, 80),
                    ("icmp", n1.ip, 0),
                    ("tcp", INTERNET, 80),
                ],
                w.sb.outside: [("tcp", HOST_UPLINK, 8000)],
            }
        )
        assert results[n2.ns] == [BLOCKED, BLOCKED, BLOCKED, HOST_UPLINK]
        assert results[w.sb.outside] == [CLIENT]


def test_publishing_on_an_internal_network_is_refused_and_changes_nothing() -> None:
    with world() as w:
        internal = w.network("secret", "172.20.0.0/16", internal=True)
        box = w.container("i1", internal, 2)
        before = w.sync()
        listing = w.listing()
        w.publish(box, 8000)
        with pytest.raises(
            InvalidArgument, match="cannot publish ports on internal network secret"
        ):
            w.fw.apply(before, w.state)
        assert w.listing() == listing


def test_port_published_on_loopback_is_not_reachable_from_other_hosts() -> None:
    with world(with_outside=True) as w:
        net = w.network("a", "172.18.0.0/16")
        a1 = w.container("a1", net, 2)
        w.publish(a1, 8001, host_ip="127.0.0.1", proto="udp")
        w.publish(a1, 8001, host_ip="127.0.0.1")
        w.sync()
        server = w.serve(a1.ns)
        assert (
            w.probe(None, [("tcp", "127.0.0.1", 8001), ("udp", "127.0.0.1", 8001)])
            == [str(net.gateway)] * 2
        )
        assert sorted(server.seen(wait=1)) == [f"tcp {net.gateway}", f"udp {net.gateway}"]
        assert w.ask(w.sb.outside, HOST_UPLINK, 8001) == "ERROR Connection refused"

        # A neighbour that routes 127.0.0.1 to us (moby#45610). Replies come from 127.0.0.1
        # and die at the neighbour, so the evidence is what the container's server saw.
        out = w.sb.outside
        w.sb.sh(["ip", "route", "del", "local", "127.0.0.0/8", "table", "local"], ns=out)
        w.sb.sh(["ip", "route", "del", "local", "127.0.0.1", "table", "local"], ns=out)
        w.sb.sh(["sysctl", "-qw", "net.ipv4.conf.uplink.route_localnet=1"], ns=out)
        w.sb.sh(["ip", "route", "add", "127.0.0.1/32", "via", HOST_UPLINK], ns=out)
        w.ask(out, "127.0.0.1", 8001, proto="udp")
        assert server.seen(wait=0.5) == []
        # the same probe without the raw-table rule would get through: the check is meaningful
        w.sb.sh(["nft", "flush", "chain", "inet", "hatoba", "raw-prerouting"])
        w.ask(out, "127.0.0.1", 8001, proto="udp")
        assert server.seen(wait=1) == [f"udp {CLIENT}"]


def test_containers_cannot_send_from_addresses_they_do_not_own() -> None:
    with world(with_outside=True) as w:
        net = w.network("a", "172.18.0.0/16")
        a1, a2 = w.container("a1", net, 2), w.container("a2", net, 3)
        w.sync()
        w.sb.sh(["ip", "addr", "add", "172.18.0.99/16", "dev", "eth0"], ns=a1.ns)

        def ping(box: object, dst: object, source: str | None = None) -> bool:
            argv = ["ping", "-c", "1", "-W", "1", *(["-I", source] if source else []), str(dst)]
            return w.sb.sh(argv, ns=box.ns, check=False).returncode == 0  # type: ignore[attr-defined]

        assert ping(a1, a2.ip) and ping(a1, INTERNET)
        assert not ping(a1, a2.ip, "172.18.0.99")
        assert not ping(a1, INTERNET, "172.18.0.99")
        assert not ping(a1, net.gateway, "172.18.0.99")
        w.sb.sh(["ip", "link", "set", "eth0", "address", "02:42:00:00:00:99"], ns=a2.ns)
        w.sb.sh(["ip", "neigh", "flush", "all"], ns=a2.ns)
        assert not ping(a2, a1.ip)
        assert not ping(a2, net.gateway)


def test_router_advertisements_and_ipv6_sources_do_not_cross_the_bridge() -> None:
    """The bridge table alone, with IPv6 left on in the containers (as in namespaces an older
    hatoba made): no router advertisement, no IPv6 source reaches a neighbour (CVE-2020-13401)."""
    with world() as w:
        net = w.network("a", "172.18.0.0/16")
        a1, a2 = w.container("a1", net, 2), w.container("a2", net, 3)
        w.sync()

        def heard(kind: str) -> list[str]:
            """What a2's eth0 receives of a1's frames of `kind` (see fw_peer frames)."""
            capture = w.sb.popen(
                [PY, PEER, "capture", "eth0", a1.endpoint.mac],
                ns=a2.ns,
                stdout=subprocess.PIPE,
                text=True,
            )
            assert capture.stdout is not None and capture.stdout.readline() == "ready\n"
            w.sb.sh([PY, PEER, "frames", "eth0", kind, str(a2.ip)], ns=a1.ns)
            *frames, marker = capture.communicate(timeout=15)[0].splitlines()
            assert marker == "marker"
            return frames

        def learned() -> str:
            return "".join(w.sb.sh(["ip", "-6", what], ns=a2.ns).stdout for what in ("r", "a"))

        assert heard("ra") == []
        assert heard("forged") == []
        assert "2001:db8" not in learned() and "default" not in learned()
        # the same frames without the table's rules get through: the checks are meaningful
        # (beside a1's own IPv6 chatter, as it heard its advertisement too, by hairpin)
        w.sb.sh(["nft", "flush", "chain", "bridge", "hatoba", "prerouting"])
        attacker = "fe80::42:acff:fe12:2"  # a1's link-local address, from its MAC
        assert f"ipv6 {attacker} 58 134" in heard("ra")
        assert "ipv6 fe80::1 58 128" in heard("forged")
        assert f"default via {attacker} dev eth0 proto ra" in learned()
        assert "inet6 2001:db8:1:0:42:acff:fe12:3/64 scope global" in learned()


def test_mss_is_clamped_to_the_uplink_mtu() -> None:
    with world(with_outside=True, uplink_mtu=1280) as w:
        net = w.network("a", "172.18.0.0/16")
        a1 = w.container("a1", net, 2)
        w.sync()
        assert "tcp option maxseg size set rt mtu" in w.listing()
        sink = w.sb.popen([PY, PEER, "sink", "9000"], ns=w.sb.outside, stdout=subprocess.PIPE)
        assert sink.stdout is not None and sink.stdout.readline().strip() == b"ready"
        dump = w.sb.popen(
            ["tcpdump", "-lni", "eth0", "-c", "1", "tcp[tcpflags] & tcp-syn != 0 and port 9000"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(0.5)  # tcpdump attaches
        size = 4 << 20
        sent = w.sb.sh([PY, PEER, "send", INTERNET, "9000", str(size)], ns=a1.ns, timeout=30)
        assert sent.stdout.strip() == str(size)
        syn = dump.communicate(timeout=10)[0].decode()
        # the container's eth0 has MTU 1500 and offered 1460; the uplink allows 1280 - 40
        assert re.search(r"mss (\d+)", syn).group(1) == "1240", syn  # type: ignore[union-attr]


def test_ip_forward_is_enabled_while_a_network_needs_it() -> None:
    with world() as w:
        forward = ["cat", "/proc/sys/net/ipv4/ip_forward"]
        assert w.sb.sh(forward).stdout.strip() == "0"  # a new namespace starts without
        w.network("secret", "172.20.0.0/16", internal=True)
        w.sync()
        assert w.sb.sh(forward).stdout.strip() == "0"  # internal networks do not need it
        w.network("a", "172.18.0.0/16")
        w.fw.apply(FirewallState(w.state.networks[:1]), w.state)
        assert w.sb.sh(forward).stdout.strip() == "1"
        # turned off by someone else: read afresh (through the descriptor kept open) and
        # turned on again by the next change
        w.sb.sh(["sysctl", "-qw", "net.ipv4.ip_forward=0"])
        w.fw.apply(w.state, FirewallState(w.state.networks))
        assert w.sb.sh(forward).stdout.strip() == "1"
