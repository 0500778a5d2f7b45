"""GET /containers/{id}/stats and /top with fake meters: Docker's document (zeros where the
container has no cgroup of its own, its cgroup's numbers where it has), one-shot, primed and
streamed answers, a stopped container, and top's table and refusals."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from fixtures.api_world import ApiWorld
from hatoba.api.http import Streaming
from hatoba.engine.containers import CreateRequest
from hatoba.errors import Conflict, InvalidArgument
from hatoba.model.container import ContainerConfig
from hatoba.model.launch import ExitStatus
from hatoba.model.network import NetworkSpec
from hatoba.observe.usage import BlockIo, CgroupUsage, LinkCounters, MemoryUsage, Sample

PS = "UID PID PPID CMD\nroot 1000 990 sleep 1d\nroot 1001 1000 sh -c x\nroot 2 0 kthreadd\n"


@dataclass
class FakeMeter:
    pid: int
    cgroup: CgroupUsage | None
    reads: int = 0
    asked: list[tuple[str, ...]] = field(default_factory=list)
    closed: bool = False

    def sample(self, ifnames: Sequence[str]) -> Sample:
        """Each sample: 1 s and 100 packets of 1000 bytes later, 0.5 s of the container's CPU."""
        self.reads += 1
        self.asked.append(tuple(ifnames))
        n = self.reads
        cgroup = self.cgroup
        if cgroup is not None:
            cgroup = CgroupUsage(**{**vars(cgroup), "cpu_total_ns": n * 500_000_000})
        return Sample(
            read_ns=1_700_000_000_000_000_000 + n * 1_000_000_000,
            system_cpu_ns=n * 2_000_000_000,
            online_cpus=2,
            processes=2,
            networks={
                name: LinkCounters(rx_bytes=n * 100_000, rx_packets=n * 100) for name in ifnames
            },
            cgroup=cgroup,
        )

    def close(self) -> None:
        self.closed = True


@dataclass
class FakeMeters:
    cgroup: CgroupUsage | None = None
    meters: list[FakeMeter] = field(default_factory=list)

    def meter(self, pid: int, netns: str) -> FakeMeter:
        self.meters.append(FakeMeter(pid, self.cgroup))
        return self.meters[-1]

    def processes(self, pid: int) -> list[int]:
        return [pid, pid + 1]

    def ps(self, argv: Sequence[str], pids: Sequence[int]) -> str:
        assert list(argv) in (["-ef"], ["-o", "pid,comm"])
        return PS


@pytest.fixture
def world(tmp_path: Path) -> Iterator[ApiWorld]:
    w = ApiWorld(tmp_path)
    w.app.meters = FakeMeters()
    w.app.stats_period = 0.0
    w.engine.create_network(NetworkSpec(name="sample"))
    config = ContainerConfig(image="hostfs", cmd=("sleep", "1d"), network_mode="sample")
    w.engine.start(w.engine.create_container(CreateRequest(config, name="web")).id)
    yield w
    w.close()


def stats(world: ApiWorld, query: str) -> Any:
    return json.loads(asyncio.run(world.call("GET", f"/containers/web/stats?{query}")).body)


def test_without_a_cgroup_of_its_own_cpu_and_memory_are_zeros(world: ApiWorld) -> None:
    doc = stats(world, "stream=0")
    web = world.engine.state.container("web")
    assert doc["name"] == "/web" and doc["id"] == web.id
    assert (doc["read"], doc["preread"]) == (
        "2023-11-14T22:13:22.000000000Z",
        "2023-11-14T22:13:21.000000000Z",
    )
    assert doc["cpu_stats"] == {
        "cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
        "system_cpu_usage": 4_000_000_000,
        "online_cpus": 2,
        "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
    }
    assert doc["precpu_stats"]["system_cpu_usage"] == 2_000_000_000
    assert doc["memory_stats"] == {} and doc["pids_stats"] == {"current": 2}
    assert doc["blkio_stats"]["io_service_bytes_recursive"] is None
    assert doc["networks"] == {
        "eth0": {
            "rx_bytes": 200_000, "rx_packets": 200, "rx_errors": 0, "rx_dropped": 0,
            "tx_bytes": 0, "tx_packets": 0, "tx_errors": 0, "tx_dropped": 0,
        }
    }  # fmt: skip
    (meter,) = world.app.meters.meters  # type: ignore[union-attr]
    assert meter.closed and meter.pid == web.state.pid and meter.asked == [("eth0",)] * 2


def test_a_cgroup_of_its_own_is_reported(world: ApiWorld) -> None:
    memory = MemoryUsage(usage=3 << 20, limit=64 << 20, stats={"inactive_file": 1 << 20})
    world.app.meters = FakeMeters(
        CgroupUsage(memory=memory, pids=3, io=(BlockIo(8, 0, "read", 4096),))
    )
    doc = stats(world, "stream=0")
    assert doc["cpu_stats"]["cpu_usage"]["total_usage"] == 1_000_000_000
    assert doc["precpu_stats"]["cpu_usage"]["total_usage"] == 500_000_000
    assert doc["memory_stats"] == {
        "usage": 3 << 20,
        "stats": {"inactive_file": 1 << 20},
        "limit": 64 << 20,
    }
    assert doc["pids_stats"] == {"current": 3}
    assert doc["blkio_stats"]["io_service_bytes_recursive"] == [
        {"major": 8, "minor": 0, "op": "read", "value": 4096}
    ]


def test_one_shot_and_refusals(world: ApiWorld) -> None:
    doc = stats(world, "stream=0&one-shot=1")
    assert doc["preread"] == "0001-01-01T00:00:00Z"
    # booleans as Docker reads them: none and False are false, TRUE and anything else true
    assert stats(world, "stream=none&one-shot=TRUE")["preread"] == "0001-01-01T00:00:00Z"
    assert stats(world, "stream=False&one-shot=")["preread"] != "0001-01-01T00:00:00Z"
    assert doc["precpu_stats"]["cpu_usage"]["total_usage"] == 0
    assert "system_cpu_usage" not in doc["precpu_stats"]
    with pytest.raises(InvalidArgument, match="cannot have stream=true and one-shot=true"):
        stats(world, "one-shot=1")


def exited(world: ApiWorld) -> str:
    web = world.engine.state.container("web")
    world.runtime.exits[web.id] = ExitStatus(code=0, finished_at="2026-12-06T00:00:00Z")
    world.engine.exited(web.id)
    return web.id


def gone(world: ApiWorld) -> None:
    world.engine.remove(exited(world))


def test_a_stream_grows_and_ends_with_the_container(world: ApiWorld) -> None:
    async def main() -> list[Any]:
        answer = await world.answer("GET", "/containers/web/stats")
        assert isinstance(answer, Streaming)
        docs = []
        async for chunk in answer.chunks:
            docs.append(json.loads(chunk))
            if len(docs) == 3:
                await world.runner.call(gone, world)
        return docs

    docs = asyncio.run(main())
    assert [d["networks"]["eth0"]["rx_bytes"] for d in docs] == [100_000, 200_000, 300_000]
    assert docs[0]["preread"] == "0001-01-01T00:00:00Z"
    assert docs[1]["preread"] == docs[0]["read"]
    assert all(m.closed for m in world.app.meters.meters)  # type: ignore[union-attr]


def test_top_and_a_stopped_container(world: ApiWorld) -> None:
    answer = asyncio.run(world.call("GET", "/containers/web/top"))
    assert json.loads(answer.body) == {
        "Titles": ["UID", "PID", "PPID", "CMD"],
        "Processes": [["root", "1000", "990", "sleep 1d"], ["root", "1001", "1000", "sh -c x"]],
    }
    answer = asyncio.run(world.call("GET", "/containers/web/top?ps_args=-o pid,comm"))
    assert answer.status == 200
    web_id = exited(world)
    doc = stats(world, "stream=0")
    assert (doc["name"], doc["read"], doc["cpu_stats"]["cpu_usage"]["total_usage"]) == (
        "/web",
        "0001-01-01T00:00:00Z",
        0,
    )
    assert "networks" not in doc and doc["memory_stats"] == {}
    with pytest.raises(Conflict, match=f"Container {web_id} is not running"):
        asyncio.run(world.call("GET", "/containers/web/top"))


def test_clients_before_1_21_read_one_network_and_1_41_brings_one_shot(world: ApiWorld) -> None:
    old = json.loads(asyncio.run(world.call("GET", "/v1.20/containers/web/stats?stream=0")).body)
    assert "networks" not in old and "name" not in old and "id" not in old
    assert old["network"] == {
        "rx_bytes": 200_000, "rx_packets": 200, "rx_errors": 0, "rx_dropped": 0,
        "tx_bytes": 0, "tx_packets": 0, "tx_errors": 0, "tx_dropped": 0,
    }  # fmt: skip
    assert "networks" in stats(world, "stream=0")
    # one-shot is not read before 1.41: the answer is primed, with a sample before
    query = "stream=0&one-shot=1"
    primed = json.loads(asyncio.run(world.call("GET", f"/v1.40/containers/web/stats?{query}")).body)
    assert primed["preread"] != "0001-01-01T00:00:00Z"
    assert stats(world, query)["preread"] == "0001-01-01T00:00:00Z"
