"""Overlay networks across hosts (issue 13), through each host's CLI: three host namespaces on
one underlay, a real etcd (hatoba.testing.Cluster), one service per host with a 2 s lease.

The tests share one cluster and run in file order: the ones that break a host (partition,
kill) come last. Each test removes what it made.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from fixtures.fw_probe import frames_heard, idle, probe, serve
from fixtures.processes import eventually, kill_unsupervised, wait_gone
from hatoba.testing import Cluster, Sandbox
from hatoba.testing.cluster import OUTSIDE, STORE, STORE_PORT, host_address

pytestmark = pytest.mark.root

TTL = 2
# what the issue allows a dead host's endpoints to linger elsewhere
DROP_WITHIN = TTL + 2


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with Cluster(3, ttl=TTL) as made:
        for host in made.hosts:
            host.hatoba("info")  # starts each service
        assert eventually(lambda: len(_info(made.host(1))["Hosts"]) == 3, seconds=5)
        yield made


def _info(host: Sandbox) -> dict[str, object]:
    data = json.loads(host.hatoba("info", "--format", "{{json .}}").stdout)
    return data["Hatoba"]["Cluster"]  # type: ignore[no-any-return]


def _run(host: Sandbox, name: str, network: str, *extra: str) -> str:
    return host.hatoba(
        "run", "-d", "--name", name, "--network", network, *extra, "hostfs", "sleep", "300"
    ).stdout.strip()


def _exec(host: Sandbox, name: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return host.hatoba("exec", name, *argv, check=False)


def _resolves(host: Sandbox, container: str, name: str) -> set[str]:
    out = _exec(host, container, "nslookup", name).stdout
    return set(re.findall(r"Address: (\d+\.\d+\.\d+\.\d+)$", out, re.M))


def _pings(host: Sandbox, container: str, target: str) -> bool:
    return _exec(host, container, "ping", "-c", "1", "-W", "1", target).returncode == 0


def _address(host: Sandbox, container: str, network: str) -> str:
    data = json.loads(host.hatoba("inspect", container).stdout)[0]
    return str(data["NetworkSettings"]["Networks"][network]["IPAddress"])


def _store_keys(cluster: Cluster, prefix: str) -> list[str]:
    out = cluster.underlay.sh(
        [
            "etcdctl",
            "--endpoints",
            f"http://{STORE}:{STORE_PORT}",
            "get",
            "--prefix",
            "--keys-only",
            f"/hatoba/v1/{prefix}",
        ]
    ).stdout
    return [line for line in out.splitlines() if line]


def _overlay(cluster: Cluster, network: str) -> None:
    """Created on host 1, once every host has it."""
    cluster.host(1).hatoba("network", "create", "-d", "overlay", network)
    assert eventually(
        lambda: all(network in h.hatoba("network", "ls").stdout for h in cluster.hosts)
    )


def _segments(host: Sandbox) -> list[Path]:
    """The handles of the host's overlay segments (a namespace per overlay network)."""
    return sorted((host.run_root / "netns").glob("ov-*"))


def _segment(host: Sandbox, network: str) -> Path:
    network_id = host.hatoba("network", "inspect", "-f", "{{.Id}}", network).stdout.strip()
    return host.run_root / "netns" / f"ov-{network_id[:12]}"


def _neighbours(host: Sandbox) -> str:
    """The static neighbour entries of every overlay segment of the host."""
    return "".join(
        host.sh(["ip", "neigh", "show", "nud", "permanent"], ns=ns).stdout for ns in _segments(host)
    )


def _pair(cluster: Cluster, network: str, first: str, second: str) -> str:
    """`first` on host 1, `second` on host 2, once host 1's tunnel knows `second`; its
    address."""
    _run(cluster.host(1), first, network)
    _run(cluster.host(2), second, network)
    address = _address(cluster.host(2), second, network)
    assert eventually(lambda: address in _neighbours(cluster.host(1)))
    return address


def _cleanup(cluster: Cluster, network: str) -> None:
    """Everything removed, and nothing of the network left on any host: no segment, no link."""
    for host in cluster.hosts:
        ids = host.hatoba("ps", "-aq").stdout.split()
        if ids:
            host.hatoba("rm", "-f", *ids)

    def removed() -> bool:
        # asked again until it goes: a failed test's leftover (a record a lease still holds)
        # must not fail the module's later tests too
        cluster.host(1).hatoba("network", "rm", network, check=False)
        return all(network not in h.hatoba("network", "ls").stdout for h in cluster.hosts)

    assert eventually(removed, seconds=DROP_WITHIN)
    for host in cluster.hosts:
        assert eventually(lambda host=host: _bare(host), seconds=DROP_WITHIN), (
            _segments(host),
            host.sh(["ip", "-br", "link"]).stdout,
        )


def _bare(host: Sandbox) -> bool:
    """No overlay segment, and no overlay link in the host's namespace."""
    links = host.sh(["ip", "-br", "link"]).stdout
    return not _segments(host) and "ov-" not in links and "vx-" not in links


def _within(seconds: float, check: Callable[[], bool]) -> float:
    """How long `check` took to come true (fails past `seconds`)."""
    started = time.monotonic()
    assert eventually(check, seconds=seconds), f"not within {seconds} s"
    return time.monotonic() - started


def test_one_network_across_three_hosts_by_name_alias_and_on_the_wire(cluster: Cluster) -> None:
    h1, h2, h3 = cluster.hosts
    network_id = h1.hatoba("network", "create", "-d", "overlay", "--attachable", "ov").stdout
    try:
        for host in cluster.hosts:
            assert eventually(lambda host=host: "ov" in host.hatoba("network", "ls").stdout)
            row = host.hatoba("network", "ls", "--filter", "name=ov").stdout.splitlines()[1]
            assert row.split()[1:] == ["ov", "overlay", "global"]
        _run(h1, "web1", "ov", "--network-alias", "web")
        _run(h2, "web2", "ov", "--network-alias", "web")
        _run(h3, "db3", "ov", "--network-alias", "db")
        web2, db3 = _address(h2, "web2", "ov"), _address(h3, "db3", "ov")
        web1 = _address(h1, "web1", "ov")
        assert len({web1, web2, db3}) == 3
        assert eventually(lambda: _resolves(h1, "web1", "db3") == {db3})
        assert _pings(h1, "web1", "db3") and _pings(h1, "web1", "db")
        assert _pings(h3, "db3", "web2") and _pings(h2, "web2", "web1")
        # the alias answers for both hosts' containers (round robin), from any host
        assert eventually(lambda: _resolves(h3, "db3", "web") == {web1, web2})
        # out through its own host's NAT
        assert _pings(h2, "web2", OUTSIDE)

        # on the underlay: VXLAN to the IANA port, with the network's VNI
        vni = json.loads(h1.hatoba("network", "inspect", "ov").stdout)[0]["Options"][
            "com.docker.network.driver.overlay.vxlanid_list"
        ]
        dump = cluster.underlay.popen(
            ["tcpdump", "-nli", "h1", "-c", "2", "udp", "port", "4789"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            time.sleep(0.5)
            assert _pings(h1, "web1", "web2")
            out, _ = dump.communicate(timeout=10)
        finally:
            dump.kill()
        assert f"{host_address(1)}." in out and f"{host_address(2)}.4789" in out
        assert f"VXLAN, flags [I] (0x08), vni {vni}" in out

        # rm from any host is refused while any host has endpoints on it
        refused = h3.hatoba("network", "rm", "ov", check=False)
        assert refused.returncode != 0 and "has active endpoints" in refused.stderr
        assert "ov" in h3.hatoba("network", "ls").stdout
    finally:
        _cleanup(cluster, "ov")
    assert _store_keys(cluster, "endpoints/") == []
    assert _store_keys(cluster, "networks/") == []
    for host in cluster.hosts:
        links = host.sh(["ip", "-br", "link"]).stdout
        assert f"ov-{network_id.strip()[:12]}" not in links and "vx-" not in links
        assert _segments(host) == []


def test_the_same_name_created_on_three_hosts_at_once_is_one_network(cluster: Cluster) -> None:
    def create(host: Sandbox) -> subprocess.CompletedProcess[str]:
        return host.hatoba("network", "create", "-d", "overlay", "race", check=False)

    try:
        with ThreadPoolExecutor(3) as pool:
            results = list(pool.map(create, cluster.hosts))
        assert sorted(r.returncode for r in results) == [0, 1, 1]
        for failed in (r for r in results if r.returncode):
            assert "network with name race already exists" in failed.stderr
        assert len(_store_keys(cluster, "networks/")) == 1
        ids = {r.stdout.strip() for r in results if r.returncode == 0}
        for host in cluster.hosts:
            assert eventually(
                lambda host=host: (
                    host.hatoba(
                        "network", "ls", "-q", "--no-trunc", "--filter", "name=race"
                    ).stdout.split()
                    == list(ids)
                )
            )
    finally:
        _cleanup(cluster, "race")


def test_three_hosts_starting_fifty_each_at_once_never_share_an_address(cluster: Cluster) -> None:
    cluster.host(2).hatoba("network", "create", "-d", "overlay", "--subnet", "10.9.0.0/24", "many")
    per_host = 50

    def start(job: tuple[int, int]) -> None:
        n, i = job
        _run(cluster.host(n), f"c{n}-{i}", "many")

    try:
        assert eventually(
            lambda: all("many" in h.hatoba("network", "ls").stdout for h in cluster.hosts)
        )
        jobs = [(n, i) for i in range(per_host) for n in (1, 2, 3)]
        with ThreadPoolExecutor(6) as pool:
            list(pool.map(start, jobs))
        seen: list[str] = []
        for host in cluster.hosts:
            containers = json.loads(host.hatoba("network", "inspect", "many").stdout)[0][
                "Containers"
            ]
            assert len(containers) == per_host
            seen += [c["IPv4Address"] for c in containers.values()]
        assert len(seen) == 3 * per_host and len(set(seen)) == len(seen)
        assert len(_store_keys(cluster, "endpoints/")) == 3 * per_host
    finally:
        _cleanup(cluster, "many")


def test_without_the_store_local_networks_and_running_overlays_go_on(cluster: Cluster) -> None:
    h1, h2, _ = cluster.hosts
    _overlay(cluster, "steady")
    try:
        _run(h1, "s1", "steady")
        _run(h2, "s2", "steady")
        assert eventually(lambda: _pings(h1, "s1", "s2"))
        before = _store_keys(cluster, "")
        cluster.stop_store()
        try:
            assert eventually(lambda: "unreachable" in h1.hatoba("info").stdout, seconds=5)
            # running overlay containers keep their traffic and their names
            assert _pings(h1, "s1", "s2") and _pings(h2, "s2", "s1")
            # local networks are untouched
            h1.hatoba("network", "create", "local1")
            _run(h1, "l1", "local1")
            h1.hatoba("rm", "-f", "l1")
            h1.hatoba("network", "rm", "local1")
            # what needs the store says which store it cannot reach, and makes nothing
            for failed in (
                h1.hatoba("network", "create", "-d", "overlay", "later", check=False),
                h2.hatoba(
                    "run",
                    "-d",
                    "--name",
                    "s3",
                    "--network",
                    "steady",
                    "hostfs",
                    "sleep",
                    "300",
                    check=False,
                ),
            ):
                assert failed.returncode != 0
                assert f"cluster store etcd://{STORE}:{STORE_PORT} is unavailable" in failed.stderr
            assert "later" not in h1.hatoba("network", "ls").stdout
            assert "s3" not in h2.hatoba("ps", "-a").stdout
        finally:
            cluster.start_store()
        assert eventually(lambda: "(connected)" in h1.hatoba("info").stdout, seconds=5)
        assert _store_keys(cluster, "") == before
        _run(h2, "s3", "steady")
        assert eventually(lambda: _pings(h1, "s1", "s3"))
    finally:
        _cleanup(cluster, "steady")


def test_a_restarted_service_keeps_its_overlay_containers_on_the_network(
    cluster: Cluster,
) -> None:
    h1, h2, _ = cluster.hosts
    _overlay(cluster, "again")
    try:
        _pair(cluster, "again", "r1", "r2")
        r1 = _address(h1, "r1", "again")
        kill_unsupervised(h1)
        h1.hatoba("ps")  # the CLI starts it again: same host id, a new lease
        assert eventually(lambda: "(connected)" in h1.hatoba("info").stdout, seconds=5)
        assert _pings(h1, "r1", "r2") and _pings(h2, "r2", "r1")
        assert _resolves(h2, "r2", "r1") == {r1}
        assert len(_info(h2)["Hosts"]) == 3  # type: ignore[arg-type]
    finally:
        _cleanup(cluster, "again")


def test_inspect_names_the_hosts_with_endpoints_as_peers(cluster: Cluster) -> None:
    _overlay(cluster, "peers")
    try:
        _pair(cluster, "peers", "p1", "p2")
        # host 3 has no endpoint on it: not a peer, though it has the network
        inspected = json.loads(cluster.host(3).hatoba("network", "inspect", "peers").stdout)[0]
        assert sorted(peer["IP"] for peer in inspected["Peers"]) == [
            host_address(1),
            host_address(2),
        ]
        assert all(peer["Name"] for peer in inspected["Peers"])
    finally:
        _cleanup(cluster, "peers")


def test_a_segment_holds_the_bridge_and_tunnel_and_the_host_routes_into_it(
    cluster: Cluster,
) -> None:
    """The overlay's bridge and VXLAN port live in a namespace of their own; the host has a
    veth into it with the gateway, and NAT, published ports and hairpin go through it."""
    h1, h2, _ = cluster.hosts
    _overlay(cluster, "seg")
    try:
        network = json.loads(h1.hatoba("network", "inspect", "seg").stdout)[0]
        bridge, tunnel = f"ov-{network['Id'][:12]}", f"vx-{network['Id'][:12]}"
        gateway = network["IPAM"]["Config"][0]["Gateway"]
        segment = _segment(h1, "seg")
        for host in (h1, h2):
            # the default network's bridge alone
            assert "ov-" not in host.sh(["ip", "-br", "link", "show", "type", "bridge"]).stdout
            assert host.sh(["ip", "-br", "link", "show", "type", "vxlan"]).stdout == ""
            assert bridge in host.sh(["ip", "-br", "link", "show", "type", "veth"]).stdout
            assert f"{gateway}/" in host.sh(["ip", "-br", "addr", "show", "dev", bridge]).stdout
        inside = h1.sh(["ip", "-d", "link", "show", tunnel], ns=segment).stdout
        assert f"master {bridge}" in inside and "vxlan id" in inside
        assert f"local {host_address(1)}" in inside and "dstport 4789" in inside
        assert "bridge" in h1.sh(["ip", "-d", "link", "show", bridge], ns=segment).stdout
        # bridged frames skip netfilter in there, whatever the host's sysctls say
        bridge_nf = h1.sh(
            ["sysctl", "-n", "net.bridge.bridge-nf-call-iptables"], ns=segment, check=False
        )
        assert bridge_nf.returncode != 0 or bridge_nf.stdout.strip() == "0"

        serve(h1, "web", "--network", "seg", "-p", "8000:80")
        idle(h1, "near", "--network", "seg")
        idle(h2, "far", "--network", "seg")
        web, far = _address(h1, "web", "seg"), _address(h2, "far", "seg")
        assert eventually(lambda: far in _neighbours(h1) and web in _neighbours(h2))
        # the containers' veths are ports of the bridge in the segment, beside the tunnel
        # and the host's link; the host has none of them
        ports = h1.sh(["ip", "-o", "link", "show", "master", bridge], ns=segment).stdout
        assert ports.count(": veth") == 2 and f": {tunnel}" in ports and ": gw-" in ports
        assert h1.sh(["ip", "-br", "link", "show", "type", "veth"]).stdout.count("veth") == 0
        # an outside client keeps its address
        assert probe(cluster.underlay, cluster.underlay.host, ("tcp", host_address(1), 8000)) == [
            STORE
        ]
        # hairpin: a neighbour through the published port, sent back into the segment by the
        # host, masqueraded (the answer is bridged in the segment, never un-NATed)
        assert probe(h1, "near", ("tcp", host_address(1), 8000)) == [gateway]
        # another host's container: to the published port through its own host's NAT, to
        # the container itself across the tunnel
        assert probe(h2, "far", ("tcp", host_address(1), 8000), ("tcp", web, 80)) == [
            host_address(2),
            far,
        ]
        assert _pings(h2, "far", OUTSIDE) and _pings(h1, "near", OUTSIDE)

        # the topology looks into the segment: its bridge and the ports there, no problem
        tree = h1.hatoba("network", "topology").stdout
        assert bridge in tree and "problem" not in tree, tree
        # `capture --network` listens on the bridge in the segment: it hears frames bridged
        # between two containers of this host, which never reach the host's namespace
        proc = h1.popen(
            [*h1.hatoba_argv, "capture", "--network", "seg", "-c", "2", "icmp"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stderr is not None and proc.stderr.readline().startswith("listening on")
        assert _pings(h1, "near", web)
        out, _ = proc.communicate(timeout=30)
        assert f"IP {_address(h1, 'near', 'seg')} > {web}: ICMP echo request" in out, out
    finally:
        _cleanup(cluster, "seg")


def test_a_segment_has_the_anti_spoofing_of_local_bridges(cluster: Cluster) -> None:
    """The host's `bridge hatoba` table never sees frames bridged in a segment: the segment has
    its own, for its ports (a router advertisement and a forged source do not pass)."""
    h1 = cluster.host(1)
    _overlay(cluster, "guard")
    try:
        idle(h1, "attacker", "--network", "guard")
        victim_ns = h1.run_root / "netns" / idle(h1, "victim", "--network", "guard").strip()
        victim = _address(h1, "victim", "guard")
        attacker_mac = json.loads(h1.hatoba("inspect", "attacker").stdout)[0]["NetworkSettings"][
            "Networks"
        ]["guard"]["MacAddress"]
        assert frames_heard(h1, "attacker", attacker_mac, victim_ns, victim, "ra") == []
        assert frames_heard(h1, "attacker", attacker_mac, victim_ns, victim, "forged") == []
        table = h1.sh(["nft", "list", "table", "bridge", "hatoba"], ns=_segment(h1, "guard"))
        assert attacker_mac in table.stdout and victim in table.stdout
    finally:
        _cleanup(cluster, "guard")


def _trace(host: Sandbox, *args: str) -> dict[str, object]:
    return json.loads(host.hatoba("trace", *args, "--format", "json").stdout)  # type: ignore[no-any-return]


def _seen(timeline: dict[str, object], hop: str, direction: str = "→") -> tuple[str, str]:
    """Where the flow's first packet (or its answer) was seen at `hop`: (src, dst)."""
    sightings = timeline["sightings"]
    assert isinstance(sightings, list)
    found = next(s for s in sightings if s["hop"] == hop and s["direction"] == direction)
    return found["src"], found["dst"]


def test_trace_follows_a_flow_through_the_segment_and_the_tunnel(cluster: Cluster) -> None:
    """The veths and the bridge of an overlay network are in its segment, the host's link
    into it is crossed by flows that leave the network, and another host's container is
    reached through the tunnel: `trace` listens at each of them."""
    h1, h2, _ = cluster.hosts
    _overlay(cluster, "seen")
    try:
        _run(h1, "t1", "seen")
        _run(h1, "t3", "seen")
        _run(h2, "t2", "seen")
        t1, t2, t3 = (_address(h, n, "seen") for h, n in ((h1, "t1"), (h2, "t2"), (h1, "t3")))
        network_id = h1.hatoba("network", "inspect", "-f", "{{.Id}}", "seen").stdout.strip()
        bridge, tunnel = f"ov-{network_id[:12]}", f"vx-{network_id[:12]}"
        assert eventually(lambda: t2 in _neighbours(h1))

        far = _trace(h1, "--from", "t1", "--to", "t2")
        assert far["hops"][0] == "eth0@t1" and far["hops"][1].endswith("@segment")  # its veth
        assert far["hops"][2:] == [f"{bridge}@segment", f"{tunnel}@segment"]
        assert _seen(far, f"{tunnel}@segment") == (t1, t2)
        assert _seen(far, "eth0@t1", "←") == (t2, t1)

        near = _trace(h1, "--from", "t1", "--to", "t3")
        assert near["hops"][-1] == "eth0@t3" and f"{bridge}@host" not in near["hops"]
        assert _seen(near, "eth0@t3") == (t1, t3)

        out = _trace(h1, "--from", "t1", "--to", OUTSIDE)
        assert _seen(out, f"{bridge}@host") == (t1, OUTSIDE)  # routed by the host, not NATed yet
        assert _seen(out, "eth0@host")[0] == host_address(1)  # masqueraded at the uplink
    finally:
        _cleanup(cluster, "seen")


def test_a_reset_leaves_no_segment_and_a_killed_service_s_network_still_goes(
    cluster: Cluster,
) -> None:
    _, _, h3 = cluster.hosts
    _overlay(cluster, "wipe")
    try:
        _run(h3, "w3", "wipe")
        assert _segments(h3)
        kept_by = h3.keeper_pid()
        h3.hatoba("system", "reset", "-f")
        assert kept_by is not None
        wait_gone(kept_by, seconds=5)
        assert _bare(h3)
        # it comes back: the cluster's network is made here again
        assert eventually(lambda: "wipe" in h3.hatoba("network", "ls").stdout)
        _run(h3, "w3", "wipe")
        assert _segments(h3)
        # a service killed with its network's segment in place: started again, it keeps it,
        # and `network rm` (after `rm -f`) leaves nothing (see _cleanup)
        kill_unsupervised(h3)
        h3.hatoba("rm", "-f", "w3")
        assert _segments(h3)
        h3.hatoba("network", "rm", "wipe")
    finally:
        _cleanup(cluster, "wipe")


def _fdb(host: Sandbox, segment: Path, tunnel: str) -> str:
    return host.sh(["bridge", "fdb", "show", "dev", tunnel], ns=segment, check=False).stdout


@pytest.mark.parametrize(
    ("where", "damage"),
    [
        ("segment", ["ip", "link", "del", "{tunnel}"]),
        ("segment", ["ip", "link", "set", "{tunnel}", "nomaster"]),
        ("segment", ["ip", "link", "del", "{bridge}"]),
        ("host", ["ip", "link", "del", "{bridge}"]),
    ],
    ids=["tunnel-deleted", "tunnel-off-its-bridge", "bridge-deleted", "host-link-deleted"],
)
def test_a_tunnel_or_bridge_broken_by_hand_is_made_again_with_its_peers(
    cluster: Cluster, where: str, damage: list[str]
) -> None:
    h1 = cluster.host(1)
    _overlay(cluster, "mend")
    try:
        m2 = _pair(cluster, "mend", "m1", "m2")
        network_id = h1.hatoba("network", "inspect", "-f", "{{.Id}}", "mend").stdout.strip()
        tunnel, bridge = f"vx-{network_id[:12]}", f"ov-{network_id[:12]}"
        segment = _segment(h1, "mend")
        h1.sh(
            [arg.format(tunnel=tunnel, bridge=bridge) for arg in damage],
            ns=segment if where == "segment" else None,
        )
        # the link watcher repairs within a second: the tunnel is a port of the bridge again,
        # with the remote container's forwarding and neighbour entries
        assert eventually(
            lambda: (
                f"master {bridge}"
                in h1.sh(["ip", "link", "show", tunnel], ns=segment, check=False).stdout
                and f"dst {host_address(2)}" in _fdb(h1, segment, tunnel)
                and m2 in _neighbours(h1)
            ),
            seconds=5,
        )
        assert eventually(lambda: _pings(h1, "m1", "m2")) and _pings(cluster.host(2), "m2", "m1")
        assert _pings(h1, "m1", OUTSIDE)
    finally:
        _cleanup(cluster, "mend")


def test_peer_entries_deleted_by_hand_come_back_at_a_restart(cluster: Cluster) -> None:
    """Forwarding and neighbour entries are no links: no notification tells the service; its
    next start compares every tunnel's entries with the store's records."""
    h1 = cluster.host(1)
    _overlay(cluster, "fdb")
    try:
        f2 = _pair(cluster, "fdb", "f1", "f2")
        mac = json.loads(cluster.host(2).hatoba("inspect", "f2").stdout)[0]["NetworkSettings"][
            "Networks"
        ]["fdb"]["MacAddress"]
        network_id = h1.hatoba("network", "inspect", "-f", "{{.Id}}", "fdb").stdout.strip()
        tunnel, segment = f"vx-{network_id[:12]}", _segment(h1, "fdb")
        h1.sh(["bridge", "fdb", "del", mac, "dev", tunnel, "self"], ns=segment)
        h1.sh(["ip", "neigh", "del", f2, "dev", tunnel], ns=segment)
        assert mac not in _fdb(h1, segment, tunnel) and f2 not in _neighbours(h1)
        kill_unsupervised(h1)
        h1.hatoba("ps")
        assert eventually(
            lambda: mac in _fdb(h1, segment, tunnel) and f2 in _neighbours(h1), seconds=5
        )
        assert _pings(h1, "f1", "f2") and _pings(h1, "f1", OUTSIDE)
    finally:
        _cleanup(cluster, "fdb")


def test_a_host_cut_off_from_the_store_is_dropped_then_comes_back(cluster: Cluster) -> None:
    h1, _, h3 = cluster.hosts
    _overlay(cluster, "split")
    try:
        _run(h1, "p1", "split")
        _run(h3, "p3", "split", "--network-alias", "far")
        p3 = _address(h3, "p3", "split")
        assert eventually(lambda: _resolves(h1, "p1", "far") == {p3})
        cluster.partition(3)
        try:
            # the others drop it when its lease runs out, within TTL + 2 s
            _within(DROP_WITHIN + 1, lambda: p3 not in _neighbours(h1))
            assert _resolves(h1, "p1", "far") == set()
            assert not _pings(h1, "p1", p3)
        finally:
            cluster.heal(3)
        # it takes a new lease and registers its running endpoint again
        assert eventually(lambda: _resolves(h1, "p1", "far") == {p3}, seconds=DROP_WITHIN + 4)
        assert eventually(lambda: _pings(h1, "p1", "p3"))
    finally:
        _cleanup(cluster, "split")


def test_a_dead_host_leaves_the_others_within_the_lease(cluster: Cluster) -> None:
    """Last: host 2 is killed for good (service and keeper, then its namespace)."""
    h1, h2, h3 = cluster.hosts
    _overlay(cluster, "doomed")
    try:
        d2 = _pair(cluster, "doomed", "d1", "d2")
        assert eventually(lambda: d2 in _neighbours(h3))
        kill_unsupervised(h2)
        h2.close()
        _within(DROP_WITHIN, lambda: d2 not in _neighbours(h1) and d2 not in _neighbours(h3))
        assert _resolves(h1, "d1", "d2") == set()
        assert len(_info(h1)["Hosts"]) == 2  # type: ignore[arg-type]
        # its address went back to the pool with its lease
        assert not any(k.endswith(f"/{d2}") for k in _store_keys(cluster, "endpoints/"))
    finally:
        cluster.hosts.remove(h2)
        _cleanup(cluster, "doomed")
