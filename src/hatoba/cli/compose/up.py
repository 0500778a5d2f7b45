"""`hatoba compose up`: bring the engine in line with the file, all or nothing.

The pure planner (hatoba.compose.plan) says what to do; this module does it over the API, as
docker compose does: networks first, then the services level by level in dependency order
(waiting for `service_healthy` and `service_completed_successfully` conditions by polling
inspect), the services of a level in parallel. The new containers of a service are created in
one request and started in one (hatoba's /hatoba/containers/{create,start}: the service makes
them in one operation each, so 100 replicas cost one firewall transaction, not 100); an engine
without those routes gets one request per container, a few in flight. A changed container is
replaced by a new one made under a temporary name (`<old id>_<name>`); the old one is only
stopped until the whole `up` has succeeded.

Every step registers its undo. If any step fails (a host port taken, an image missing, a
dependency unhealthy) the `up` stops, says which service failed and why, and undoes what it
did: containers it created are removed (with the anonymous volumes they made), containers it
stopped are started again, networks and volumes it created are removed. Only then, when
everything succeeded, are the replaced containers removed (and their replacements renamed),
the extra replicas of a scale-down and, with --remove-orphans, the orphans. A replacement
keeps the anonymous volumes of the container it replaces, as docker compose's does.
"""

from __future__ import annotations

import sys
import threading
import time
from functools import partial

from hatoba.cli.compose.session import warn
from hatoba.cli.compose.volumes import ImageVolumes, create_volume
from hatoba.cli.errors import CliError, UsageError
from hatoba.cli.parsing import Parser
from hatoba.compose import requests
from hatoba.compose.model import COMPLETED, HEALTHY, Project, Service, Volume
from hatoba.compose.plan import (
    Observed,
    ServicePlan,
    UpOptions,
    UpPlan,
    inherited_mounts,
    plan_up,
)
from hatoba.errors import HatobaError, NotFound, NotModified, from_status
from hatoba.model.container import is_hostfs

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any

    from hatoba.cli.client import Client
    from hatoba.cli.compose.progress import Progress
    from hatoba.cli.compose.session import Session

# parallel requests: the service does the work one operation at a time; a few requests in
# flight keep it busy while the client prepares the next ones
_WORKERS = 8
_POLL = 0.2


class Failed(Exception):
    """A step of the `up` failed: which service, and why."""

    def __init__(self, service: str, message: str) -> None:
        super().__init__(message)
        self.service = service
        self.message = message


def up(session: Session, args: list[str]) -> int:
    p = Parser(session.prog, "[OPTIONS] [SERVICE...]", "Create and start containers")
    p.flag("-d", "--detach", help="Detached mode: Run containers in the background")
    p.repeated(
        "--scale", help="Scale SERVICE to NUM instances (overrides the file)", metavar="scale"
    )
    p.flag("--force-recreate", help="Recreate containers even if nothing changed")
    p.flag("--no-recreate", help="If containers already exist, don't recreate them")
    p.flag("--remove-orphans", help="Remove containers for services not defined in the file")
    p.flag("--wait", help="Wait for services to be running|healthy. Implies detached mode.")
    p.option(
        "-t",
        "--timeout",
        help="Shutdown timeout in seconds for replaced containers",
        type=int,
        metavar="int",
    )
    ns = p.parse(args)
    if ns.force_recreate and ns.no_recreate:
        raise UsageError("--force-recreate and --no-recreate are incompatible", session.prog)
    project = session.project(tuple(ns.args))
    options = UpOptions(
        services=tuple(ns.args),
        scale=_scales(ns.scale, session.prog),
        force_recreate=ns.force_recreate,
        no_recreate=ns.no_recreate,
        remove_orphans=ns.remove_orphans,
    )
    ids = converge(session, project, options, timeout=ns.timeout)
    if ns.wait:
        wait_ready(session, [i for service_ids in ids.values() for i in service_ids])
        return 0
    if ns.detach:
        return 0
    from hatoba.cli.compose.show import attach_logs

    return attach_logs(session, project, [s for s in ids if ids[s]])


def _scales(values: list[str], prog: str) -> dict[str, int]:
    scale = {}
    for value in values:
        name, _, number = value.partition("=")
        if not name or not number.isdigit():
            raise UsageError(
                f'invalid argument "{value}" for "--scale": expected SERVICE=NUM', prog
            )
        scale[name] = int(number)
    return scale


def converge(
    session: Session, project: Project, options: UpOptions, *, timeout: int | None = None
) -> dict[str, list[str]]:
    """Apply the plan; returns the service's container ids (by number) of every service."""
    volumes = session.volumes() if project.volumes else []
    plan = plan_up(project, session.containers(project.name), session.networks(), options, volumes)
    for warning in plan.warnings:
        warn(warning)
    _check_images(session, plan)
    run = _Run(session, project, plan, session.progress("Running"), timeout)
    try:
        run.execute()
    except Failed as exc:
        run.rollback()
        raise CliError(
            f"service {exc.service!r} failed: {exc.message}\n"
            "Nothing of this up was kept: what it created is removed, what it stopped runs again."
        ) from None
    except BaseException:
        run.rollback()
        raise
    run.commit()
    return {
        s.service.name: [run.ids[s.service.name][n] for n in sorted(run.ids[s.service.name])]
        for s in plan.services
    }


def _check_images(session: Session, plan: UpPlan) -> None:
    """Every image a new container needs is here: hatoba has no registry to pull from."""
    needed: dict[str, Service] = {}
    for sp in plan.services:
        if (sp.create or sp.recreate) and not is_hostfs(sp.service.image):
            needed.setdefault(sp.service.image, sp.service)
    missing = []
    for image, service in needed.items():
        try:
            session.client.call("GET", f"/images/{image}/json")
        except NotFound:
            built = (
                " (the file builds it: build it elsewhere, then load it)" if service.build else ""
            )
            missing.append(
                f"service {service.name!r} needs image {image}, which is not here{built}; "
                f"hatoba pulls from no registry: load it (docker save {image} | hatoba load) "
                f"or import a root file system (hatoba import ROOTFS.tar {image})"
            )
    if missing:
        raise CliError("\n".join(missing))


class _Run:
    def __init__(
        self,
        session: Session,
        project: Project,
        plan: UpPlan,
        progress: Progress,
        timeout: int | None,
    ) -> None:
        self.client = session.client
        self.project = project
        self.plan = plan
        self.progress = progress
        self.timeout = timeout
        self.lock = threading.Lock()
        self.undo: list[Callable[[], None]] = []
        # service → container number → id of the container the service has after the up
        self.ids: dict[str, dict[int, str]] = {s.service.name: {} for s in plan.services}
        # (old, new id) of replaced containers: the old goes, the new takes its name at commit
        self.replaced: list[tuple[Observed, str, str]] = []
        # container jobs in flight (concurrent.futures would import logging: start-up time)
        self.slots = threading.BoundedSemaphore(_WORKERS)
        self.image_volumes = ImageVolumes(self.client)
        # the engine has hatoba's batch routes (until one is refused)
        self.batches = True

    def registered(self, undo: Callable[[], None]) -> None:
        with self.lock:
            self.undo.append(undo)

    def parallel(self, jobs: list[Callable[[], None]]) -> None:
        """Container jobs, at most _WORKERS at once; once all have ended, raise the first
        failure."""

        def limited(job: Callable[[], None]) -> None:
            with self.slots:
                job()

        together([partial(limited, job) for job in jobs])

    # --- the steps ------------------------------------------------------------------------

    def execute(self) -> None:
        for network in self.plan.create_networks:
            self.create_network(network.key)
        for volume in self.plan.create_volumes:
            self.create_volume(volume)
        for sp in self.plan.services:
            for c in sp.keep:
                self.ids[sp.service.name][c.number] = c.id
                self.progress.done(f"Container {c.name}", "Running")
        for level in self._levels():
            together([partial(self.converge_service, sp) for sp in level])

    def _levels(self) -> list[list[ServicePlan]]:
        depth: dict[str, int] = {}
        levels: list[list[ServicePlan]] = []
        for sp in self.plan.services:  # in dependency order
            service = sp.service
            needs = [d.service for d in service.depends_on]
            if service.shares_network_of:
                needs.append(service.shares_network_of)
            level = 1 + max((depth[n] for n in needs if n in depth), default=-1)
            depth[service.name] = level
            if level == len(levels):
                levels.append([])
            levels[level].append(sp)
        return levels

    def create_network(self, key: str) -> None:
        network = self.project.network(key)
        name = f"Network {network.name}"
        self.progress.event(name, "Creating")
        try:
            created = self.client.json(
                "POST", "/networks/create", body=requests.network_body(self.project, network)
            )
        except HatobaError as exc:
            self.progress.failed(name, "Error")
            raise Failed(f"network {key}", exc.message) from None
        network_id = created["Id"]
        self.registered(lambda: self._quietly("DELETE", f"/networks/{network_id}"))
        self.progress.done(name, "Created")

    def create_volume(self, volume: Volume) -> None:
        try:
            create_volume(self.client, self.project, volume, self.progress)
        except HatobaError as exc:
            raise Failed(f"volume {volume.key}", exc.message) from None
        self.registered(partial(self._quietly, "DELETE", f"/volumes/{volume.name}"))

    def converge_service(self, sp: ServicePlan) -> None:
        service = sp.service
        try:
            self.wait_dependencies(service)
            mode = self.network_mode(service)
            if sp.recreate:
                self.parallel([partial(self.replace, service, c, mode) for c in sp.recreate])
            made = self.create_many(service, sp.create, mode)
            self.start_many(service, made, sp.start)
        except HatobaError as exc:
            raise Failed(service.name, exc.message) from None

    def network_mode(self, service: Service) -> str:
        shared = service.shares_network_of
        if not shared:
            return ""
        numbers = self.ids.get(shared) or {}
        if not numbers:
            raise Failed(
                service.name, f"cannot share network namespace with service {shared}: no container"
            )
        return f"container:{numbers[min(numbers)]}"

    def volumes_from(self, service: Service) -> list[str]:
        """Its `volumes_from` with the first container of each service it names."""

        def first_container(shared: str) -> str:
            numbers = self.ids.get(shared) or {}
            if not numbers:
                raise Failed(
                    service.name, f"cannot share volume with service {shared}: container missing"
                )
            return numbers[min(numbers)]

        return requests.volumes_from(service, first_container)

    def create(
        self,
        service: Service,
        number: int,
        name: str,
        mode: str,
        inherited: list[dict[str, Any]] | None = None,
    ) -> str:
        label = f"Container {requests.container_name(self.project.name, service, number)}"
        self.progress.event(label, "Creating")
        body = requests.create_body(
            self.project,
            service,
            number,
            name,
            network_mode=mode,
            volumes_from=self.volumes_from(service),
            inherited=inherited or (),
        )
        cid = self._create_one(name, body)
        self.made(service, label, cid, name, mode)
        return cid

    def made(self, service: Service, label: str, cid: str, name: str, mode: str) -> None:
        """A container was created: its undo (with the anonymous volumes it made), and the
        networks beyond the first (Engine API v1.41 takes one at create)."""
        undo = partial(self._quietly, "DELETE", f"/containers/{cid}", {"force": 1, "v": 1})
        self.registered(undo)
        if not mode and not service.network_mode:
            for network in service.networks[1:]:
                target, connect = requests.connect_body(self.project, service, network, name, cid)
                self.client.call("POST", f"/networks/{target}/connect", body=connect)
        self.progress.event(label, "Created")

    def create_many(self, service: Service, numbers: Sequence[int], mode: str) -> dict[int, str]:
        """The new containers of a service (number → id), made in one request."""
        names = {n: requests.container_name(self.project.name, service, n) for n in numbers}
        if not names:
            return {}
        for name in names.values():
            self.progress.event(f"Container {name}", "Creating")
        config = partial(
            requests.create_body,
            self.project,
            service,
            network_mode=mode,
            volumes_from=self.volumes_from(service),
        )
        bodies = {name: config(n, name) for n, name in names.items()}
        batch = [{"Name": name, "Config": body} for name, body in bodies.items()]
        answers = self.batch("create", {"Containers": batch})
        if answers is None:
            answers = self.each([partial(self._create_one, *item) for item in bodies.items()])
        made: dict[int, str] = {}
        failure = None
        for (number, name), answer in zip(names.items(), answers, strict=True):
            error = error_of(answer)
            if error is not None:
                self.progress.failed(f"Container {name}", "Error")
                failure = failure or error
                continue
            made[number] = answer["Id"]
            self.made(service, f"Container {name}", answer["Id"], name, mode)
        if failure is not None:
            raise failure
        return made

    def start_many(
        self, service: Service, made: dict[int, str], stopped: Sequence[Observed]
    ) -> None:
        """The service's new containers and its stopped ones, started in one request."""
        name = partial(requests.container_name, self.project.name, service)
        # (label, id, number, whether it existed before this up)
        todo = [(f"Container {name(n)}", cid, n, False) for n, cid in made.items()]
        todo += [(f"Container {c.name}", c.id, c.number, True) for c in stopped]
        if not todo:
            return
        for label, *_ in todo:
            self.progress.event(label, "Starting")
        answers = self.batch("start", {"Ids": [cid for _, cid, *_ in todo]})
        if answers is None:
            answers = self.each([partial(self._start_one, cid) for _, cid, *_ in todo])
        failure = None
        for (label, cid, number, existed), answer in zip(todo, answers, strict=True):
            error = error_of(answer)
            if error is not None and not isinstance(error, NotModified):
                self.progress.failed(label, "Error")
                failure = failure or error
                continue
            if existed:
                self.registered(partial(self._quietly, "POST", f"/containers/{cid}/stop", {"t": 0}))
            self.progress.done(label, "Started")
            with self.lock:
                self.ids[service.name][number] = cid
        if failure is not None:
            raise failure

    def each(self, requests: list[Callable[[], str]]) -> list[dict[str, Any]]:
        """One request per container, a few in flight (an engine without batch routes):
        answered as a batch is."""
        answers: list[dict[str, Any]] = [{} for _ in requests]

        def one(i: int) -> None:
            try:
                answers[i] = {"Id": requests[i]()}
            except HatobaError as exc:
                answers[i] = {"Error": {"Message": exc.message, "Status": exc.status}}

        self.parallel([partial(one, i) for i in range(len(requests))])
        return answers

    def _create_one(self, name: str, body: dict[str, Any]) -> str:
        return str(self.client.json("POST", "/containers/create", {"name": name}, body)["Id"])

    def _start_one(self, cid: str) -> str:
        self.client.call("POST", f"/containers/{cid}/start")
        return cid

    def batch(self, action: str, body: dict[str, Any]) -> list[dict[str, Any]] | None:
        """`batch`, and once refused never again."""
        answers = batch(self.client, action, body) if self.batches else None
        self.batches = answers is not None
        return answers

    def replace(self, service: Service, old: Observed, mode: str) -> None:
        name = requests.container_name(self.project.name, service, old.number)
        label = f"Container {name}"
        self.progress.event(label, "Recreate")
        image_volumes = self.image_volumes(service.image) if old.mounts else frozenset()
        kept = inherited_mounts(service, old, image_volumes)
        cid = self.create(service, old.number, f"{old.id[:12]}_{name}", mode, kept)
        if old.running:
            self.stop(old.id)
            self.registered(lambda: self._quietly("POST", f"/containers/{old.id}/start"))
        self.start(label, cid, "Recreated")
        with self.lock:
            self.ids[service.name][old.number] = cid
            self.replaced.append((old, cid, name))

    def start(self, label: str, cid: str, done: str) -> None:
        self.progress.event(label, "Starting")
        try:
            self.client.call("POST", f"/containers/{cid}/start")
        except NotModified:
            pass
        except HatobaError:
            self.progress.failed(label, "Error")
            raise
        self.progress.done(label, done)

    def stop(self, cid: str) -> None:
        try:
            self.client.call("POST", f"/containers/{cid}/stop", {"t": self.timeout})
        except NotModified:
            pass

    def wait_dependencies(self, service: Service) -> None:
        for dep in service.depends_on:
            if dep.condition not in (HEALTHY, COMPLETED) or dep.service not in self.ids:
                continue
            for cid in self.ids[dep.service].values():
                self._wait_for(service.name, dep.service, dep.condition, cid, dep.required)

    def _wait_for(self, service: str, dep: str, condition: str, cid: str, required: bool) -> None:
        label = None
        while True:
            info = self.client.json("GET", f"/containers/{cid}/json")
            name = f"Container {info['Name'].lstrip('/')}"
            if label is None:
                label = name
                self.progress.event(label, "Waiting")
            reason = _unmet(info, condition)
            if reason is None:
                self.progress.done(label, "Healthy" if condition == HEALTHY else "Exited")
                return
            if reason:
                self.progress.failed(label, "Error")
                if not required:
                    warn(f"optional dependency {dep!r} of {service!r}: {reason}")
                    return
                raise Failed(service, f"dependency failed to start: {reason}")
            time.sleep(_POLL)

    # --- the end: keep or undo ------------------------------------------------------------

    def rollback(self) -> None:
        for undo in reversed(self.undo):
            undo()

    def commit(self) -> None:
        jobs: list[Callable[[], None]] = []
        for old, cid, name in self.replaced:
            jobs.append(partial(self._swap, old, cid, name))
        for sp in self.plan.services:
            jobs += [partial(self._remove, c) for c in sp.remove]
        if self.plan.remove_orphans:
            jobs += [partial(self._remove, c) for c in self.plan.orphans]
        if jobs:
            self.parallel(jobs)

    def _swap(self, old: Observed, cid: str, name: str) -> None:
        self.client.call("DELETE", f"/containers/{old.id}", {"force": 1})
        self.client.call("POST", f"/containers/{cid}/rename", {"name": name})

    def _remove(self, c: Observed) -> None:
        label = f"Container {c.name}"
        self.progress.event(label, "Stopping")
        self.stop(c.id)
        self.progress.event(label, "Removing")
        self.client.call("DELETE", f"/containers/{c.id}", {"force": 1})
        self.progress.done(label, "Removed")

    def _quietly(self, method: str, path: str, query: dict[str, Any] | None = None) -> None:
        try:
            self.client.call(method, path, query)
        except (HatobaError, OSError) as exc:
            sys.stderr.write(f"undo {method} {path}: {exc}\n")


def batch(client: Client, action: str, body: dict[str, Any]) -> list[dict[str, Any]] | None:
    """POST /hatoba/containers/<action>: what became of each container (in order), or None
    when the engine has no such route (it is not hatoba)."""
    try:
        answers: list[dict[str, Any]] = client.json(
            "POST", f"/hatoba/containers/{action}", body=body
        )
    except NotFound:
        return None
    return answers


def error_of(answer: dict[str, Any]) -> HatobaError | None:
    """The error of one container in a batch's answer, as its own request would raise it."""
    error = answer.get("Error")
    return from_status(int(error["Status"]), str(error["Message"])) if error else None


def _unmet(info: dict[str, Any], condition: str) -> str | None:
    """None when `condition` holds; "" while it may still come; else why it never will."""
    state = info.get("State") or {}
    name = info["Name"].lstrip("/")
    if condition == COMPLETED:
        if state.get("Status") != "exited":
            return ""
        code = state.get("ExitCode", 0)
        return None if code == 0 else f"container {name} didn't complete successfully: exit {code}"
    if state.get("Status") == "exited":
        return f"container {name} exited ({state.get('ExitCode', 0)})"
    health = state.get("Health")
    if not health:
        return f"container {name} has no healthcheck configured"
    status = health.get("Status")
    if status == "healthy":
        return None
    if status == "unhealthy":
        return f"container {name} is unhealthy"
    return ""


def wait_ready(session: Session, ids: list[str]) -> None:
    """--wait: until every container runs (and is healthy, if it has a health check)."""
    pending = list(ids)
    while pending:
        still = []
        for cid in pending:
            info = session.client.json("GET", f"/containers/{cid}/json")
            state = info.get("State") or {}
            if state.get("Status") == "exited":
                raise CliError(
                    f"container {info['Name'].lstrip('/')} exited ({state.get('ExitCode')})"
                )
            health = (state.get("Health") or {}).get("Status")
            if health == "unhealthy":
                raise CliError(f"container {info['Name'].lstrip('/')} is unhealthy")
            if state.get("Status") != "running" or health not in (None, "healthy"):
                still.append(cid)
        pending = still
        if pending:
            time.sleep(_POLL)


def together(jobs: list[Callable[[], None]]) -> None:
    """Jobs that wait on the pool themselves (a level's services), each on a thread of its
    own; once all have ended, raise the first failure."""
    if len(jobs) == 1:
        jobs[0]()
        return
    errors: list[BaseException | None] = [None] * len(jobs)

    def work(i: int) -> None:
        try:
            jobs[i]()
        except BaseException as exc:
            errors[i] = exc

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for error in errors:
        if error is not None:
            raise error
