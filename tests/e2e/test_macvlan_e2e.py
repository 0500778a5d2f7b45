"""macvlan through the CLI in a sandbox with a simulated LAN (a veth `lan0` from the sandbox
host to a LAN host at 192.0.2.254): containers are hosts of the LAN with their own MAC and
address, reach the LAN host and each other by name; the host reaches them only through a
macvlan of its own (the way round the create warns about); two networks share one parent; a
dual-stack one reaches the LAN host (2001:db8:2::fe) and its peers over IPv6; ports, ipvlan,
802.1q parents and IPv6 without a subnet are refused with nothing left behind."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from hatoba.testing import Sandbox
from hatoba.testing.sandbox import LAN_HOST, LAN_HOST6, LAN_PARENT, LAN_SUBNET6

pytestmark = pytest.mark.root

SECOND_ROUTER = "198.51.100.254"


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with Sandbox(with_lan=True) as sb:
        assert sb.lan is not None
        # the LAN's router on a second subnet of the same segment
        sb.sh(["ip", "addr", "add", f"{SECOND_ROUTER}/24", "dev", "eth0"], ns=sb.lan)
        created = sb.hatoba(
            "network", "create", "-d", "macvlan", "-o", f"parent={LAN_PARENT}",
            "--subnet", "192.0.2.0/24", "--gateway", LAN_HOST,
            "--ip-range", "192.0.2.128/25", "--aux-address", "host=192.0.2.100", "lan",
        )  # fmt: skip
        sb.created_warning = created.stderr  # type: ignore[attr-defined]
        for name in ("web", "db"):
            sb.hatoba("run", "-d", "--name", name, "--net", "lan", "hostfs", "sleep", "1d")
        yield sb


def inspect(sb: Sandbox, name: str) -> dict:  # type: ignore[type-arg]
    return json.loads(sb.hatoba("inspect", name).stdout)[0]  # type: ignore[no-any-return]


def address_of(sb: Sandbox, name: str, network: str = "lan") -> str:
    return str(inspect(sb, name)["NetworkSettings"]["Networks"][network]["IPAddress"])


def pings(sb: Sandbox, source: str, target: str) -> bool:
    """`source`: a container, or "host" (the sandbox host)."""
    argv = ["ping", "-c", "1", "-W", "2", target]
    if source == "host":
        return sb.sh(argv, check=False).returncode == 0
    return sb.hatoba("exec", source, *argv, check=False).returncode == 0


def test_containers_are_lan_hosts_that_reach_the_lan_and_each_other_by_name(sb: Sandbox) -> None:
    web, db = inspect(sb, "web"), inspect(sb, "db")
    settings = web["NetworkSettings"]["Networks"]["lan"]
    assert settings["IPAddress"].startswith("192.0.2.1") and settings["IPPrefixLen"] == 24
    assert settings["Gateway"] == LAN_HOST
    link = sb.hatoba("exec", "web", "ip", "-d", "link", "show", "eth0").stdout
    assert "macvlan mode bridge" in link and settings["MacAddress"] in link
    assert pings(sb, "web", LAN_HOST) and pings(sb, "web", "db")
    db_address = db["NetworkSettings"]["Networks"]["lan"]["IPAddress"]
    assert f"({db_address})" in sb.hatoba("exec", "web", "ping", "-c", "1", "db").stdout
    # the LAN host saw both as hosts of its segment, with their own MACs
    assert sb.lan is not None
    neighbours = sb.sh(["ip", "neigh", "show", "dev", "eth0"], ns=sb.lan).stdout
    assert f"{settings['IPAddress']} lladdr {settings['MacAddress']}" in neighbours
    # nothing of them on the host: no veth, no bridge, no rule
    assert "veth" not in sb.sh(["ip", "-o", "link"]).stdout
    assert settings["IPAddress"] not in sb.sh(["nft", "list", "ruleset"]).stdout


def test_the_host_reaches_them_only_through_a_macvlan_of_its_own(sb: Sandbox) -> None:
    web = address_of(sb, "web")
    warning = sb.created_warning  # type: ignore[attr-defined]
    assert warning.startswith(
        f"WARNING: the host cannot reach containers on lan through {LAN_PARENT}:"
    )
    sb.sh(["ip", "addr", "add", "192.0.2.1/24", "dev", LAN_PARENT])
    try:
        assert pings(sb, "host", LAN_HOST) and not pings(sb, "host", web)
        # the commands the warning suggests, as given (the aux address is the host's)
        for command in warning.split("host=IP): ", 1)[1].strip().split("; "):
            sb.sh(command.split())
        assert pings(sb, "host", web)
    finally:
        sb.sh(["ip", "link", "del", "macvlan-host"], check=False)
        sb.sh(["ip", "addr", "del", "192.0.2.1/24", "dev", LAN_PARENT])


def test_a_second_network_on_the_same_parent_with_its_own_subnet(sb: Sandbox) -> None:
    sb.hatoba(
        "network", "create", "-d", "macvlan", "-o", f"parent={LAN_PARENT}",
        "-o", "macvlan_mode=bridge", "--subnet", "198.51.100.0/24", "--gateway", SECOND_ROUTER,
        "lan2",
    )  # fmt: skip
    try:
        sb.hatoba("run", "-d", "--name", "other", "--net", "lan2", "hostfs", "sleep", "1d")
        assert pings(sb, "other", SECOND_ROUTER)
        assert address_of(sb, "other", "lan2").startswith("198.51.100.")
        # names stay within their network
        unknown = sb.hatoba("exec", "other", "getent", "hosts", "web", check=False)
        assert unknown.returncode != 0
    finally:
        sb.hatoba("rm", "-f", "other")
        sb.hatoba("network", "rm", "lan2")


def test_a_dual_stack_network_puts_containers_on_the_lan_with_ipv6_too(sb: Sandbox) -> None:
    sb.hatoba(
        "network", "create", "-d", "macvlan", "-o", f"parent={LAN_PARENT}", "--ipv6",
        "--subnet", "198.51.100.0/24", "--gateway", SECOND_ROUTER,
        "--subnet", LAN_SUBNET6, "--gateway", LAN_HOST6, "dual",
    )  # fmt: skip
    try:
        for name in ("six", "peer"):
            sb.hatoba("run", "-d", "--name", name, "--net", "dual", "hostfs", "sleep", "1d")
        settings = inspect(sb, "six")["NetworkSettings"]["Networks"]["dual"]
        address6 = settings["GlobalIPv6Address"]
        assert address6.startswith("2001:db8:2::") and settings["GlobalIPv6PrefixLen"] == 64
        assert settings["IPv6Gateway"] == LAN_HOST6
        # IPv6 on for its macvlan alone, with a static address and route: no advice taken
        inside = sb.hatoba("exec", "six", "ip", "-o", "addr", "show", "eth0").stdout
        assert f" {address6}/64 " in inside and " fe80::" in inside
        route = sb.hatoba("exec", "six", "ip", "-6", "route", "show", "default").stdout
        assert route.startswith(f"default via {LAN_HOST6} dev eth0")
        ra = sb.hatoba("exec", "six", "cat", "/proc/sys/net/ipv6/conf/eth0/accept_ra").stdout
        assert ra.strip() == "0"
        ping6 = ["ping", "-6", "-c", "1", "-W", "2"]
        assert sb.hatoba("exec", "six", *ping6, LAN_HOST6, check=False).returncode == 0
        # its peer by name, over IPv6 (the embedded DNS answers AAAA)
        assert sb.hatoba("exec", "six", *ping6, "peer", check=False).returncode == 0
        assert sb.lan is not None
        neighbours = sb.sh(["ip", "-6", "neigh", "show", "dev", "eth0"], ns=sb.lan).stdout
        assert f"{address6} lladdr {settings['MacAddress']}" in neighbours
    finally:
        sb.hatoba("rm", "-f", "six", "peer")
        sb.hatoba("network", "rm", "dual")


def test_a_disconnect_deletes_the_macvlan_and_a_connect_makes_it_again(sb: Sandbox) -> None:
    sb.hatoba("run", "-d", "--name", "mover", "--net", "lan", "hostfs", "sleep", "1d")
    try:
        sb.hatoba("network", "disconnect", "lan", "mover")
        assert "eth0" not in sb.hatoba("exec", "mover", "ip", "-o", "link").stdout
        sb.hatoba("network", "connect", "lan", "mover")
        links = sb.hatoba("exec", "mover", "ip", "-o", "-d", "link").stdout
        assert "eth1" in links and "macvlan" in links
        assert pings(sb, "mover", LAN_HOST)
    finally:
        sb.hatoba("rm", "-f", "mover")


def state(sb: Sandbox) -> tuple[str, str, str]:
    return (
        sb.hatoba("ps", "-aq").stdout,
        sb.hatoba("network", "ls", "-q").stdout,
        sb.sh(["ip", "-o", "link"]).stdout,
    )


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (
            ["run", "--net", "lan", "-p", "8080:80", "hostfs", "true"],
            "hatoba: Error response from daemon: cannot publish ports on macvlan network lan: "
            "its containers are reached at their own addresses on the parent's segment, "
            "without NAT.",
        ),
        (
            ["network", "create", "-d", "ipvlan", "-o", f"parent={LAN_PARENT}", "iv"],
            "Error response from daemon: ipvlan networks cannot be made here: this kernel lacks "
            "the ipvlan module (it has no link driver for it and none loads)",
        ),
        (
            ["network", "create", "-d", "macvlan", "-o", f"parent={LAN_PARENT}.10",
             "--subnet", "10.10.0.0/24", "vlan10"],
            f"Error response from daemon: -o parent={LAN_PARENT}.10 (VLAN 10 on {LAN_PARENT}) "
            "cannot be made here: this kernel lacks the 8021q module (it has no link driver "
            "for it and none loads)",
        ),
        (
            ["network", "create", "-d", "macvlan", "-o", "parent=eth7", "--subnet",
             "10.10.0.0/24", "nowhere"],
            "Error response from daemon: the requested parent interface eth7 was not found on "
            "the host",
        ),
        (
            ["network", "create", "-d", "macvlan", "-o", f"parent={LAN_PARENT}", "--ipv6",
             "--subnet", "10.10.0.0/24", "guess6"],
            "Error response from daemon: macvlan networks with IPv6 need an IPv6 --subnet (and "
            "--gateway, unless the segment's router is its first address): the prefix of the "
            "parent's segment",
        ),
    ],
    ids=["publish", "ipvlan", "vlan", "no-parent", "ipv6-no-subnet"],
)  # fmt: skip
def test_refused_with_the_reason_and_nothing_left_behind(
    sb: Sandbox, argv: list[str], error: str
) -> None:
    before = state(sb)
    refused = sb.hatoba(*argv, check=False)
    assert refused.returncode in (1, 125)
    assert refused.stderr.splitlines()[0] == error
    assert state(sb) == before
