"""`make demo`: the seed walkthrough (a study note on Docker networking) replayed with hatoba.

Everything happens in a throwaway sandbox: a namespace plays the host (eth0 203.0.113.1), and
an "outside" namespace plays the client 203.0.113.150, the internet server 198.51.100.10 and
the resolver 198.51.100.53. Each step prints its command and output as the seed does, with
tcpdump showing what the packets do. At the end everything is removed.
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

    def capture(
        self, interface: str, bpf: str, packets: int, action: list[str], ns: Path | None = None
    ) -> None:
        """tcpdump on an interface of the host while `action` runs, as the seed does."""
        argv = ["tcpdump", "-tnl", "-c", str(packets), "-i", interface, *bpf.split()]
        print(f"\n$ sudo {' '.join(argv)}   {DIM}# while: {' '.join(action)}{RESET}")
        dump = self.sb.popen(argv, ns=ns, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 5
            assert dump.stderr is not None
            while time.monotonic() < deadline:
                line = dump.stderr.readline()
                if "listening on" in line:
                    break
            self.sb.sh(self.real(action), check=False)
            out, _ = dump.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            dump.kill()
            out, _ = dump.communicate()
        print(out.rstrip() or "(nothing captured)")


def main() -> int:
    with Sandbox(with_outside=True, prefix="hatoba-demo-") as sb:
        demo = Demo(sb)
        start_resolver(sb, RESOLVER)
        _prepare_images(demo)
        _default_bridge(demo)
        _internet(demo)
        _from_outside(demo)
        _user_bridge(demo)
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
        "address, and tcpdump on hatoba0 sees the packets.",
    )
    demo.hatoba("run", "-itd", "--name", "alpine-sample1", "alpine:latest")
    demo.hatoba("run", "-itd", "--name", "alpine-sample2", "alpine:latest")
    demo.shell("alpine-sample1", "ifconfig eth0")
    demo.capture(
        "hatoba0", "icmp", 2, ["hatoba", "exec", "alpine-sample1", "ping", "-c", "1", "172.17.0.3"]
    )
    demo.shell("alpine-sample1", "ping -c 1 172.17.0.3")
    demo.say("By name it does not work: the default bridge has no embedded DNS server.")
    demo.shell("alpine-sample1", "ping -c 1 alpine-sample2")


def _internet(demo: Demo) -> None:
    demo.section(
        "コンテナとインターネットの通信 / container to the internet",
        f"A ping to {INTERNET} leaves through the host: on hatoba0 the source is the container, "
        f"on eth0 it is the host's address {HOST_UPLINK} (masquerade in the inet hatoba table).",
    )
    ping = ["hatoba", "exec", "alpine-sample1", "ping", "-c", "1", INTERNET]
    demo.shell("alpine-sample1", f"ping -c 1 {INTERNET}")
    demo.capture("hatoba0", "icmp", 2, ping)
    demo.capture("eth0", "icmp", 2, ping)


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
    demo.capture("eth0", "tcp port 8000", 3, ["nsenter", f"--net={demo.sb.outside}", *fetch])
    demo.capture("hatoba0", "tcp port 80", 3, ["nsenter", f"--net={demo.sb.outside}", *fetch])
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
    demo.capture("hatoba0", "tcp port 80", 1, fetch)
    demo.section("noneネットワーク / the none network", "Only the loopback interface.")
    demo.hatoba("run", "--rm", "--net", "none", "alpine:latest", "ip", "-o", "link")


def _cleanup(demo: Demo) -> None:
    demo.section("後片付け / clean up", "system reset removes every container, network and rule.")
    demo.hatoba("system", "reset", "-f")
    demo.host("ip", "-br", "link")
    demo.host("nft", "list", "ruleset")


if __name__ == "__main__":
    raise SystemExit(main())
