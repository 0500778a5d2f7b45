"""The host's own firewall beside hatoba's tables, through the CLI, in a sandbox host namespace.

`iptables -P FORWARD DROP` (what ufw and Docker leave) must not cut containers off: hatoba
keeps a chain of its own jumped to from FORWARD, through start-ups, reloads and someone
flushing FORWARD, and takes it away again on reset. A table of another program that drops
forwarding is not ours to edit: it is named in `hatoba info`, in the service log (once) and
in the warnings of the operations it hurts.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.fake_firewalld import bus_config
from fixtures.fw_probe import BLOCKED, PEER, PY, address, idle, probe_all, serve
from fixtures.processes import wait_gone
from hatoba.testing import Sandbox
from hatoba.testing.sandbox import CLIENT, HOST_UPLINK, HOST_UPLINK6, INTERNET, INTERNET6

pytestmark = pytest.mark.root

FOREIGN = """
table inet filter {
    chain forward { type filter hook forward priority 0; policy drop; }
}
"""


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    with Sandbox(with_outside=True) as sandbox:
        sandbox.popen([PY, PEER, "serve", "80"], ns=sandbox.outside, stdout=subprocess.DEVNULL)
        yield sandbox


def iptables_rules(sb: Sandbox) -> str:
    return sb.sh(["iptables", "-S"]).stdout


def reachability(sb: Sandbox) -> dict[object, list[str]]:
    """container → outside, outside → published port, container ↔ container on one bridge
    (default and user network), and internal networks staying internal."""
    ips = {name: address(sb, name) for name in ("web", "mate")}
    ips["peer"] = address(sb, "peer", "sample")
    ips["inner"] = address(sb, "inner", "secret")
    return probe_all(
        sb,
        {
            "mate": [("tcp", INTERNET, 80), ("tcp", ips["web"], 80)],
            "buddy": [("tcp", ips["peer"], 80), ("tcp", INTERNET, 80)],
            "insider": [("tcp", ips["inner"], 80), ("tcp", INTERNET, 80)],
            sb.outside: [("tcp", HOST_UPLINK, 8000)],
        },
    )


def expected(sb: Sandbox) -> dict[object, list[str]]:
    return {
        "mate": [HOST_UPLINK, address(sb, "mate")],
        "buddy": [address(sb, "buddy", "sample"), HOST_UPLINK],
        "insider": [address(sb, "insider", "secret"), BLOCKED],
        sb.outside: [CLIENT],
    }


def wait_for(condition: object, what: str, seconds: float = 5) -> None:
    assert callable(condition)
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {seconds} s")
        time.sleep(0.1)


def test_forward_policy_drop_in_iptables_lets_hatoba_traffic_through(sb: Sandbox) -> None:
    sb.sh(["iptables", "-P", "FORWARD", "DROP"])
    before = iptables_rules(sb)
    sb.hatoba("network", "create", "sample")
    sb.hatoba("network", "create", "--internal", "secret")
    serve(sb, "web", "-p", "8000:80")
    idle(sb, "mate")
    serve(sb, "peer", "--net", "sample")
    idle(sb, "buddy", "--net", "sample")
    serve(sb, "inner", "--net", "secret")
    idle(sb, "insider", "--net", "secret")
    want = expected(sb)
    assert reachability(sb) == want
    assert "-A FORWARD -j HATOBA-FORWARD" in iptables_rules(sb)
    assert sb.hatoba("info").stderr == ""  # handled: nothing to warn about

    sb.hatoba("system", "firewall-reload")
    assert reachability(sb) == want

    # someone flushes FORWARD while the service runs: our jump is back within a second
    sb.sh(["iptables", "-F", "FORWARD"])
    wait_for(lambda: "-A FORWARD -j HATOBA-FORWARD" in iptables_rules(sb), "jump restored")
    assert reachability(sb) == want

    # ... or while it is down: the next start puts it back
    pid = sb.service_pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    wait_gone(pid, seconds=4)
    sb.sh(["iptables", "-F", "FORWARD"])
    sb.sh(["iptables", "-F", "HATOBA-FORWARD"])
    sb.sh(["iptables", "-X", "HATOBA-FORWARD"])
    assert sb.hatoba("ps", "-q").stdout.count("\n") == 6
    assert reachability(sb) == want

    # our chain knows the bridges by interface group: networks come and go, it stays
    sb.hatoba("rm", "-f", "peer", "buddy")
    bridge = sb.hatoba("network", "inspect", "-f", "{{.Id}}", "sample").stdout.strip()[:12]
    link = json.loads(sb.sh(["ip", "-d", "-j", "link", "show", f"br-{bridge}"]).stdout)[0]
    assert link["group"] in ("0x68620001", "1751252993")
    rules = iptables_rules(sb)
    sb.hatoba("network", "rm", "sample")
    sb.hatoba("network", "create", "again")
    assert iptables_rules(sb) == rules

    sb.hatoba("system", "reset", "-f")
    assert iptables_rules(sb) == before


def test_forward_policy_drop_in_ip6tables_lets_ipv6_traffic_through(sb: Sandbox) -> None:
    sb.sh(["ip6tables", "-P", "FORWARD", "DROP"])
    before = sb.sh(["ip6tables", "-S"]).stdout
    sb.hatoba("network", "create", "--ipv6", "dual")
    serve(sb, "web", "--net", "dual", "-p", "8000:80")
    idle(sb, "mate", "--net", "dual")
    results = probe_all(
        sb, {"mate": [("tcp", INTERNET6, 80)], sb.outside: [("tcp", HOST_UPLINK6, 8000)]}
    )
    assert results["mate"] == [HOST_UPLINK6]
    assert results[sb.outside][0].startswith("2001:db8:1::")  # the client, not the host
    assert "-A FORWARD -j HATOBA-FORWARD" in sb.sh(["ip6tables", "-S"]).stdout
    assert sb.hatoba("info").stderr == ""
    sb.hatoba("system", "reset", "-f")
    assert sb.sh(["ip6tables", "-S"]).stdout == before


def test_a_network_create_that_iptables_refuses_changes_nothing(sb: Sandbox) -> None:
    """All or nothing: a network create that must write our iptables chain (someone took a
    rule out of it) and whose iptables-restore fails undoes the bridge and our tables."""
    fake = sb.dir / "bin"
    fake.mkdir()
    refuse = sb.dir / "refuse"
    restore = fake / "iptables-restore"
    restore.write_text(
        "#!/bin/sh\n"
        f'if [ -e {refuse} ]; then cat >/dev/null; echo "refused" >&2; exit 1; fi\n'
        'exec /usr/sbin/iptables-restore "$@"\n'
    )
    restore.chmod(0o755)
    sb.sh(["iptables", "-P", "FORWARD", "DROP"])
    env = {**sb.env, "PATH": f"{fake}:{os.environ['PATH']}"}
    sb.sh([*sb.hatoba_argv, "network", "create", "sample"], env=env)  # starts the service
    refuse.touch()
    sb.sh(["iptables", "-D", "HATOBA-FORWARD", "1"])
    rules, tables = iptables_rules(sb), sb.sh(["nft", "list", "table", "inet", "hatoba"]).stdout
    failed = sb.hatoba(
        "network", "create", "-o", "com.docker.network.bridge.name=brfail", "bad", check=False
    )
    assert failed.returncode == 1 and "iptables-restore: refused" in failed.stderr
    assert iptables_rules(sb) == rules
    assert sb.sh(["nft", "list", "table", "inet", "hatoba"]).stdout == tables
    assert sb.sh(["ip", "link", "show", "brfail"], check=False).returncode != 0
    names = sb.hatoba("network", "ls", "--format", "{{.Name}}").stdout.split()
    assert "bad" not in names


def test_a_foreign_table_that_drops_forwarding_is_named(sb: Sandbox) -> None:
    sb.hatoba("network", "create", "early")
    sb.sh(["nft", "-f", "-"], input=FOREIGN)
    label = "table inet filter, chain forward"
    # the watcher notices the new table; info names it
    wait_for(lambda: label in sb.hatoba("info").stderr, "info names the table")
    info = sb.hatoba("info")
    assert info.stderr.startswith("WARNING: ") and "policy drop" in info.stderr
    created = sb.hatoba("network", "create", "sample")
    assert created.stdout.strip() and label in created.stderr
    run = sb.hatoba("run", "-d", "--name", "c1", "--net", "sample", "hostfs", "sleep", "60")
    assert label in run.stderr
    none = sb.hatoba("run", "-d", "--net", "none", "hostfs", "sleep", "60")
    assert none.stderr == ""  # no forwarding there: nothing to say
    # we edited nothing of it
    assert sb.sh(["nft", "list", "table", "inet", "filter"]).stdout.count("\n") == 5
    sb.sh(["nft", "delete", "table", "inet", "filter"])
    wait_for(lambda: sb.hatoba("info").stderr == "", "warning gone")
    log = (sb.run_root / "service.log").read_text()
    assert log.count(f"WARNING hatoba.firewall: host firewall: the host firewall's {label}") == 1
    assert "host firewall: resolved:" in log


# --- firewalld ---------------------------------------------------------------------------------

FAKE_FIREWALLD = str(Path(__file__).parents[1] / "fixtures" / "fake_firewalld.py")


def start_firewalld(sb: Sandbox, ns: Path) -> tuple[dict[str, str], Path]:
    """A private bus and a fake firewalld on it in `ns`; the environment that finds them."""
    config, address = bus_config(sb.dir)
    env = {**sb.env, "DBUS_SYSTEM_BUS_ADDRESS": address}
    sb.popen(["dbus-daemon", "--nofork", f"--config-file={config}"], env=env)
    socket = sb.dir / "system_bus_socket"
    wait_for(socket.exists, "bus socket")
    record = sb.dir / "firewalld.jsonl"
    fake = sb.popen([PY, FAKE_FIREWALLD, str(record)], ns=ns, env=env, stdout=subprocess.PIPE)
    assert fake.stdout is not None and fake.stdout.readline().strip() == b"ready"
    return env, record


def calls(record: Path) -> list[list[str]]:
    return [json.loads(line) for line in record.read_text().splitlines()] if record.exists() else []


def zone_members(record: Path) -> set[str]:
    members: set[str] = set()
    for method, *args in calls(record):
        if method == "changeZoneOfInterface" and args[0] == "hatoba":
            members.add(args[1])
        elif method == "removeInterface":
            members.discard(args[1])
        elif method == "reload":
            members.clear()
    return members


def test_bridges_join_a_firewalld_zone_of_ours(sb: Sandbox) -> None:
    env, record = start_firewalld(sb, sb.host)
    sb.sh([*sb.hatoba_argv, "network", "create", "sample"], env=env)  # starts the service
    bridge = "br-" + sb.hatoba("network", "inspect", "-f", "{{.Id}}", "sample").stdout[:12]
    made = calls(record)
    # the zone is made once (permanent, target ACCEPT), then known after a reload
    zone = [c for c in made if c[0] == "addZone2"]
    assert zone == [["addZone2", "hatoba", zone[0][2]]] and zone[0][2]["target"] == ["s", "ACCEPT"]
    assert ["reload"] in made
    assert zone_members(record) == {"hatoba0", bridge}
    sb.hatoba("network", "rm", "sample")
    assert zone_members(record) == {"hatoba0"}

    # a firewalld reload forgets runtime interfaces and rewrites its table: they come back
    sb.hatoba("network", "create", "again")
    fake_pid = next(pid for pid in sb._pids_in_our_namespaces() if FAKE_FIREWALLD in _cmdline(pid))
    os.kill(fake_pid, signal.SIGUSR1)
    before = len(calls(record))
    sb.sh(["nft", "add", "table", "inet", "firewalld"])
    wait_for(lambda: len(calls(record)) > before + 2, "interfaces added again")
    again = "br-" + sb.hatoba("network", "inspect", "-f", "{{.Id}}", "again").stdout[:12]
    assert {c[2] for c in calls(record)[before:] if c[0] == "changeZoneOfInterface"} == {
        "hatoba0",
        again,
    }
    assert [c for c in calls(record) if c[0] == "addZone2"] == zone  # made once only

    sb.hatoba("system", "reset", "-f")
    assert zone_members(record) == set()


def test_a_firewalld_of_another_namespace_is_left_alone(sb: Sandbox) -> None:
    assert sb.outside is not None
    env, record = start_firewalld(sb, sb.outside)
    sb.sh([*sb.hatoba_argv, "network", "create", "sample"], env=env)
    sb.sh([*sb.hatoba_argv, "system", "reset", "-f"], env=env)
    assert calls(record) == []


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


# A real firewalld (Debian's 1.3), opt-in: HATOBA_TEST_FIREWALLD_ROOT is the firewalld package
# unpacked (`apt-get download firewalld; dpkg-deb -x firewalld_*.deb DIR`), and the system
# python has its libraries (`apt-get install python3-firewall python3-nftables`). It runs in the
# sandbox's host namespace, on the private bus, in a mount namespace of its own with a tmpfs
# on /run and its configuration in the sandbox: the machine's ruleset and /etc stay untouched.
FIREWALLD_ROOT = os.environ.get("HATOBA_TEST_FIREWALLD_ROOT", "")


@pytest.mark.skipif(not FIREWALLD_ROOT, reason="HATOBA_TEST_FIREWALLD_ROOT is not set")
def test_a_real_firewalld_lets_containers_through_once_their_bridges_are_in_our_zone(
    sb: Sandbox,
) -> None:
    config, bus = bus_config(sb.dir)
    env = {**sb.env, "DBUS_SYSTEM_BUS_ADDRESS": bus}
    sb.popen(["dbus-daemon", "--nofork", f"--config-file={config}"], env=env)
    wait_for((sb.dir / "system_bus_socket").exists, "bus socket")
    etc = sb.dir / "firewalld"
    etc.mkdir()
    root = Path(FIREWALLD_ROOT)
    (etc / "firewalld.conf").write_text((root / "etc/firewalld/firewalld.conf").read_text())
    daemon = (
        f"mount -t tmpfs tmpfs /run && exec /usr/bin/python3 {root}/usr/sbin/firewalld "
        f"--nofork --nopid --default-config {root}/usr/lib/firewalld --system-config {etc} "
        "--log-target console"
    )
    sb.popen(["unshare", "--mount", "sh", "-c", daemon], env=env, stdout=subprocess.DEVNULL)
    wait_for(lambda: "firewalld" in sb.sh(["nft", "list", "tables"]).stdout, "firewalld", 30)
    sb.sh([*sb.hatoba_argv, "network", "create", "sample"], env=env)
    serve(sb, "peer", "--net", "sample")
    idle(sb, "buddy", "--net", "sample")
    peer = address(sb, "peer", "sample")
    # firewalld rejects forwarding no zone accepts: these pass only through our zone
    want = [address(sb, "buddy", "sample"), HOST_UPLINK]
    wait_for(
        lambda: (
            probe_all(sb, {"buddy": [("tcp", peer, 80), ("tcp", INTERNET, 80)]})["buddy"] == want
        ),
        "traffic through firewalld",
    )
    assert (etc / "zones" / "hatoba.xml").exists()
    sb.hatoba("system", "reset", "-f")
    assert "hatoba0" not in sb.sh(["nft", "list", "table", "inet", "firewalld"]).stdout
