"""The service killed with SIGKILL at every step of an operation, then started again: the kernel
and the records agree, volumes and their folders too, no address (IPv4 or IPv6: the networks
are dual stack) is handed out twice, and running containers still reach each other by name over
both families.

Each operation is replayed with the crash at step 1, 2, … (HATOBA_CRASH_AT counts the crash
points of engine/faults.py: every kernel step that registered its undo, and every store
commit) until it runs to its end. The operation is driven through the CLI against a service
started by hand with the crash armed; the next CLI call starts a normal service, whose
reconcile must repair whatever the crash left.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from fixtures.processes import wait_gone
from hatoba.testing import Sandbox
from hatoba.testing.sandbox import LAN_PARENT, LAN_SUBNET

pytestmark = pytest.mark.root

MAX_STEPS = 20  # more crash points than any operation has: the loop must end before
SHARING_MODES = ("host", "container")


@dataclass(frozen=True)
class Operation:
    name: str
    prepare: tuple[tuple[str, ...], ...]
    act: tuple[str, ...]
    cleanup: tuple[tuple[str, ...], ...]


OPERATIONS = [
    Operation(
        "run",
        (),
        ("run", "-d", "--name", "cx", "--net", "sample", "-p", "8080:80", "hostfs", "sleep", "1d"),
        (("rm", "-f", "cx"),),
    ),
    Operation(
        "rm",
        (("run", "-d", "--name", "cx", "--net", "sample", "hostfs", "sleep", "1d"),),
        ("rm", "-f", "cx"),
        (("rm", "-f", "cx"),),
    ),
    Operation(
        "run --net container:",
        (),
        ("run", "-d", "--name", "cx", "--net", "container:s1", "hostfs", "sleep", "1d"),
        (("rm", "-f", "cx"),),
    ),
    Operation(
        "stop of a container whose namespace another shares",
        (
            ("run", "-d", "--name", "cx", "--net", "sample", "hostfs", "sleep", "1d"),
            ("run", "-d", "--name", "cy", "--net", "container:cx", "hostfs", "sleep", "1d"),
        ),
        ("stop", "-t", "0", "cx"),
        (("rm", "-f", "cy", "cx"),),
    ),
    Operation(
        "network create", (), ("network", "create", "--ipv6", "n2"), (("network", "rm", "n2"),)
    ),
    Operation(
        "network rm",
        (("network", "create", "--ipv6", "n2"),),
        ("network", "rm", "n2"),
        (("network", "rm", "n2"),),
    ),
    Operation(
        "connect",
        (("network", "create", "--ipv6", "n2"),),
        ("network", "connect", "n2", "s1"),
        (("network", "disconnect", "-f", "n2", "s1"), ("network", "rm", "n2")),
    ),
    Operation(
        "disconnect",
        (("network", "create", "--ipv6", "n2"), ("network", "connect", "n2", "s1")),
        ("network", "disconnect", "n2", "s1"),
        (("network", "disconnect", "-f", "n2", "s1"), ("network", "rm", "n2")),
    ),
    # (no network: `run` above has its steps; these are the volumes')
    Operation(
        "run with a new volume",
        (),
        ("run", "-d", "--name", "cx", "--net", "none", "-v", "vx:/vx", "hostfs", "sleep", "1d"),
        (("rm", "-f", "cx"), ("volume", "rm", "vx")),
    ),
    Operation(
        "rm -v",
        (("run", "-d", "--name", "cx", "--net", "none", "-v", "/anon", "hostfs", "sleep", "1d"),),
        ("rm", "-f", "-v", "cx"),
        (("rm", "-f", "-v", "cx"),),
    ),
    # a macvlan lives inside the container's namespace alone: reconcile looks there
    Operation(
        "run on macvlan",
        (),
        ("run", "-d", "--name", "cx", "--net", "lan", "hostfs", "sleep", "1d"),
        (("rm", "-f", "cx"),),
    ),
    Operation(
        "connect to macvlan",
        (),
        ("network", "connect", "lan", "s1"),
        (("network", "disconnect", "-f", "lan", "s1"),),
    ),
]


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with Sandbox(with_lan=True) as sandbox:
        sandbox.hatoba("network", "create", "--ipv6", "sample")
        sandbox.hatoba(
            "network", "create", "-d", "macvlan", "-o", f"parent={LAN_PARENT}",
            "--subnet", LAN_SUBNET, "lan",
        )  # fmt: skip
        for name in ("s1", "s2"):
            sandbox.hatoba("run", "-d", "--name", name, "--net", "sample", "hostfs", "sleep", "1d")
        yield sandbox


def stop_service(sb: Sandbox) -> None:
    pid = sb.service_pid()
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        wait_gone(pid, 10)


def armed_service(sb: Sandbox, step: int) -> int:
    """A service that kills itself at crash point `step`; returns its pid once it answers."""
    env = {**sb.env, "HATOBA_CRASH_AT": str(step)}
    log = open(sb.run_root / "service.log", "ab")  # noqa: SIM115 - the child keeps it
    proc = sb.popen([*sb.hatoba_argv, "service"], env=env, stdout=log, stderr=log)
    log.close()
    deadline = time.monotonic() + 20
    while sb.service_pid() != proc.pid or not _listening(sb.run_root / "hatoba.sock"):
        assert proc.poll() is None and time.monotonic() < deadline, "armed service did not start"
        time.sleep(0.02)
    return proc.pid


def _listening(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX) as s:
        try:
            s.connect(str(path))
        except OSError:
            return False
    return True


def crash_points_seen(sb: Sandbox) -> list[str]:
    log = (sb.run_root / "service.log").read_text()
    return re.findall(r"crash point (.+) reached", log)


# every operation crashed at every point: about 2 minutes alone on 2 cores, more on a busy one
@pytest.mark.timeout(900)
def test_every_crash_point_of_every_operation_leaves_a_consistent_engine(sb: Sandbox) -> None:
    for op in OPERATIONS:
        for step in range(1, MAX_STEPS + 1):
            for command in op.prepare:
                sb.hatoba(*command)
            stop_service(sb)
            pid = armed_service(sb, step)
            done = sb.hatoba(*op.act, check=False)
            crashed = _died(pid)
            if not crashed:
                assert done.returncode == 0, f"{op.name}: {done.stderr}"
                stop_service(sb)
            # the next call starts a normal service, which reconciles
            context = f"{op.name}, crash at step {step} ({crash_points_seen(sb)[-1:]})"
            check_consistent(sb, context)
            for command in op.cleanup:
                sb.hatoba(*command, check=False)
            if not crashed:
                break
        else:
            pytest.fail(f"{op.name}: still crashing after {MAX_STEPS} steps")


def _died(pid: int) -> bool:
    try:
        wait_gone(pid, 0.5)
    except AssertionError:
        return False
    return True


# --- the invariants ---------------------------------------------------------------------------


def check_consistent(sb: Sandbox, context: str) -> None:
    containers = [json.loads(sb.hatoba("inspect", c).stdout)[0] for c in _all_containers(sb)]
    networks = json.loads(sb.hatoba("network", "inspect", *_all_networks(sb)).stdout)
    running = [c for c in containers if c["State"]["Running"]]
    kernel = _kernel_links(sb)
    # every bridge of a record exists, and every owned bridge has a record
    bridges = {
        ("hatoba0" if n["Name"] == "bridge" else f"br-{n['Id'][:12]}"): n["Id"]
        for n in networks
        if n["Driver"] == "bridge"
    }
    owned_bridges = {name: owner for name, (kind, owner) in kernel.items() if kind == "bridge"}
    assert owned_bridges == bridges, context
    # every veth belongs to a running container's endpoint, and every endpoint has its veth
    veths = {name: owner for name, (kind, owner) in kernel.items() if kind == "veth"}
    handles = {p.name for p in (sb.run_root / "netns").iterdir()}
    # `--net host` and `--net container:` containers have no namespace of their own
    owning = [
        c for c in running if c["HostConfig"]["NetworkMode"].split(":")[0] not in SHARING_MODES
    ]
    assert handles == {c["Id"] for c in owning}, context
    seen: dict[str, str] = {}
    for c in owning:
        inside = _addresses_inside(sb, c["Id"])
        endpoints = [
            {ep[key] for key in ("IPAddress", "GlobalIPv6Address") if ep[key]}
            for ep in c["NetworkSettings"]["Networks"].values()
        ]
        recorded = set().union(*endpoints)
        assert inside == recorded, f"{context}: {c['Name']} has {inside}, records {recorded}"
        for address in recorded:
            assert address not in seen, f"{context}: {address} of {c['Name']} and {seen[address]}"
            seen[address] = c["Name"]
        owned = {name for name, owner in veths.items() if owner == c["Id"]}
        owned |= _owned_inside(sb, c["Id"])
        assert len(owned) == sum(1 for e in endpoints if e), f"{context}: {c['Name']} {owned}"
    assert set(veths.values()) <= {c["Id"] for c in running}, context
    # every volume has its folder and every folder its volume; every volume mounted exists
    volumes = set(sb.hatoba("volume", "ls", "-q").stdout.split())
    assert set(os.listdir(sb.root / "volumes")) == volumes, context
    named = {m["Name"] for c in containers for m in c["Mounts"] if m["Type"] == "volume"}
    assert named <= volumes, context
    # and the containers that were running before still reach each other by name
    for a, b, family in (("s1", "s2", "-4"), ("s2", "s1", "-4"), ("s1", "s2", "-6")):
        done = sb.hatoba("exec", a, "ping", family, "-c", "1", "-W", "2", b, check=False)
        assert done.returncode == 0, f"{context}: {a} cannot reach {b}: {done.stdout}{done.stderr}"


def _all_containers(sb: Sandbox) -> list[str]:
    return sb.hatoba("ps", "-aq", "--no-trunc").stdout.split()


def _all_networks(sb: Sandbox) -> list[str]:
    return sb.hatoba("network", "ls", "-q", "--no-trunc").stdout.split()


def _kernel_links(sb: Sandbox) -> dict[str, tuple[str, str]]:
    """Links of the sandbox host carrying hatoba's owner alias: name -> (kind, owner id)."""
    links = json.loads(sb.sh(["ip", "-d", "-j", "link", "show"]).stdout)
    return {
        link["ifname"]: (link.get("linkinfo", {}).get("info_kind", ""), link["ifalias"][7:])
        for link in links
        if link.get("ifalias", "").startswith("hatoba:")
    }


def _owned_inside(sb: Sandbox, cid: str) -> set[str]:
    """Links in a container's namespace with hatoba's owner alias (its macvlans)."""
    handle = Path(sb.run_root / "netns" / cid)
    out = sb.sh(["nsenter", f"--net={handle}", "ip", "-d", "-j", "link", "show"]).stdout
    return {
        link["ifname"] for link in json.loads(out) if link.get("ifalias", "") == f"hatoba:{cid}"
    }


def _addresses_inside(sb: Sandbox, cid: str) -> set[str]:
    """Both families', but for link-local ones (the kernel's own, made from the MAC)."""
    handle = Path(sb.run_root / "netns" / cid)
    out = sb.sh(["nsenter", f"--net={handle}", "ip", "-j", "addr", "show"]).stdout
    return {
        a["local"]
        for link in json.loads(out)
        if link["ifname"] != "lo"
        for a in link.get("addr_info", [])
        if a.get("scope") != "link"
    }
