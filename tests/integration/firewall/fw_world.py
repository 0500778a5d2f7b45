"""Hand-built bridges, veths and container namespaces for the firewall's integration tests.

The engine is not involved: each network is a Linux bridge with its gateway address, each
"container" a namespace with `eth0` (MAC 02:42:<ip bytes>, default route via the gateway) whose
peer `veth<...>` is a port of the bridge in hairpin mode, as the engine makes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import IO, Any

from hatoba.firewall import FirewallState, FwEndpoint, FwNetwork, FwPort
from hatoba.kernel.firewall import NftFirewall
from hatoba.kernel.netns import call_in_netns
from hatoba.kernel.nft_helper import NftHelper
from hatoba.testing.sandbox import Sandbox

PEER = str(Path(__file__).parents[2] / "fixtures" / "fw_peer.py")
PY = sys.executable
SERVE_PORT = 80


@dataclass(frozen=True)
class Box:
    """A container: its namespace and its endpoint on one network."""

    name: str
    ns: Path
    endpoint: FwEndpoint

    @property
    def ip(self) -> IPv4Address:
        return self.endpoint.ipv4


_NOWHERE = IPv4Network("0.0.0.0/32")


@dataclass(frozen=True)
class Net(FwNetwork):
    """A network as these tests build it: one IPv4 subnet, its gateway the first address."""

    subnet: IPv4Network = _NOWHERE
    gateway: IPv4Address = _NOWHERE.network_address


def mac_of(ip: IPv4Address) -> str:
    return "02:42:" + ":".join(f"{b:02x}" for b in ip.packed)


class World:
    """A sandbox, its networks and containers, and the firewall state they make."""

    def __init__(self, sb: Sandbox) -> None:
        self.sb = sb
        self.networks: list[FwNetwork] = []
        self.boxes: list[Box] = []
        self.ports: list[FwPort] = []
        self.nft = NftHelper()
        self.fw: NftFirewall = call_in_netns(str(sb.host), lambda: NftFirewall(self.nft))

    def close(self) -> None:
        self.fw.close()
        self.nft.close()

    # --- building ----------------------------------------------------------------------

    def network(self, name: str, cidr: str, *, internal: bool = False, icc: bool = True) -> Net:
        subnet = IPv4Network(cidr)
        gateway = subnet.network_address + 1
        net_id = hashlib.sha256(name.encode()).hexdigest()
        bridge = f"br-{net_id[:12]}"
        self.sb.sh(["ip", "link", "add", bridge, "type", "bridge"])
        self.sb.sh(["ip", "addr", "add", f"{gateway}/{subnet.prefixlen}", "dev", bridge])
        self.sb.sh(["ip", "link", "set", bridge, "up"])
        net = Net(net_id, name, bridge, (subnet,), internal, icc, subnet=subnet, gateway=gateway)
        self.networks.append(net)
        self.fw.bridge_ready(bridge, internal)
        return net

    def container(self, name: str, net: Net, host_part: int) -> Box:
        ip = net.subnet.network_address + host_part
        ns = self.sb._new_ns(name)
        veth = "veth" + hashlib.sha256(f"{name}{net.name}".encode()).hexdigest()[:7]
        self.sb.sh(
            [
                "ip",
                "link",
                "add",
                veth,
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "address",
                mac_of(ip),
                "netns",
                str(ns),
            ]
        )
        self.sb.sh(["ip", "link", "set", veth, "master", net.bridge])
        self.sb.sh(["bridge", "link", "set", "dev", veth, "hairpin", "on"])
        self.sb.sh(["ip", "link", "set", veth, "up"])
        for cmd in (
            ["ip", "link", "set", "lo", "up"],
            ["ip", "addr", "add", f"{ip}/{net.subnet.prefixlen}", "dev", "eth0"],
            ["ip", "link", "set", "eth0", "up"],
            ["ip", "route", "add", "default", "via", str(net.gateway)],
        ):
            self.sb.sh(cmd, ns=ns)
        box = Box(name, ns, FwEndpoint(name + "-id", name, net.network_id, veth, ip, mac_of(ip)))
        self.boxes.append(box)
        return box

    def publish(
        self,
        box: Box,
        host_port: int,
        *,
        container_port: int = SERVE_PORT,
        proto: str = "tcp",
        host_ip: str | None = None,
    ) -> FwPort:
        port = FwPort(
            box.endpoint.container_id,
            box.name,
            box.endpoint.network_id,
            box.ip,
            container_port,
            proto,
            IPv4Address(host_ip) if host_ip else None,
            host_port,
        )
        self.ports.append(port)
        return port

    @property
    def state(self) -> FirewallState:
        return FirewallState(
            tuple(self.networks), tuple(b.endpoint for b in self.boxes), tuple(self.ports)
        )

    def sync(self) -> FirewallState:
        state = self.state
        self.fw.sync(state)
        return state

    # --- traffic -------------------------------------------------------------------------

    def serve(self, ns: Path | None, port: int = SERVE_PORT) -> Server:
        """Start the peer server in a namespace (the host's when None)."""
        proc = self.sb.popen([PY, PEER, "serve", str(port)], ns=ns, stdout=subprocess.PIPE)
        return Server(proc)

    def probe(self, ns: Path | None, targets: Sequence[Target]) -> list[str]:
        """Ask every (proto, ip, port) at once from one namespace; see fw_peer.probe."""
        return self.probe_all({ns: targets})[ns]

    def probe_all(
        self, plan: Mapping[Path | None, Sequence[Target]]
    ) -> dict[Path | None, list[str]]:
        """Run the probes of several namespaces in parallel."""
        procs = {
            ns: self.sb.popen(
                [PY, PEER, "probe", json.dumps([[p, str(ip), port] for p, ip, port in targets])],
                ns=ns,
                stdout=subprocess.PIPE,
            )
            for ns, targets in plan.items()
        }
        return {ns: json.loads(proc.communicate(timeout=30)[0]) for ns, proc in procs.items()}

    def ask(self, ns: Path | None, ip: object, port: int = SERVE_PORT, proto: str = "tcp") -> str:
        """What the server at ip:port saw as our address (TIMEOUT/ERROR when unreachable)."""
        return self.probe(ns, [(proto, ip, port)])[0]

    def listing(self) -> str:
        return self.sb.sh(["nft", "list", "ruleset"]).stdout

    def listing_json(self, table: str = "hatoba") -> list[object]:
        """Both hatoba tables as nft lists them, handles included."""
        out = []
        for family in ("inet", "bridge"):
            text = self.sb.sh(["nft", "-j", "list", "table", family, table]).stdout
            out += json.loads(text)["nftables"][1:]
        return out


Target = tuple[str, object, int]


class Server:
    """A running fw_peer server; `seen()` returns the "proto address" lines it printed."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        self._lines: queue.Queue[str] = queue.Queue()
        assert proc.stdout.readline().strip() == b"ready"
        threading.Thread(target=self._read, args=(proc.stdout,), daemon=True).start()

    def _read(self, stream: IO[bytes]) -> None:
        for line in stream:
            self._lines.put(line.decode().removeprefix("seen ").strip())

    def seen(self, wait: float = 0.0) -> list[str]:
        out = []
        with contextlib.suppress(queue.Empty):
            out.append(self._lines.get(timeout=wait) if wait else self._lines.get_nowait())
            while True:
                out.append(self._lines.get_nowait())
        return out


@contextmanager
def world(**sandbox: object) -> Iterator[World]:
    with Sandbox(**sandbox) as sb:  # type: ignore[arg-type]
        w = World(sb)
        try:
            yield w
        finally:
            w.close()


def wait_for(predicate: object, timeout: float = 2.0) -> float:
    """Poll until predicate() is true; return the seconds it took (raise on timeout)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():  # type: ignore[operator]
            return time.monotonic() - start
        time.sleep(0.02)
    raise AssertionError(f"condition not met within {timeout}s")


def normalized_tables(sb: Sandbox) -> list[object]:
    """The hatoba tables from `nft -j list ruleset`, without handles and with set elements
    sorted: two listings are equal when the tables hold the same things, however they got
    there."""
    listing = json.loads(sb.sh(["nft", "-j", "list", "ruleset"]).stdout)["nftables"]
    out = []
    for obj in listing:
        ((kind, body),) = obj.items()
        if body.get("table", body.get("name")) != "hatoba":
            continue
        body = {k: v for k, v in body.items() if k != "handle"}
        if "elem" in body:
            body["elem"] = sorted(body["elem"], key=lambda e: json.dumps(e, sort_keys=True))
        out.append({kind: body})
    # creation order shows in a listing; only the order of rules within a chain matters
    return sorted(out, key=lambda o: json.dumps(_identity(o)))


def _identity(obj: dict[str, Any]) -> list[str]:
    ((kind, body),) = obj.items()
    return [kind, body.get("family", ""), body.get("chain", ""), body.get("name", "")]


@contextmanager
def event_loop_thread() -> Iterator[asyncio.AbstractEventLoop]:
    """An asyncio loop running on its own thread, as the service's."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="fw-test-loop")
    thread.start()
    try:
        yield loop
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


def on_loop(loop: asyncio.AbstractEventLoop, fn: Callable[[], object]) -> None:
    async def call() -> None:
        fn()

    asyncio.run_coroutine_threadsafe(call(), loop).result(5)
