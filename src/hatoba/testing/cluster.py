"""Several hosts on one underlay, sharing a real etcd: the sandbox of overlay networks.

    [host1 192.0.2.1] --+                           each host: a Sandbox (namespace, roots),
    [host2 192.0.2.2] --+-- ul0 [underlay]          its service started by the CLI with
    [host3 192.0.2.3] --+   192.0.2.254             --cluster etcd://192.0.2.254:2379,
                            etcd :2379              --advertise-addr 192.0.2.<n>
                            198.51.100.10 on lo     and a short lease TTL
                            (an address "outside")

The underlay namespace is the switch, the hosts' router and the home of etcd (Debian's
etcd-server, its data on a tmpfs in the underlay's folder). `close()` ends every host's
processes, etcd with them, and deletes every namespace and folder.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from typing import Any

from hatoba.kernel import libc
from hatoba.testing.sandbox import Sandbox

UNDERLAY_PREFIX = 24
STORE = "192.0.2.254"
UNDERLAY_MAC = "02:00:c0:00:02:fe"  # the store's, on the underlay bridge
STORE_PORT = 2379
OUTSIDE = "198.51.100.10"
PARTITION_TABLE = "hatoba-test-partition"


def host_address(n: int) -> str:
    return f"192.0.2.{n}"


class Cluster:
    def __init__(self, hosts: int = 3, *, ttl: int = 2, mtu: int = 1500) -> None:
        self.ttl = ttl
        self.underlay = Sandbox(prefix="hatoba-ul-")
        self.hosts: list[Sandbox] = []
        self._etcd: subprocess.Popen[Any] | None = None
        self.etcd_dir = self.underlay.dir / "etcd"
        try:
            self._build_underlay(mtu)
            for n in range(1, hosts + 1):
                self._add_host(n, mtu)
            self.start_store()
        except BaseException:
            self.close()
            raise

    @property
    def store_url(self) -> str:
        return f"etcd://{STORE}:{STORE_PORT}"

    def host(self, n: int) -> Sandbox:
        """Host n, counted from 1 as their addresses are."""
        return self.hosts[n - 1]

    # --- building -------------------------------------------------------------------------

    def _build_underlay(self, mtu: int) -> None:
        ul = self.underlay
        # A bridge without an address of its own takes its ports' lowest: a host that goes
        # (its port with it) could change the store's MAC under the others' ARP entries, and
        # they could not reach the store (nor renew their leases) until those went stale.
        for cmd in (
            [
                "ip",
                "link",
                "add",
                "ul0",
                "address",
                UNDERLAY_MAC,
                "mtu",
                str(mtu),
                "type",
                "bridge",
            ],
            ["ip", "addr", "add", f"{STORE}/{UNDERLAY_PREFIX}", "dev", "ul0"],
            ["ip", "link", "set", "ul0", "up"],
            ["ip", "addr", "add", f"{OUTSIDE}/32", "dev", "lo"],
        ):
            ul.sh(cmd)
        self.etcd_dir.mkdir()
        # fsync on a tmpfs costs nothing: the store's latency is the protocol's alone
        libc.mount("tmpfs", str(self.etcd_dir), "tmpfs", 0, "mode=700")

    def _add_host(self, n: int, mtu: int) -> None:
        host = Sandbox(
            prefix=f"hatoba-h{n}-",
            env={
                "HATOBA_CLUSTER": self.store_url,
                "HATOBA_ADVERTISE_ADDR": host_address(n),
                "HATOBA_CLUSTER_TTL": str(self.ttl),
            },
        )
        self.hosts.append(host)  # closed with the others, also if the rest fails
        port = f"h{n}"
        host.sh(
            [
                "ip",
                "link",
                "add",
                "eth0",
                "mtu",
                str(mtu),
                "type",
                "veth",
                "peer",
                "name",
                port,
                "mtu",
                str(mtu),
                "netns",
                str(self.underlay.host),
            ]
        )
        self.underlay.sh(["ip", "link", "set", port, "master", "ul0", "up"])
        host.sh(["ip", "addr", "add", f"{host_address(n)}/{UNDERLAY_PREFIX}", "dev", "eth0"])
        host.sh(["ip", "link", "set", "eth0", "up"])
        host.sh(["ip", "route", "add", "default", "via", STORE])

    # --- the store ------------------------------------------------------------------------

    def start_store(self) -> None:
        url = f"http://{STORE}:{STORE_PORT}"
        log = (self.underlay.dir / "etcd.log").open("ab")
        self._etcd = self.underlay.popen(
            [
                "etcd",
                "--name",
                "underlay",
                "--data-dir",
                str(self.etcd_dir / "data"),
                "--listen-client-urls",
                url,
                "--advertise-client-urls",
                url,
                "--listen-peer-urls",
                "http://127.0.0.1:2380",
                "--initial-advertise-peer-urls",
                "http://127.0.0.1:2380",
                "--initial-cluster",
                "underlay=http://127.0.0.1:2380",
                "--log-level",
                "warn",
                "--logger",
                "zap",
            ],
            stdout=log,
            stderr=log,
        )
        log.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            probe = self.underlay.sh(
                ["etcdctl", "--endpoints", url, "--command-timeout=1s", "endpoint", "health"],
                check=False,
            )
            if probe.returncode == 0:
                return
            if self._etcd.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"etcd did not start: {(self.underlay.dir / 'etcd.log').read_text()}")

    def stop_store(self) -> None:
        etcd, self._etcd = self._etcd, None
        if etcd is not None:
            etcd.terminate()
            try:
                etcd.wait(timeout=10)
            except subprocess.TimeoutExpired:
                etcd.kill()
                etcd.wait()

    # --- faults ---------------------------------------------------------------------------

    def partition(self, n: int) -> None:
        """Host n can no longer reach the store (its packets to and from it are dropped),
        while the underlay between hosts stays whole."""
        rules = (
            f"table inet {PARTITION_TABLE} {{\n"
            f"  chain out {{ type filter hook output priority 0; ip daddr {STORE} "
            f"tcp dport {STORE_PORT} drop; }}\n"
            f"  chain in {{ type filter hook input priority 0; ip saddr {STORE} "
            f"tcp sport {STORE_PORT} drop; }}\n"
            "}\n"
        )
        self.host(n).sh(["nft", "-f", "-"], input=rules)

    def heal(self, n: int) -> None:
        self.host(n).sh(["nft", "delete", "table", "inet", PARTITION_TABLE])

    # --- teardown -------------------------------------------------------------------------

    def close(self) -> None:
        for host in self.hosts:
            host.close()
        self.stop_store()
        with contextlib.suppress(Exception):
            libc.umount(str(self.etcd_dir), libc.MNT_DETACH)
        self.underlay.close()
        shutil.rmtree(self.underlay.dir, ignore_errors=True)

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
