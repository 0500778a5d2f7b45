"""The API application: its collaborators, and the route table built from the route modules."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

from hatoba import API_VERSION, __version__
from hatoba.api.attach import Attacher
from hatoba.api.events import EventLog
from hatoba.api.execs import Execs
from hatoba.api.http import Router, Server
from hatoba.api.ports import ContainerFiles, ContainerIO, ImageCatalog, Instruments, Meters
from hatoba.api.routes_absent import register as register_absent
from hatoba.api.routes_batch import register as register_batch
from hatoba.api.routes_containers import register as register_containers
from hatoba.api.routes_exec import register as register_exec
from hatoba.api.routes_files import NoFiles
from hatoba.api.routes_files import register as register_files
from hatoba.api.routes_images import register as register_images
from hatoba.api.routes_networks import register as register_networks
from hatoba.api.routes_observe import register as register_observe
from hatoba.api.routes_system import register as register_system
from hatoba.api.routes_usage import register as register_usage
from hatoba.api.routes_volumes import register as register_volumes
from hatoba.api.runner import EngineRunner
from hatoba.api.supervisor import Supervisor
from hatoba.engine.engine import Engine
from hatoba.errors import HatobaError
from hatoba.model.container import Container, is_hostfs


@dataclass
class App:
    engine: Engine
    runner: EngineRunner
    supervisor: Supervisor
    attacher: Attacher
    execs: Execs
    io: ContainerIO
    images: ImageCatalog
    started: float
    # ask the service to shut down (after `system reset`)
    shutdown: Callable[[], None]
    # what happened, for GET /events (the supervisor's own, when it has one)
    events: EventLog = field(default_factory=EventLog)
    # image import, load and save: long file work, kept off the engine's worker
    image_runner: EngineRunner = field(default_factory=lambda: EngineRunner("hatoba-images"))
    # packet taps, tracing and probes (None: the observation endpoints refuse)
    instruments: Instruments | None = None
    # containers' files: cp, export, diff, commit
    files: ContainerFiles = field(default_factory=lambda: NoFiles())
    # containers' counters and processes, for stats and top (None: those endpoints refuse)
    meters: Meters | None = None
    # seconds between two stats samples (Docker's collector: one a second)
    stats_period: float = 1.0
    extra_routes: list[Callable[[Router, App], None]] = field(default_factory=list)

    async def sizes(self, container: Container) -> dict[str, int]:
        """What Docker's `size` asks for: SizeRw (the container's own layer) and SizeRootFs
        (with its image's), read off the loop."""
        rw = await asyncio.to_thread(self.files.layer_size, container.id)
        image = 0
        if container.config.image_id and not is_hostfs(container.config.image_id):
            with contextlib.suppress(HatobaError):  # an image removed meanwhile adds nothing
                doc = await asyncio.to_thread(self.images.inspect, container.config.image_id)
                image = int(doc.get("Size", 0))
        return {"SizeRw": rw, "SizeRootFs": rw + image}

    def router(self) -> Router:
        router = Router()
        for register in (
            register_system,
            register_networks,
            register_containers,
            register_usage,
            register_batch,
            register_exec,
            register_files,
            register_images,
            register_volumes,
            register_observe,
            register_absent,
            *self.extra_routes,
        ):
            register(router, self)
        return router

    def server(self) -> Server:
        return Server(
            self.router(),
            [
                ("Api-Version", API_VERSION),
                ("Server", f"hatoba/{__version__}"),
                ("Ostype", "linux"),
                ("Docker-Experimental", "false"),
            ],
        )
