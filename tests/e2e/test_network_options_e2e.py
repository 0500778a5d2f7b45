"""Network options through the CLI (and the API where the CLI has no flag), each checked in
inspect and in the kernel: a MAC on eth0 (run) and on eth1 (connect), auxiliary addresses
never handed out, host_binding_ipv4 in the DNAT map, --attachable, names with spaces, every
--network of a run, `network ls` filters; refused options and filters with their error and
nothing left behind."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from hatoba.cli.client import Client
from hatoba.testing import Sandbox

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with Sandbox() as sb:
        yield sb


def inspect(sb: Sandbox, *names: str) -> dict:  # type: ignore[type-arg]
    return json.loads(sb.hatoba("inspect", *names).stdout)[0]  # type: ignore[no-any-return]


def run(sb: Sandbox, name: str, *flags: str) -> None:
    sb.hatoba("run", "-d", "--name", name, *flags, "hostfs", "sleep", "1d")


def link_of(sb: Sandbox, name: str, ifname: str) -> str:
    return sb.hatoba("exec", name, "ip", "-o", "link", "show", ifname).stdout


def addresses_of(sb: Sandbox, name: str) -> set[str]:
    out = sb.hatoba("exec", name, "ip", "-o", "-4", "addr").stdout
    return {line.split()[3].split("/")[0] for line in out.splitlines() if " lo " not in line}


def test_a_mac_from_run_and_one_from_connect_are_on_the_interfaces(sb: Sandbox) -> None:
    sb.hatoba("network", "create", "macs")
    run(sb, "mac1", "--net", "macs", "--mac-address", "02:00:00:00:aa:01")
    client = Client(str(sb.run_root / "hatoba.sock"))
    endpoint = {"MacAddress": "02:00:00:00:aa:02"}
    client.call(
        "POST", "/networks/bridge/connect", body={"Container": "mac1", "EndpointConfig": endpoint}
    )
    networks = inspect(sb, "mac1")["NetworkSettings"]["Networks"]
    assert networks["macs"]["MacAddress"] == "02:00:00:00:aa:01"
    assert networks["bridge"]["MacAddress"] == "02:00:00:00:aa:02"
    assert "link/ether 02:00:00:00:aa:01 " in link_of(sb, "mac1", "eth0")
    assert "link/ether 02:00:00:00:aa:02 " in link_of(sb, "mac1", "eth1")


def test_aux_addresses_are_never_handed_out(sb: Sandbox) -> None:
    sb.hatoba(
        "network", "create", "--subnet", "10.31.0.0/29", "--aux-address", "nas=10.31.0.2",
        "--aux-address", "printer=10.31.0.3", "aux",
    )  # fmt: skip
    config = json.loads(sb.hatoba("network", "inspect", "aux").stdout)[0]["IPAM"]["Config"]
    assert config[0]["AuxiliaryAddresses"] == {"nas": "10.31.0.2", "printer": "10.31.0.3"}
    for n in range(3):
        run(sb, f"aux{n}", "--net", "aux")
    given = set().union(*(addresses_of(sb, f"aux{n}") for n in range(3)))
    # .1 is the gateway, .7 the broadcast address: the pool is what the aux ones leave
    assert given == {"10.31.0.4", "10.31.0.5", "10.31.0.6"}
    before = sb.hatoba("ps", "-aq").stdout
    refused = sb.hatoba("run", "--net", "aux", "--ip", "10.31.0.2", "hostfs", "true", check=False)
    assert refused.stderr.splitlines()[0] == (
        "hatoba: Error response from daemon: Address already in use."
    )
    assert sb.hatoba("ps", "-aq").stdout == before


def test_host_binding_is_where_a_port_without_an_address_is_published(sb: Sandbox) -> None:
    sb.hatoba("network", "create", "-o", "com.docker.network.bridge.host_binding_ipv4=127.0.0.1",
              "--attachable", "local")  # fmt: skip
    run(sb, "bound", "--net", "local", "-p", "8080:80")
    ports = inspect(sb, "bound")["NetworkSettings"]["Ports"]
    assert ports == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]}
    dnat = sb.sh(["nft", "list", "map", "inet", "hatoba", "dnat_ip_addr"]).stdout
    assert "127.0.0.1 . tcp . 8080" in dnat
    network = json.loads(sb.hatoba("network", "inspect", "local").stdout)[0]
    assert network["Attachable"] is True


def test_a_name_with_spaces_and_every_network_of_a_run(sb: Sandbox) -> None:
    sb.hatoba("network", "create", "front end")
    sb.hatoba("network", "create", "back")
    run(sb, "two", "--network", "front end", "--network", "back")
    run(sb, "peer", "--network", "front end")
    networks = inspect(sb, "two")["NetworkSettings"]["Networks"]
    assert set(networks) == {"front end", "back"}
    assert addresses_of(sb, "two") == {n["IPAddress"] for n in networks.values()}
    assert (
        sb.hatoba("exec", "peer", "ping", "-c", "1", "-W", "2", "two", check=False).returncode == 0
    )
    listed = sb.hatoba("network", "ls", "--filter", "name=front", "--format", "{{.Name}}").stdout
    assert listed == "front end\n"


def test_ls_filters_dangling_networks_and_refuses_unknown_filters(sb: Sandbox) -> None:
    sb.hatoba("network", "create", "unused")
    dangling = sb.hatoba("network", "ls", "-f", "dangling=true", "--format", "{{.Name}}").stdout
    assert "unused\n" in dangling and "bridge\n" not in dangling
    refused = sb.hatoba("network", "ls", "-f", "colour=red", check=False)
    assert (refused.returncode, refused.stderr) == (
        1,
        "Error response from daemon: invalid filter 'colour'\n",
    )


def state(sb: Sandbox) -> tuple[str, list[str]]:
    """The networks and the host's links by name: their operational state is the kernel's to
    update (a bridge of the earlier tests' containers may still go UP while this runs)."""
    names = sb.sh(["ip", "-o", "link"]).stdout.splitlines()
    return sb.hatoba("network", "ls", "-q").stdout, [line.split(": ")[1] for line in names]


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (
            ["-o", "com.docker.network.bridge.enable_icc=false", "-o", "mtu=1400"],
            "Error response from daemon: unknown option(s) for the bridge driver: mtu (it knows "
            "com.docker.network.bridge.enable_icc, com.docker.network.bridge.enable_ip_masquerade, "
            "com.docker.network.bridge.host_binding_ipv4, com.docker.network.bridge.name, "
            "com.docker.network.driver.mtu)",
        ),
        (
            ["-o", "com.docker.network.container_iface_prefix=lan"],
            "Error response from daemon: hatoba does not support "
            "com.docker.network.container_iface_prefix yet",
        ),
        (
            ["--subnet", "10.32.0.0/24", "--aux-address", "gw=10.32.0.1"],
            "Error response from daemon: failed to allocate secondary ip address (gw:10.32.0.1): "
            "Address already in use",
        ),
    ],
    ids=["unknown", "not-built", "aux-on-gateway"],
)
def test_refused_options_name_themselves_and_leave_nothing(
    sb: Sandbox, argv: list[str], error: str
) -> None:
    before = state(sb)
    refused = sb.hatoba("network", "create", *argv, "refused", check=False)
    assert (refused.returncode, refused.stderr) == (1, error + "\n")
    assert state(sb) == before
