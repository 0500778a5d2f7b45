"""Many containers in one operation (engine/starts.py, containers.create_many, exited_many,
remove_many), on fakes: one firewall transaction, one DNS update and one commit for the batch;
each container still all or nothing; a shared step that fails leaves nothing of the batch."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from ipaddress import IPv4Address
from pathlib import Path

import pytest
from test_fw_engine import World, tcp

from hatoba.dns import DnsAttachment, DnsRecord, Upstream
from hatoba.engine import resolver
from hatoba.engine.containers import CreateRequest
from hatoba.errors import Conflict, HatobaError, KernelError, NotFound
from hatoba.model.container import Container, ContainerConfig
from hatoba.model.launch import ExitStatus
from hatoba.model.network import NetworkSpec


class CountingResolver:
    serves_containers = True

    def __init__(self) -> None:
        self.updates = 0
        self.names: dict[str, tuple[DnsRecord, ...]] = {}
        self.attached: set[str] = set()

    def update(
        self, changes: Mapping[str, Sequence[DnsRecord]], gateways: Mapping[str, IPv4Address]
    ) -> None:
        self.updates += bool(changes)  # what changed nothing costs nothing
        self.names.update((cid, tuple(records)) for cid, records in changes.items())

    def attach(
        self,
        container_id: str,
        netns_path: str,
        upstreams: Sequence[Upstream],
        forward: bool,
        *,
        fresh: bool = False,
    ) -> None:
        # a start makes the namespace: nothing of an earlier run to look for (a connect
        # attaches again a container served already)
        assert fresh or container_id in self.attached
        self.attached.add(container_id)

    def restore(self, attachments: Sequence[DnsAttachment]) -> list[tuple[str, HatobaError]]:
        assert not attachments  # no service restart here
        return []

    def detach(self, container_id: str) -> None:
        self.attached.discard(container_id)


class BatchWorld(World):
    dns: CountingResolver

    def __init__(self, tmp_path: Path) -> None:
        super().__init__(tmp_path, dns=CountingResolver())
        self.commits = 0
        self.engine.on_change(self._committed)
        self.engine.create_network(NetworkSpec(name="web"))

    def _committed(self) -> None:
        self.commits += 1

    def made(self, *names: str, port: int = 0) -> list[str]:
        requests = [
            CreateRequest(
                ContainerConfig(
                    image="hostfs",
                    cmd=("sleep", "infinity"),
                    network_mode="web",
                    ports=(tcp(80, port + i),) if port else (),
                ),
                name=name,
            )
            for i, name in enumerate(names)
        ]
        made = self.engine.create_containers(requests)
        return [c.id for c in made if isinstance(c, Container)]

    def counts(self) -> tuple[int, int, int]:
        return self.fw.transactions, self.dns.updates, self.commits

    def live(self) -> tuple[object, ...]:
        """What the kernel, the tables, the store and the names hold."""
        return (
            dict(self.kernel.links),
            set(self.kernel.netns),
            dict(self.store.containers),
            dict(self.ports.held),
            {cid: records for cid, records in self.dns.names.items() if records},
            set(self.dns.attached),
            self.fw.tables,
        )


@pytest.fixture
def world(tmp_path: Path) -> BatchWorld:
    return BatchWorld(tmp_path)


def test_a_batch_is_one_transaction_one_dns_update_one_commit(world: BatchWorld) -> None:
    ids = world.made("w1", "w2", "w3", "w4", port=8000)
    before = world.counts()
    started = world.engine.start_many([(cid, 0) for cid in ids])
    assert all(isinstance(c, Container) and c.state.running for c in started)
    assert [a - b for a, b in zip(world.counts(), before, strict=True)] == [1, 1, 1]
    assert world.fw.tables == world.expected()
    assert set(world.dns.attached) == set(ids)
    names = {r.names[0] for records in world.dns.names.values() for r in records}
    assert names == {"w1", "w2", "w3", "w4"}
    assert {c.id for c in world.engine.state.containers.values() if c.state.running} == set(ids)
    # and they exit together: one transaction, one commit
    for cid in ids:
        world.runtime.exits[cid] = ExitStatus(0, "2026-01-01T00:00:00.000000000Z")
    before = world.counts()
    done = world.engine.exited_many([(cid, True) for cid in ids])
    assert all(c is not None and c.state.status == "exited" for c in done)
    assert [a - b for a, b in zip(world.counts(), before, strict=True)] == [1, 1, 1]
    assert world.fw.tables == world.expected() and world.ports.held == {}
    before = world.counts()
    removed = world.engine.remove_many([*ids, "nope"])
    assert isinstance(removed[-1], NotFound)
    assert [a - b for a, b in zip(world.counts(), before, strict=True)] == [0, 1, 1]
    assert not world.engine.state.containers.keys() & set(ids)


def test_containers_that_fail_on_their_own_leave_nothing_and_the_others_run(
    world: BatchWorld,
) -> None:
    world.ports.host_busy.add(("tcp", 8001))  # w2's host port is taken by someone else
    ids = world.made("w1", "w2", "w3", port=8000)
    world.runtime.fail_create.add(ids[2])  # crun refuses w3
    started = world.engine.start_many([(cid, 0) for cid in ids])
    assert isinstance(started[0], Container) and started[0].state.running
    assert isinstance(started[1], HatobaError) and "address already in use" in str(started[1])
    assert isinstance(started[2], KernelError)
    assert world.fw.tables == world.expected()  # w1 alone
    assert world.kernel.netns == {started[0].netns}
    assert {link.owner for link in world.kernel.links.values() if link.kind == "veth"} == {ids[0]}
    assert world.dns.attached == {ids[0]}
    assert {cid for cid, records in world.dns.names.items() if records} == {ids[0]}
    assert set(world.ports.held) == {ids[0]}
    # w2 was refused before its shim was started; w3's was stopped
    assert world.runtime.spawned == {} and world.runtime.aborted == [ids[2]]
    assert [world.engine.container(cid).state.status for cid in ids[1:]] == ["created"] * 2


@pytest.mark.parametrize("fail", ["firewall", "commit"])
def test_a_shared_step_that_fails_leaves_nothing_of_the_batch(world: BatchWorld, fail: str) -> None:
    ids = world.made("w1", "w2", "w3", port=8000)
    before = world.live()
    if fail == "firewall":
        world.fw.fail_next_apply = True
    else:
        world.store.fail_next_commit = True
    with pytest.raises(KernelError):
        world.engine.start_many([(cid, 0) for cid in ids])
    assert world.live() == before
    assert [world.engine.container(cid).state.status for cid in ids] == ["created"] * 3
    assert world.runtime.spawned == {} and set(world.runtime.aborted) == set(ids)


def test_a_create_batch_is_one_commit_and_names_stay_unique(world: BatchWorld) -> None:
    before = world.commits
    requests = [
        CreateRequest(ContainerConfig(image="hostfs", cmd=("true",)), name=name)
        for name in ("a1", "a2", "a1", "bad name!")
    ] + [CreateRequest(ContainerConfig(image="hostfs", cmd=("true",)))]
    made = world.engine.create_containers(requests)
    assert world.commits == before + 1
    assert isinstance(made[0], Container) and isinstance(made[1], Container)
    assert isinstance(made[2], Conflict) and made[0].id in made[2].message
    assert isinstance(made[3], HatobaError)
    assert isinstance(made[4], Container) and made[4].name not in ("a1", "a2")
    assert {c.name for c in world.engine.state.containers.values()} == {"a1", "a2", made[4].name}


def test_the_names_told_always_match_a_walk_over_every_container(world: BatchWorld) -> None:
    """The server is told only of containers committed since it was last told (and of those
    it was told as they were about to be): after each change, and after each that failed, it
    holds what a walk over every container finds."""

    def told() -> dict[str, tuple[DnsRecord, ...]]:
        return {cid: records for cid, records in world.dns.names.items() if records}

    def walked() -> dict[str, tuple[DnsRecord, ...]]:
        found: dict[str, tuple[DnsRecord, ...]] = {}
        for record in resolver.records(world.engine.state)[0]:
            found[record.container_id] = (*found.get(record.container_id, ()), record)
        return found

    world.engine.create_network(NetworkSpec(name="back"))
    ids = world.made("w1", "w2", "w3", port=8000)
    world.engine.start_many([(cid, 0) for cid in ids])
    assert told() == walked() and len(told()) == 3
    world.engine.connect("back", "w1", aliases=("db",))
    world.engine.rename("w2", "w2b")
    assert told() == walked() and "db" in {n for r in told()[ids[0]] for n in r.names}
    world.store.fail_next_commit = True  # a connect undone: w3's stand-in was told first
    with pytest.raises(KernelError):
        world.engine.connect("back", "w3", aliases=("cache",))
    assert told() == walked()
    world.engine.disconnect("back", "w1")
    world.runtime.exits[ids[1]] = ExitStatus(0, "2026-01-01T00:00:00.000000000Z")
    world.engine.exited_many([(ids[1], True)])
    assert told() == walked() and set(told()) == {ids[0], ids[2]}
    world.engine.remove_many([ids[1]])
    world.engine.start_many([(ids[1], 0)])  # gone: refused, nothing told
    assert told() == walked() and set(world.dns.names) >= {ids[1]}
