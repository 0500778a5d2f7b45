"""`make demo`: the seed walkthrough (a study note on Docker networking) replayed with hatoba.

Everything happens in a throwaway sandbox: a namespace plays the host (eth0 203.0.113.1), and
an "outside" namespace plays the client 203.0.113.150, the internet server 198.51.100.10 and
the resolver 198.51.100.53. Each step prints its command and output as the seed does; where the
seed runs tcpdump on eth0, docker0 and the bridges, `hatoba trace` follows the flow through all
of them at once (and `hatoba capture` watches one interface), and `hatoba explain` says why a
blocked flow goes nowhere. At the end everything is removed.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path

from hatoba.images.busybox import build_busybox_images
from hatoba.testing.resolver import start_resolver
from hatoba.testing.sandbox import CLIENT, HOST_UPLINK, INTERNET, RESOLVER, Sandbox

BOLD, DIM, RESET = ("\033[1m", "\033[2m", "\033[0m") if sys.stdout.isatty() else ("", "", "")


class Demo:
    def __init__(self, sb: Sandbox) -> None:
        self.sb = sb

    # --- printing ---------------------------------------------------------------------------

    def section(self, title: str, note: str = "") -> None:
        print(f"\n{BOLD}== {title}{RESET}")
        if note:
            print(textwrap.fill(note, 96, initial_indent="   ", subsequent_indent="   "))

    def say(self, text: str) -> None:
        print(f"{DIM}   {text}{RESET}")

    def show(
        self,
        prompt: str,
        argv: Sequence[str],
        *,
        ns: Path | None = None,
        check: bool = True,
    ) -> str:
        print(f"\n{prompt} {' '.join(argv)}")
        result = self.sb.sh(self.real(argv), ns=ns, check=False)
        output = (result.stdout + result.stderr).rstrip()
        if output:
            print(output)
        if check and result.returncode != 0:
            raise SystemExit(f"demo step failed ({result.returncode}): {' '.join(argv)}")
        return result.stdout

    def real(self, argv: Sequence[str]) -> list[str]:
        """The command to run for the one shown (`hatoba` is this venv's CLI)."""
        return [*self.sb.hatoba_argv, *argv[1:]] if argv[0] == "hatoba" else list(argv)

    def hatoba(self, *args: str, check: bool = True) -> str:
        return self.show("$", ["hatoba", *args], check=check)

    def shell(self, container: str, *commands: str) -> None:
        """`hatoba exec -it CONTAINER /bin/sh` as the seed types it, one command at a time
        (the demo has no terminal to give the shell, so each line goes to `exec -i`)."""
        print(f"\n$ hatoba exec -it {container} /bin/sh")
        for command in commands:
            print(f"/ # {command}")
            result = self.sb.hatoba(
                "exec", "-i", container, "/bin/sh", input=command + "\n", check=False
            )
            output = (result.stdout + result.stderr).rstrip()
            if output:
                print(output)

    def hatoba_quiet(self, *args: str) -> str:
        return self.sb.hatoba(*args).stdout.strip()

    def host(self, *argv: str, check: bool = True) -> str:
        return self.show("$ sudo", argv, check=check)

    def client(self, *argv: str, check: bool = True) -> str:
        return self.show(f"client({CLIENT})$", argv, ns=self.sb.outside, check=check)

    def capture(self, interface: str, bpf: str, packets: int, action: list[str]) -> None:
        """`hatoba capture` on an interface of the host while `action` runs, where the seed
        runs tcpdump."""
        argv = ["hatoba", "capture", "-i", interface, "-c", str(packets), *bpf.split()]
        self._while(argv, action)

    def trace(self, source: str, target: str, action: list[str] | None = None) -> None:
        """`hatoba trace`: with `action`, the flow it starts is waited for (a client outside)."""
        argv = ["hatoba", "trace", "--from", source, "--to", target]
        if action is None:
            self.show("$", argv)
        else:
            self._while(argv, action, ready="waiting for")

    def _while(self, argv: list[str], action: list[str], ready: str = "listening on") -> None:
        """Show `argv`'s output; `action` runs once it is ready (it says `ready` on stderr)."""
        print(f"\n$ {' '.join(argv)}   {DIM}# while: {' '.join(action)}{RESET}")
        watcher = self.sb.popen(
            self.real(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            deadline = time.monotonic() + 5
            assert watcher.stderr is not None
            while time.monotonic() < deadline:
                line = watcher.stderr.readline()
                if ready in line or not line:
                    break
            self.sb.sh(self.real(action), check=False)
            out, _ = watcher.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            watcher.kill()
            out, _ = watcher.communicate()
        print(out.rstrip() or "(nothing seen)")


def main() -> int:
    with Sandbox(with_outside=True, prefix="hatoba-demo-") as sb:
        demo = Demo(sb)
        start_resolver(sb, RESOLVER)
        _prepare_images(demo)
        _default_bridge(demo)
        _internet(demo)
        _from_outside(demo)
        _user_bridge(demo)
        _explain(demo)
        _host_and_none(demo)
        _cleanup(demo)
    print("\nThe sandbox is gone; the machine is as it was.")
    return 0


def _prepare_images(demo: Demo) -> None:
    demo.section(
        "準備 / setup",
        "No registry is reachable here, so alpine:latest and httpd:latest are built from "
        "Debian's busybox-static and imported, as an air-gapped Docker host would.",
    )
    images = build_busybox_images()
    for image in images:
        path = demo.sb.dir / f"{image.reference.split(':')[0]}.tar"
        path.write_bytes(image.rootfs)
        demo.hatoba(
            "import", *[a for c in image.changes for a in ("-c", c)], str(path), image.reference
        )
    demo.hatoba("images")


def _default_bridge(demo: Demo) -> None:
    demo.section(
        "Dockerのネットワーク ドライバー / the three networks of a fresh engine",
        "bridge (interface hatoba0, the seed's docker0), host and none are there from the start.",
    )
    demo.hatoba("network", "ls")
    demo.host("ip", "addr", "show", "hatoba0")
    demo.section(
        "コンテナ同士の通信 / container to container on the default bridge",
        "Containers started without --network join the default bridge; they reach each other by "
        "address. Where the seed runs tcpdump on each interface, hatoba trace sends one ping from "
        "inside alpine-sample1 and shows it at every hop: eth0 in the container, its veth, the "
        "bridge hatoba0, the other veth and eth0.",
    )
    demo.hatoba("run", "-itd", "--name", "alpine-sample1", "alpine:latest")
    demo.hatoba("run", "-itd", "--name", "alpine-sample2", "alpine:latest")
    demo.shell("alpine-sample1", "ifconfig eth0")
    demo.trace("alpine-sample1", "172.17.0.3")
    demo.shell("alpine-sample1", "ping -c 1 172.17.0.3")
    demo.say("By name it does not work: the default bridge has no embedded DNS server.")
    demo.shell("alpine-sample1", "ping -c 1 alpine-sample2")


def _internet(demo: Demo) -> None:
    demo.section(
        "コンテナとインターネットの通信 / container to the internet",
        f"A ping to {INTERNET} leaves through the host: on hatoba0 the source is the container, "
        f"on eth0 it is the host's address {HOST_UPLINK} (masquerade in the inet hatoba table); "
        "the trace shows where the address changes, the rules met and the conntrack entry.",
    )
    demo.shell("alpine-sample1", f"ping -c 1 {INTERNET}")
    demo.trace("alpine-sample1", INTERNET)


def _from_outside(demo: Demo) -> None:
    demo.section(
        "外部からのアクセス / from outside to a published port",
        f"httpd publishes 8000->80. The client {CLIENT} asks {HOST_UPLINK}:8000; eth0 sees :8000, "
        "the bridge and the container see :80 and the client's real address (no userland proxy).",
    )
    demo.hatoba("run", "-d", "-p", "8000:80", "--name", "httpd-sample", "httpd")
    demo.hatoba("port", "httpd-sample")
    url = f"http://{HOST_UPLINK}:8000/"
    fetch = ["busybox", "wget", "-qO-", url]
    demo.say("The client is outside: the trace waits for its connection, then shows each hop.")
    demo.trace(CLIENT, f"{HOST_UPLINK}:8000", ["nsenter", f"--net={demo.sb.outside}", *fetch])
    demo.client(*fetch)
    demo.hatoba("logs", "httpd-sample")


def _user_bridge(demo: Demo) -> None:
    demo.section(
        "bridgeネットワーク作成 / a user-defined bridge",
        "network create gives the next pool, 172.18.0.0/16, on an interface br-<first 12 hex of "
        "the network id>.",
    )
    for name in ("alpine-sample1", "alpine-sample2"):
        demo.hatoba_quiet("rm", "-f", name)
    network_id = demo.hatoba("network", "create", "sample").strip()
    demo.hatoba("network", "ls")
    demo.host("ip", "addr", "show", f"br-{network_id[:12]}")
    demo.section(
        "新規bridgeネットワークを使った通信 / by name on the user-defined bridge",
        "Containers on sample reach each other by name; the resolver is 127.0.0.11 inside each "
        "container, served by the hatoba service.",
    )
    demo.hatoba("run", "-itd", "--name", "alpine-sample1", "--net", "sample", "alpine:latest")
    demo.hatoba("run", "-itd", "--name", "alpine-sample2", "--net", "sample", "alpine:latest")
    demo.shell("alpine-sample1", "ifconfig eth0")
    demo.capture(
        f"br-{network_id[:12]}",
        "icmp",
        2,
        ["hatoba", "exec", "alpine-sample1", "ping", "-c", "1", "alpine-sample2"],
    )
    demo.shell("alpine-sample1", "ping -c 1 alpine-sample2", "cat /etc/resolv.conf")
    demo.section("bridgeネットワークの内蔵DNSサーバ / the embedded DNS server")
    demo.shell("alpine-sample1", "nslookup alpine-sample2")
    demo.say("dig is not in the busybox image; the hostfs image (the host's own files) has it:")
    demo.hatoba("run", "--rm", "--net", "sample", "hostfs", "dig", "alpine-sample2")
    demo.say(f"Names hatoba does not know go to the host's resolver ({RESOLVER} here):")
    demo.shell("alpine-sample1", "nslookup www.example.test")


def _explain(demo: Demo) -> None:
    demo.section(
        "到達できない理由 / why a flow goes nowhere",
        "Networks are isolated from each other: a container on another network cannot reach "
        "alpine-sample1's network. hatoba explain sends the packet with tracing on and says "
        "what stopped it, and why a port with nothing behind it refuses.",
    )
    demo.hatoba("network", "create", "other")
    demo.hatoba("run", "-itd", "--name", "alpine-other", "--net", "other", "alpine:latest")
    demo.hatoba("explain", "--from", "alpine-other", "--to", "172.18.0.2")
    demo.hatoba("explain", "--from", "alpine-sample1", "--to", "alpine-sample2:8080")


def _host_and_none(demo: Demo) -> None:
    demo.section(
        "hostネットワーク / the host network",
        "There is only one host network, and a container on it shares the host's stack: its "
        "interfaces are the host's, and its traffic appears on eth0, not on the bridge.",
    )
    demo.hatoba("network", "create", "-d", "host", "sample2", check=False)
    demo.hatoba("run", "-d", "--name", "httpd", "--net", "host", "httpd:latest")
    demo.hatoba("exec", "httpd", "ifconfig")
    url = f"http://{HOST_UPLINK}/"
    fetch = ["nsenter", f"--net={demo.sb.outside}", "busybox", "wget", "-qO-", url]
    demo.capture("eth0", "tcp port 80", 3, fetch)
    demo.say("The flow's route has no bridge at all: it ends in the host's own stack.")
    demo.trace(CLIENT, f"{HOST_UPLINK}:80", fetch)
    demo.section("noneネットワーク / the none network", "Only the loopback interface.")
    demo.hatoba("run", "--rm", "--net", "none", "alpine:latest", "ip", "-o", "link")


def _cleanup(demo: Demo) -> None:
    demo.section("後片付け / clean up", "system reset removes every container, network and rule.")
    demo.hatoba("system", "reset", "-f")
    demo.host("ip", "-br", "link")
    demo.host("nft", "list", "ruleset")


if __name__ == "__main__":
    raise SystemExit(main())
