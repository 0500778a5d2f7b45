"""What the overlay's throughput would gain if its bridged frames skipped the host namespace's
netfilter: the evidence for (or against) giving each overlay network a namespace of its own,
as Docker's overlay driver does (README, Performance).

Two hosts of a `hatoba.testing.Cluster`, one overlay network, iperf3 container → container
(through VXLAN) and host → host (the underlay), run as `bench/overlay.py` runs them. Rounds
alternate two settings of both host namespaces, their order alternating too:

- `as is`: as hatoba leaves them (br_netfilter loaded, `net.bridge.bridge-nf-call-*` 1, and
  hatoba's `nf_call_iptables` on its bridges), so every bridged IPv4 frame passes the host's
  inet hooks and conntrack;
- `off netfilter`: those sysctls and every bridge's `nf_call_*` at 0 — what a namespace of the
  overlay's own, holding its bridge, would give the frames. Only the bridged frames change:
  the VXLAN packets and the underlay's own traffic pass the host's hooks either way.

Per setting: the median of each round's overlay / underlay ratio, both throughputs, and the
CPU seconds per GB the two iperf3 processes spent on the overlay (their time includes the
kernel's work on the path, which runs in their context on veths). The CPU figure moves far
less with load from elsewhere than the throughputs do.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import gbits, save, table
from bench.overlay import PORT, _address, _wait

SETTINGS = ("as is", "off netfilter")
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Sizes:
    rounds: int = 12
    seconds: int = 3


QUICK = Sizes(rounds=2, seconds=2)


@dataclass(frozen=True)
class Run:
    gbits: float
    cpu_per_gb: float


def _bridged_netfilter(host: Any, on: bool) -> None:
    value = "1" if on else "0"
    bridges = json.loads(host.sh(["ip", "-j", "link", "show", "type", "bridge"]).stdout)
    for bridge in bridges:
        host.sh(
            ["ip", "link", "set", bridge["ifname"], "type", "bridge"]
            + [
                arg
                for kind in ("iptables", "ip6tables", "arptables")
                for arg in (f"nf_call_{kind}", value)
            ]
        )
    for kind in ("iptables", "ip6tables", "arptables"):
        host.sh(["sysctl", "-qw", f"net.bridge.bridge-nf-call-{kind}={value}"])


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def _iperf(ns: Path, server: str, port: int, server_pid: int, seconds: int) -> Run:
    """One client run straight in namespace `ns`; nsenter execs iperf3, so the client's own
    CPU time is what wait4 reports, the server's what its /proc entry gained meanwhile."""
    argv = ["nsenter", f"--net={ns}", "iperf3", "-J", "-c", server, "-p", str(port)]
    argv += ["-t", str(seconds), "-O", "1"]
    served = _cpu_seconds(server_pid)
    client = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    assert client.stdout is not None
    out = client.stdout.read()
    _, status, usage = os.wait4(client.pid, 0)
    if status != 0:
        raise RuntimeError(f"iperf3 to {server}:{port} failed:\n{out}")
    served = _cpu_seconds(server_pid) - served
    end = json.loads(out)["end"]
    # the CPU time covers the omitted first second too: count its bytes at the mean rate
    sent = end["sum_sent"]["bytes"] * (seconds + 1) / seconds / 1e9
    cpu = usage.ru_utime + usage.ru_stime + served
    return Run(end["sum_received"]["bits_per_second"] / 1e9, cpu / sent)


def measure(sizes: Sizes) -> dict[str, dict[str, list[float]]]:
    from hatoba.testing import Cluster

    found = {s: {"ratio": [], "overlay": [], "underlay": [], "cpu": []} for s in SETTINGS}
    with Cluster(2, ttl=10) as cluster:
        h1, h2 = cluster.host(1), cluster.host(2)
        h1.hatoba("network", "create", "-d", "overlay", "wire")
        _wait(lambda: "wire" in h2.hatoba("network", "ls").stdout)
        ids = [
            host.hatoba(
                "run", "-d", "--network", "wire", "--name", name, "hostfs", "sleep", "infinity"
            ).stdout.strip()
            for host, name in ((h1, "client"), (h2, "server"))
        ]
        in_client, in_server = (
            h.run_root / "netns" / i for h, i in zip((h1, h2), ids, strict=True)
        )
        servers = {
            kind: h2.popen(
                ["iperf3", "-s", "-p", str(port)],
                ns=ns,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for kind, ns, port in (("overlay", in_server, PORT), ("underlay", None, PORT + 1))
        }
        ends = {
            "overlay": (in_client, _address(h2, "server", "wire"), PORT),
            "underlay": (h1.host, "192.0.2.2", PORT + 1),
        }
        try:
            ping = ["ping", "-c", "1", "-W", "1", ends["overlay"][1]]
            _wait(lambda: h1.sh(ping, ns=in_client, check=False).returncode == 0)
            time.sleep(0.3)  # both iperf3 servers listening
            for r in range(sizes.rounds):
                for setting in SETTINGS if r % 2 == 0 else SETTINGS[::-1]:
                    for host in (h1, h2):
                        _bridged_netfilter(host, setting == "as is")
                    kinds = ("overlay", "underlay") if r % 2 == 0 else ("underlay", "overlay")
                    runs = {k: _iperf(*ends[k], servers[k].pid, sizes.seconds) for k in kinds}
                    got = found[setting]
                    got["overlay"].append(runs["overlay"].gbits)
                    got["underlay"].append(runs["underlay"].gbits)
                    got["ratio"].append(runs["overlay"].gbits / runs["underlay"].gbits)
                    got["cpu"].append(runs["overlay"].cpu_per_gb)
        finally:
            for server in servers.values():
                server.kill()
                server.wait()
    return found


def main(quick: bool = False) -> None:
    if os.geteuid() != 0:
        raise SystemExit("bench/overlay_netfilter.py needs root (namespaces)")
    sizes = QUICK if quick else Sizes()
    load = os.getloadavg()[0]
    found = measure(sizes)
    save("overlay_netfilter", {"load_before": load, "found": found})
    rows = []
    for setting in SETTINGS:
        got = found[setting]
        rows += [
            (f"bridged frames {setting}", "overlay, Gbit/s", gbits(got["overlay"])),
            ("", "underlay, Gbit/s", gbits(got["underlay"])),
            ("", "overlay / underlay, median of rounds", f"{statistics.median(got['ratio']):.2f}×"),
            ("", "overlay CPU s per GB, median", f"{statistics.median(got['cpu']):.3f}"),
        ]
    title = f"Overlay, bridged frames through the host's netfilter or not ({sizes.rounds} rounds)"
    print(table(title, rows, ("setting", "measure", "value")))
