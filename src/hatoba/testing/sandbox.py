"""A throwaway network namespace that plays the host, with its own hatoba roots.

Everything lives under one temporary folder: the namespace handles (on a shared mount of their
own), `root/`, `run/` and a resolv.conf naming a simulated resolver; its containers' cgroups
are a parent folder of their own. `close()` removes all of it: it stops the service and every
process left in the sandbox's namespaces and cgroups, removes the cgroups, unmounts what is
mounted below the folder and deletes it. The service's keeper goes first, so that nothing starts
the service again while the sandbox ends it. Dropping the namespaces removes every link and
nftables table hatoba made in them, so the machine itself is never touched.

Optional outside world (`with_outside=True`), as in the seed, dual stack (IPv6 from the
documentation prefix 2001:db8::/32):

    [client 203.0.113.150, 2001:db8:1::150]                [host namespace]
    [router 203.0.113.254, 2001:db8:1::fe] ---- veth ---- eth0 203.0.113.1/24, 2001:db8:1::1/64
    [internet 198.51.100.10, 2001:db8:100::10;              default via .254 and 2001:db8:1::fe
     resolver 198.51.100.53, 2001:db8:53::53 on lo]

Optional local segment (`with_lan=True`), the parent of macvlan networks, dual stack too:

    [host namespace] lan0 (no address) ---- veth ---- eth0 192.0.2.254/24, 2001:db8:2::fe/64
                                                      [LAN host "lan"]
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hatoba import keeper
from hatoba.kernel import cgroups, libc
from hatoba.kernel.netns import create_netns, make_shared_dir, remove_handle

HOST_UPLINK = "203.0.113.1"
ROUTER = "203.0.113.254"
CLIENT = "203.0.113.150"
INTERNET = "198.51.100.10"
RESOLVER = "198.51.100.53"
HOST_UPLINK6 = "2001:db8:1::1"
ROUTER6 = "2001:db8:1::fe"
CLIENT6 = "2001:db8:1::150"
INTERNET6 = "2001:db8:100::10"
RESOLVER6 = "2001:db8:53::53"
LAN_PARENT = "lan0"
LAN_HOST = "192.0.2.254"
LAN_SUBNET = "192.0.2.0/24"
LAN_HOST6 = "2001:db8:2::fe"
LAN_SUBNET6 = "2001:db8:2::/64"
# The host's ends of the veth pairs to the outside and the LAN get ifindexes their peers
# (index 2, the first link after lo in a new namespace) cannot have. The kernel handles the
# carrier of a veth whose ifindex equals its peer's as a non-urgent link event, up to a second
# late, and until then IPv6 ignores neighbour solicitations on it (a second's retry).
UPLINK_INDEX, LAN_PARENT_INDEX = 20, 21


class Sandbox:
    def __init__(
        self,
        *,
        with_outside: bool = False,
        with_lan: bool = False,
        uplink_mtu: int = 1500,
        prefix: str = "hatoba-sbx-",
        hatoba: Sequence[str] | None = None,
        run_root_on_tmpfs: bool = True,
        env: Mapping[str, str] | None = None,
    ) -> None:
        """`run_root_on_tmpfs=False` makes the run root a plain folder of the sandbox's file
        system, as /run/hatoba is a folder inside /run's tmpfs: a process that sees the host's
        tree (a `hostfs` container) then sees it too. `env`: more variables for every command
        (and so for the service the CLI starts)."""
        self.dir = Path(tempfile.mkdtemp(prefix=prefix))
        self.ns_dir = self.dir / "ns"
        self.root = self.dir / "root"
        self.run_root = self.dir / "run"
        self.resolv_conf = self.dir / "resolv.conf"
        # the containers' cgroups, removed with the sandbox; named after the temporary
        # folder too, so that a test run can tell its own (tests/fixtures/leakcheck.py)
        self.cgroup_parent = f"{self.dir.parent.name}.{self.dir.name}"
        self.hatoba_argv = list(hatoba) if hatoba else [str(Path(sys.executable).parent / "hatoba")]
        self.extra_env = dict(env or {})
        self._namespaces: list[Path] = []
        try:
            make_shared_dir(str(self.ns_dir))
            self.run_root.mkdir()
            if run_root_on_tmpfs:
                # like /run on a real host: files made at every start
                libc.mount("tmpfs", str(self.run_root), "tmpfs", 0, "mode=700")
            self.host = self._new_ns("host")
            self.sh(["ip", "link", "set", "lo", "up"])
            self.resolv_conf.write_text(f"nameserver {RESOLVER}\n")
            self.outside: Path | None = None
            if with_outside:
                self._build_outside(uplink_mtu)
            self.lan: Path | None = None
            if with_lan:
                self._build_lan()
        except BaseException:
            self.close()
            raise

    # --- building -------------------------------------------------------------------------

    def _new_ns(self, name: str) -> Path:
        path = self.ns_dir / name
        create_netns(str(path))
        self._namespaces.append(path)
        return path

    def _build_outside(self, mtu: int) -> None:
        self.outside = self._new_ns("outside")
        out = self.outside
        self.sh(["ip", "link", "set", "lo", "up"], ns=out)
        self.sh(
            [
                "ip",
                "link",
                "add",
                "eth0",
                "index",
                str(UPLINK_INDEX),
                "mtu",
                str(mtu),
                "type",
                "veth",
                "peer",
                "name",
                "uplink",
                "mtu",
                str(mtu),
                "netns",
                str(out),
            ]
        )
        # no duplicate address detection on either end: the link-local addresses neighbour
        # discovery sends from, and the addresses below, are usable at once
        self.sh(["sysctl", "-qw", "net.ipv6.conf.eth0.accept_dad=0"])
        self.sh(["sysctl", "-qw", "net.ipv6.conf.uplink.accept_dad=0"], ns=out)
        self.sh(["ip", "addr", "add", f"{HOST_UPLINK}/24", "dev", "eth0"])
        self.sh(["ip", "addr", "add", f"{HOST_UPLINK6}/64", "dev", "eth0"])
        self.sh(["ip", "link", "set", "eth0", "up"])
        self.sh(["ip", "route", "add", "default", "via", ROUTER])
        self.sh(["ip", "-6", "route", "add", "default", "via", ROUTER6])
        for cmd in (
            ["ip", "addr", "add", f"{CLIENT}/24", "dev", "uplink"],
            ["ip", "addr", "add", f"{ROUTER}/24", "dev", "uplink"],
            ["ip", "addr", "add", f"{CLIENT6}/64", "dev", "uplink"],
            ["ip", "addr", "add", f"{ROUTER6}/64", "dev", "uplink"],
            ["ip", "link", "set", "uplink", "up"],
            ["ip", "addr", "add", f"{INTERNET}/32", "dev", "lo"],
            ["ip", "addr", "add", f"{RESOLVER}/32", "dev", "lo"],
            ["ip", "addr", "add", f"{INTERNET6}/128", "dev", "lo"],
            ["ip", "addr", "add", f"{RESOLVER6}/128", "dev", "lo"],
        ):
            self.sh(cmd, ns=out)

    def _build_lan(self) -> None:
        self.lan = self._new_ns("lan")
        peer = ["peer", "name", "eth0", "netns", str(self.lan)]
        self.sh(
            ["ip", "link", "add", LAN_PARENT, "index", str(LAN_PARENT_INDEX), "type", "veth", *peer]
        )
        self.sh(["ip", "link", "set", LAN_PARENT, "up"])
        for cmd in (
            ["ip", "link", "set", "lo", "up"],
            # no duplicate address detection: its IPv6 address is usable at once
            ["sysctl", "-qw", "net.ipv6.conf.eth0.accept_dad=0"],
            ["ip", "addr", "add", f"{LAN_HOST}/24", "dev", "eth0"],
            ["ip", "addr", "add", f"{LAN_HOST6}/64", "dev", "eth0"],
            ["ip", "link", "set", "eth0", "up"],
        ):
            self.sh(cmd, ns=self.lan)

    # --- running things -------------------------------------------------------------------

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            HATOBA_ROOT=str(self.root),
            HATOBA_RUN_ROOT=str(self.run_root),
            HATOBA_RESOLV_CONF=str(self.resolv_conf),
            HATOBA_CGROUP_PARENT=self.cgroup_parent,
        )
        env.update(self.extra_env)
        return env

    def sh(
        self,
        argv: Sequence[str],
        *,
        ns: Path | None = None,
        check: bool = True,
        input: str | None = None,
        timeout: float = 60,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run a command inside a sandbox namespace (the host by default)."""
        target = ns or self.host
        result = subprocess.run(
            ["nsenter", f"--net={target}", *argv],
            capture_output=True,
            text=True,
            input=input,
            timeout=timeout,
            env=dict(env) if env is not None else self.env,
            check=False,
        )
        if check and result.returncode != 0:
            raise _failed(argv, result)
        return result

    def hatoba(
        self, *args: str, check: bool = True, input: str | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """Run the hatoba CLI in the host namespace with the sandbox's roots. A failure says
        what the service logged last: a rare one is understood from the test's output alone."""
        argv = [*self.hatoba_argv, *args]
        result = self.sh(argv, check=False, input=input, timeout=timeout)
        if check and result.returncode != 0:
            raise _failed(argv, result, f"the end of service.log:\n{self._service_log_tail()}")
        return result

    def _service_log_tail(self, lines: int = 30) -> str:
        try:
            text = (self.run_root / "service.log").read_text(errors="replace")
        except OSError as exc:
            return f"(none: {exc.strerror})"
        return "\n".join(text.rstrip("\n").split("\n")[-lines:])

    def popen(
        self, argv: Sequence[str], *, ns: Path | None = None, **kw: Any
    ) -> subprocess.Popen[Any]:
        """Start a command in a sandbox namespace; `kw` goes to subprocess.Popen."""
        target = ns or self.host
        kw.setdefault("env", self.env)
        return subprocess.Popen(["nsenter", f"--net={target}", *argv], **kw)

    # --- teardown -------------------------------------------------------------------------

    def service_pid(self) -> int | None:
        return self._pid_in("hatoba.pid")

    def keeper_pid(self) -> int | None:
        """The keeper that restarts the service when it crashes (hatoba/keeper.py)."""
        return self._pid_in(keeper.PID_FILE)

    def _pid_in(self, name: str) -> int | None:
        try:
            return int((self.run_root / name).read_text().split()[0])
        except (FileNotFoundError, ValueError, IndexError):
            return None

    def close(self) -> None:
        """Remove everything the sandbox made; safe to call twice and after any failure."""
        self._kill_processes()
        cgroups.remove_parent(self.cgroup_parent)
        self._unmount_below()
        for path in reversed(self._namespaces):
            remove_handle(str(path))
        self._namespaces.clear()
        self._unmount_below()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _kill_processes(self) -> None:
        for pid in (self.keeper_pid(), self.service_pid()):
            if pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        # a paused container's processes die only once thawed
        cgroups.thaw(self.cgroup_parent)
        # Everything still living in one of our namespaces was started by us (the service,
        # its shims and their containers, and test helpers): end those processes by PID.
        for _ in range(50):
            # the containers' cgroups are the sandbox's own too
            victims = {*self._pids_in_our_namespaces(), *cgroups.processes(self.cgroup_parent)}
            if not victims:
                return
            for victim in victims:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(victim, signal.SIGKILL)
            time.sleep(0.05)

    def _our_netns_inodes(self) -> set[int]:
        inodes = set()
        for path in [*self._namespaces, *self._container_handles()]:
            with contextlib.suppress(OSError):
                inodes.add(os.stat(path).st_ino)
        return inodes

    def _container_handles(self) -> list[Path]:
        netns_dir = self.run_root / "netns"
        return list(netns_dir.iterdir()) if netns_dir.is_dir() else []

    def _pids_in_our_namespaces(self) -> list[int]:
        inodes = self._our_netns_inodes()
        mine = os.getpid()
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == mine:
                continue
            try:
                if os.stat(f"/proc/{entry}/ns/net").st_ino in inodes:
                    found.append(int(entry))
            except OSError:
                continue
        return found

    def _unmount_below(self) -> None:
        prefix = str(self.dir)
        points = []
        with open("/proc/self/mountinfo", encoding="utf-8") as f:
            for line in f:
                point = line.split()[4].replace("\\040", " ")
                if point == prefix or point.startswith(prefix + "/"):
                    points.append(point)
        for point in sorted(set(points), key=len, reverse=True):
            with contextlib.suppress(Exception):
                libc.umount(point, libc.MNT_DETACH)

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _failed(
    argv: Sequence[str], result: subprocess.CompletedProcess[str], more: str = ""
) -> AssertionError:
    told = f"{' '.join(argv)} exited {result.returncode}\n"
    told += f"stdout: {result.stdout}\nstderr: {result.stderr}"
    return AssertionError(f"{told}\n{more}" if more else told)
