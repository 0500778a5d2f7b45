"""The cluster store's client against a real etcd, in a cluster sandbox with no hosts: the
client runs in the underlay's namespace, where etcd listens."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from ipaddress import IPv4Address, IPv4Network

import pytest

from hatoba.errors import Forbidden
from hatoba.kernel.netns import call_in_netns
from hatoba.model.cluster import ClusterEndpoint
from hatoba.model.network import IpamPool, Network
from hatoba.store.etcd import EtcdCluster
from hatoba.testing.cluster import Cluster

ADDRESS = IPv4Address("10.0.9.2")


def _network(n: int) -> Network:
    """A network of its own for each test: what one leaves in the store stays out of the
    next one's way."""
    return Network(
        id=f"{n:x}" * 64,
        name=f"across{n}",
        driver="overlay",
        created="2026-12-07T00:00:00Z",
        ipam=(IpamPool(IPv4Network(f"10.{n}.9.0/24"), IPv4Address(f"10.{n}.9.1")),),
    )


@pytest.fixture(scope="module")
def store() -> Iterator[Cluster]:
    with Cluster(hosts=0) as cluster:
        yield cluster


def _connected(cluster: Cluster, host_id: str) -> EtcdCluster:
    # a long TTL: no lease ends during the test, as none would in a restart
    client = EtcdCluster(cluster.store_url, host_id, IPv4Address("192.0.2.1"), ttl=60)
    client.start()
    deadline = time.monotonic() + 10
    while not client.view().connected:
        assert time.monotonic() < deadline, "the store never answered"
        time.sleep(0.02)
    return client


def _record(network: Network, host_id: str) -> ClusterEndpoint:
    return ClusterEndpoint(
        network_id=network.id,
        address=ADDRESS,
        mac="02:42:0a:00:09:02",
        host_id=host_id,
        vtep=IPv4Address("192.0.2.1"),
        container_id="c" * 64,
    )


def _in_underlay(cluster: Cluster, body: Callable[[], None]) -> None:
    call_in_netns(str(cluster.underlay.host), body)


def test_a_record_left_by_this_host_s_killed_service_is_released_by_the_next(
    store: Cluster,
) -> None:
    """A service killed and started again within its TTL: a container removed before the new
    service registered again still takes its record (and its network) away, at once."""

    network = _network(1)

    def body() -> None:
        killed = _connected(store, "host-a")
        assert killed.create_network(network)
        assert killed.claim(_record(network, "host-a"))
        killed.close()  # its lease lives on, as a killed service's does
        again = _connected(store, "host-a")
        try:
            assert ADDRESS in again.view().endpoints_on(network.id)
            again.release(network.id, ADDRESS)
            again.delete_network(network)
            assert network.id not in again.view().networks
        finally:
            again.close()

    _in_underlay(store, body)


def test_another_host_s_record_is_never_released(store: Cluster) -> None:
    network = _network(2)

    def body() -> None:
        holder, other = _connected(store, "host-b"), _connected(store, "host-c")
        try:
            assert holder.create_network(network)
            assert holder.claim(_record(network, "host-b"))
            other.release(network.id, ADDRESS)
            with pytest.raises(Forbidden, match="has active endpoints"):
                other.delete_network(network)
            holder.release(network.id, ADDRESS)
            holder.delete_network(network)
        finally:
            holder.close()
            other.close()

    _in_underlay(store, body)
