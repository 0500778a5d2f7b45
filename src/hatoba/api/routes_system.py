"""/_ping, /version, /info, /events and hatoba's own system endpoints."""

from __future__ import annotations

import asyncio
import logging
import os
import platform
import time
from typing import TYPE_CHECKING, Any

from hatoba import __version__
from hatoba.api import api_versions, docker_json, host_facts
from hatoba.api.events import EventFilter
from hatoba.api.http import Request, Response, Router, Streaming
from hatoba.drivers import registry as drivers
from hatoba.model import daemon
from hatoba.model.cluster import ClusterInfo
from hatoba.model.container import RUNNING
from hatoba.model.resources import CPU, MEMORY, PIDS

if TYPE_CHECKING:
    from hatoba.api.app import App

log = logging.getLogger("hatoba.api")


def register(router: Router, app: App) -> None:
    async def ping(req: Request) -> Response:
        # what the docker CLI reads before its first request (client/ping.go), with Docker's
        # caching headers; Builder-Version 1: a client builds with the classic /build
        headers = [
            ("Cache-Control", "no-cache, no-store, must-revalidate"),
            ("Pragma", "no-cache"),
            ("Builder-Version", "1"),
        ]
        body = b"" if req.method == "HEAD" else b"OK"
        return Response(200, body, "text/plain; charset=utf-8", headers)

    async def version(req: Request) -> Response:
        return Response.json(host_facts.version())

    async def info(req: Request) -> Response:
        state = app.engine.state
        containers = list(state.containers.values())
        running = sum(1 for c in containers if c.state.status == RUNNING)
        paths, config = app.engine.core.paths, app.engine.core.config
        cluster = app.engine.cluster_info()
        warnings = [*app.engine.config_warnings, *app.engine.firewall_warnings()]
        paused = sum(1 for c in containers if c.state.paused)
        cgroups = app.engine.cgroup_support()
        host = api_versions.info_host(req, await asyncio.to_thread(host_facts.host_info))
        return Response.json(
            {
                "ID": "",
                "Containers": len(containers),
                "ContainersRunning": running - paused,
                "ContainersPaused": paused,
                "ContainersStopped": len(containers) - running,
                "Images": app.images.count(),
                "Driver": "overlay",
                "DriverStatus": [],
                "Name": platform.node(),
                "ServerVersion": __version__,
                **host,
                # what `docker info` reads to warn of missing limits
                "CgroupDriver": "cgroupfs" if cgroups.version else "none",
                "CgroupVersion": str(cgroups.version or ""),
                "MemoryLimit": cgroups.has(MEMORY),
                "SwapLimit": cgroups.swap,
                "CpuCfsPeriod": cgroups.has(CPU),
                "CpuCfsQuota": cgroups.has(CPU),
                "CPUShares": cgroups.has(CPU),
                "PidsLimit": cgroups.has(PIDS),
                # what hatoba does not limit (cpusets, kernel memory) or kill-protect
                "CPUSet": False,
                "KernelMemory": False,
                "KernelMemoryTCP": False,
                "OomKillDisable": False,
                "DockerRootDir": str(paths.root),
                "Networks": len(state.networks),
                "Plugins": {
                    "Volume": ["local"],
                    "Network": [d.name for d in drivers.known()],
                    "Authorization": None,
                    "Log": ["json-file"],
                },
                "Debug": log.isEnabledFor(logging.DEBUG),
                "LoggingDriver": "json-file",
                "NEventsListener": app.events.listeners,
                # where a pull would go: hatoba has no registry client (see /images/create)
                "IndexServerAddress": "https://index.docker.io/v1/",
                "RegistryConfig": {
                    "AllowNondistributableArtifactsCIDRs": [],
                    "AllowNondistributableArtifactsHostnames": [],
                    "InsecureRegistryCIDRs": [],
                    "IndexConfigs": {},
                    "Mirrors": [],
                },
                "GenericResources": None,
                "Labels": [],
                "ExperimentalBuild": False,
                "Runtimes": {"crun": {"path": "crun"}},
                "DefaultRuntime": "crun",
                "Swarm": {
                    "NodeID": "",
                    "NodeAddr": "",
                    "LocalNodeState": "inactive",
                    "ControlAvailable": False,
                    "Error": "",
                    "RemoteManagers": None,
                },
                # containers run on while the service restarts
                "LiveRestoreEnabled": True,
                "Isolation": "",
                "InitBinary": "docker-init",
                "ContainerdCommit": {"ID": "", "Expected": ""},
                "RuncCommit": {"ID": "", "Expected": ""},
                "InitCommit": {"ID": "", "Expected": ""},
                "SecurityOptions": [],
                "ProductLicense": "",
                "DefaultAddressPools": [
                    {"Base": str(p.base), "Size": p.size} for p in config.default_address_pools
                ],
                # Docker's place for what the host does wrong (its own words start so too)
                "Warnings": [f"WARNING: {w}" for w in warnings],
                # Docker 20.10's fields for its --cluster-store, and what this host sees of it
                "ClusterStore": cluster.store if cluster else "",
                "ClusterAdvertise": str(cluster.advertise) if cluster else "",
                "Hatoba": {
                    "Cluster": _cluster_json(cluster),
                    "Root": str(paths.root),
                    "RunRoot": str(paths.run_root),
                    "ResolvConf": str(paths.resolv_conf),
                    "Pid": os.getpid(),
                    "UptimeSeconds": round(time.time() - app.started, 3),
                    # daemon.json as in force: every key, the defaults included
                    "ConfigFile": config.source,
                    "Config": daemon.to_json(config),
                },
            }
        )

    async def reset(req: Request) -> Response:
        for container in list(app.engine.state.containers.values()):
            app.execs.forget_container(container.id)
        await app.runner.call(app.engine.reset)
        app.shutdown()
        return Response.empty()

    async def events(req: Request) -> Streaming:
        matches = EventFilter(req.filters())
        return Streaming(app.events.stream(matches, req.arg("since"), req.arg("until")))

    async def disk_usage(req: Request) -> Response:
        state = app.engine.state

        def containers_of(image_id: str) -> int:
            return sum(1 for c in state.containers.values() if c.config.image_id == image_id)

        layers, images = await asyncio.to_thread(app.images.usage, containers_of)
        containers = []
        for c in sorted(state.containers.values(), key=lambda c: c.created, reverse=True):
            summary = docker_json.container_summary(c, state, app.engine.volume_path, c.published)
            summary.update(await app.sizes(c))
            containers.append(summary)
        volumes = []
        for volume in sorted(state.volumes.values(), key=lambda v: v.name):
            doc = docker_json.volume_json(volume, app.engine.volume_path(volume.name))
            size = await asyncio.to_thread(app.engine.volume_size, volume.name)
            doc["UsageData"] = {"Size": size, "RefCount": len(state.volume_users(volume.name))}
            volumes.append(doc)
        return Response.json(
            {
                "LayersSize": layers,
                "Images": images,
                "Containers": containers,
                "Volumes": volumes,
                "BuildCache": [],
            }
        )

    async def build_prune(req: Request) -> Response:
        # hatoba builds no images, so it has no build cache (`system prune` asks anyway)
        return Response.json({"CachesDeleted": None, "SpaceReclaimed": 0})

    router.add("GET", "/_ping", ping)
    router.add("POST", "/build/prune", build_prune)
    router.add("GET", "/system/df", disk_usage)
    router.add("GET", "/events", events)
    router.add("GET", "/version", version)
    router.add("GET", "/info", info)

    async def firewall_reload(req: Request) -> Response:
        await app.runner.call(app.engine.firewall_reload)
        return Response.empty()

    router.add("POST", "/hatoba/system/reset", reset)
    router.add("POST", "/hatoba/system/firewall-reload", firewall_reload)


def _cluster_json(cluster: ClusterInfo | None) -> dict[str, Any] | None:
    if cluster is None:
        return None
    return {
        "Store": cluster.store,
        "HostID": cluster.host_id,
        "Advertise": str(cluster.advertise),
        "Connected": cluster.connected,
        "Hosts": [
            {"ID": h.host_id, "Address": str(h.address), "Name": h.name} for h in cluster.hosts
        ],
    }
