"""`make demo-cluster`: one overlay network across two hosts, and its packets on the wire.

Two namespaces play two hosts on one underlay (192.0.2.1 and 192.0.2.2, a switch at
192.0.2.254 that also runs etcd), each with its own hatoba service started with
`--cluster etcd://192.0.2.254:2379`. A network created on host 1 appears on host 2; a
container on each finds the other by name, and tcpdump on the underlay shows the ping inside
VXLAN (UDP 4789, the network's VNI). At the end everything is removed.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable

from hatoba.demo import BOLD, RESET, Demo
from hatoba.testing.cluster import STORE, STORE_PORT, Cluster

SUBNET = "10.10.0.0/24"


def main() -> int:
    with Cluster(2, ttl=3) as cluster:
        host1, host2 = (Demo(h) for h in cluster.hosts)
        print(f"{BOLD}Two hosts, one underlay, one etcd at {STORE}:{STORE_PORT}{RESET}")
        host1.section(
            "host 1 joins the cluster", "Its service runs with --cluster and an advertise address."
        )
        _until(lambda: all("(connected)" in h.hatoba_quiet("info") for h in (host1, host2)))
        host1.hatoba("info")
        host2.hatoba("info")
        host1.section(
            "an overlay network, created on host 1",
            "Name, subnet and VXLAN id are claimed in etcd in one transaction; every host "
            "makes the network's bridge and VXLAN device when its watch reports it.",
        )
        host1.hatoba("network", "create", "-d", "overlay", "--subnet", SUBNET, "ov1")
        _until(lambda: "ov1" in host2.hatoba_quiet("network", "ls"))
        host2.hatoba("network", "ls")
        host1.section("a container on each host")
        host1.hatoba("run", "-d", "--name", "web1", "--network", "ov1", "hostfs", "sleep", "600")
        host2.hatoba(
            "run",
            "-d",
            "--name",
            "web2",
            "--network",
            "ov1",
            "--network-alias",
            "web",
            "hostfs",
            "sleep",
            "600",
        )
        _until(
            lambda: (
                "web2" in host1.sb.hatoba("exec", "web1", "nslookup", "web2", check=False).stdout
            )
        )
        host1.section(
            "host 1's container pings host 2's by name",
            "tcpdump on host 1's port of the underlay switch: the ping travels inside VXLAN.",
        )
        dump = cluster.underlay.popen(
            ["tcpdump", "-nli", "h1", "-c", "4", "udp", "port", "4789"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        time.sleep(0.5)
        host1.hatoba("exec", "web1", "ping", "-c", "2", "web2")
        try:
            wire, _ = dump.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            dump.kill()
            wire, _ = dump.communicate()
        print(f"\nunderlay$ tcpdump -nli h1 udp port 4789\n{wire.rstrip()}")
        host1.hatoba("exec", "web1", "nslookup", "web")
        host1.section(
            "what host 1's kernel was told",
            "No flooding and no multicast: host 2's container MAC is behind 192.0.2.2 in the "
            "VXLAN device's forwarding table, its address has that MAC in the neighbour table.",
        )
        network_id = host1.hatoba_quiet("network", "inspect", "-f", "{{.Id}}", "ov1")[:12]
        # the network's bridge and VXLAN device are in a namespace of its own, the segment
        enter = f"--net={host1.sb.run_root / 'netns' / f'ov-{network_id}'}"
        host1.host("nsenter", enter, "bridge", "fdb", "show", "dev", f"vx-{network_id}")
        host1.host("nsenter", enter, "ip", "neigh", "show", "dev", f"vx-{network_id}")
        host1.section("clean up")
        host1.hatoba("rm", "-f", "web1")
        host2.hatoba("rm", "-f", "web2")
        host2.hatoba("network", "rm", "ov1")
        _until(lambda: "ov1" not in host1.hatoba_quiet("network", "ls"))
        host1.hatoba("network", "ls")
    print("\nThe hosts, the underlay and etcd are gone; the machine is as it was.")
    return 0


def _until(check: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit("the demo waited in vain")
        time.sleep(0.1)


if __name__ == "__main__":
    raise SystemExit(main())
