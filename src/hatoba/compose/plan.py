"""What `up` and `down` must do, from the project and what the engine has: pure decisions.

The engine's state comes in as plain values (`observe_containers`, `observe_networks` parse
the API's lists). `plan_up` follows docker compose's convergence: per service, containers whose
config hash differs are recreated (all with --force-recreate, none with --no-recreate), stopped
ones are started, missing numbers are created, and on scale-down the obsolete and then the
highest-numbered containers go; services the file no longer has are orphans. A second `up`
of an unchanged file plans nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hatoba.compose import requests as labels
from hatoba.compose.errors import ComposeError, Problem
from hatoba.compose.model import Network, Project, Service

RUNNING = "running"


@dataclass(frozen=True)
class Observed:
    """A container of the project, as the engine lists it."""

    id: str
    name: str
    service: str
    number: int
    state: str
    config_hash: str = ""
    oneoff: bool = False
    networks: tuple[str, ...] = ()
    created: int = 0

    @property
    def running(self) -> bool:
        return self.state == RUNNING


@dataclass(frozen=True)
class ObservedNetwork:
    id: str
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)


def observe_containers(summaries: Iterable[Mapping[str, Any]]) -> list[Observed]:
    """GET /containers/json?all=1 (filtered by project) → Observed."""
    found = []
    for s in summaries:
        tags = s.get("Labels") or {}
        try:
            number = int(tags.get(labels.NUMBER, "0"))
        except ValueError:
            number = 0
        names = s.get("Names") or [""]
        found.append(
            Observed(
                id=s["Id"],
                name=names[0].lstrip("/"),
                service=tags.get(labels.SERVICE, ""),
                number=number,
                state=s.get("State") or "",
                config_hash=tags.get(labels.CONFIG_HASH, ""),
                oneoff=tags.get(labels.ONEOFF) == "True",
                networks=tuple(((s.get("NetworkSettings") or {}).get("Networks") or {}).keys()),
                created=int(s.get("Created") or 0),
            )
        )
    return found


def observe_networks(summaries: Iterable[Mapping[str, Any]]) -> list[ObservedNetwork]:
    return [ObservedNetwork(n["Id"], n["Name"], dict(n.get("Labels") or {})) for n in summaries]


@dataclass(frozen=True)
class UpOptions:
    # services named on the command line (with what they depend on); empty: all
    services: tuple[str, ...] = ()
    scale: Mapping[str, int] = field(default_factory=dict)
    force_recreate: bool = False
    no_recreate: bool = False
    remove_orphans: bool = False


@dataclass(frozen=True)
class ServicePlan:
    service: Service
    replicas: int
    keep: tuple[Observed, ...] = ()
    start: tuple[Observed, ...] = ()
    recreate: tuple[Observed, ...] = ()
    create: tuple[int, ...] = ()
    remove: tuple[Observed, ...] = ()

    @property
    def changes(self) -> bool:
        return bool(self.start or self.recreate or self.create or self.remove)


@dataclass(frozen=True)
class UpPlan:
    # every network the services use: key → engine name
    networks: Mapping[str, str]
    create_networks: tuple[Network, ...]
    # in dependency order: a service after those it depends on
    services: tuple[ServicePlan, ...]
    orphans: tuple[Observed, ...] = ()
    remove_orphans: bool = False
    warnings: tuple[str, ...] = ()

    @property
    def changes(self) -> bool:
        return bool(
            self.create_networks
            or any(s.changes for s in self.services)
            or (self.orphans and self.remove_orphans)
        )


def _fail(message: str) -> ComposeError:
    return ComposeError([Problem("", 0, "", message)])


def selected(project: Project, names: Iterable[str]) -> list[Service]:
    """The named services and everything they depend on, in dependency order (all if none)."""
    wanted = set(names)
    unknown = wanted - set(project.service_names)
    if unknown:
        raise _fail(f"no such service: {', '.join(sorted(unknown))}")
    if not wanted:
        return list(project.services)
    for service in reversed(project.services):
        if service.name in wanted:
            wanted.update(d.service for d in service.depends_on)
            if service.shares_network_of:
                wanted.add(service.shares_network_of)
    return [s for s in project.services if s.name in wanted]


def plan_networks(
    project: Project, services: Iterable[Service], existing: Iterable[ObservedNetwork]
) -> tuple[dict[str, str], list[Network], list[str]]:
    """(key → engine name, networks to create, warnings) for the networks `services` use."""
    by_name: dict[str, list[ObservedNetwork]] = {}
    for n in existing:
        by_name.setdefault(n.name, []).append(n)
    used = dict.fromkeys(n.key for s in services for n in s.networks)
    names: dict[str, str] = {}
    create: list[Network] = []
    warnings: list[str] = []
    for key in used:
        network = project.network(key)
        names[key] = network.name
        found = by_name.get(network.name, [])
        if network.external:
            if not found:
                raise _fail(f"network {network.name} declared as external, but could not be found")
            continue
        if not found:
            create.append(network)
            continue
        mine = [n for n in found if n.labels.get(labels.PROJECT) == project.name]
        if not mine:
            warnings.append(
                f"a network with name {network.name} exists but was not created by compose.\n"
                "Set `external: true` to use an existing network"
            )
            continue
        if mine[0].labels.get(labels.NETWORK) != key:
            raise _fail(
                f"network {network.name} was found but has incorrect label {labels.NETWORK} set "
                f"to {mine[0].labels.get(labels.NETWORK, '')!r} (expected: {key!r})"
            )
        seen = mine[0].labels.get(labels.CONFIG_HASH, "")
        if seen and seen != network.config_hash:
            raise _fail(
                f"network {network.name} exists with another configuration than the file's: "
                f"remove it first (`hatoba compose down`)"
            )
    return names, create, warnings


def plan_up(
    project: Project,
    containers: Iterable[Observed],
    networks: Iterable[ObservedNetwork],
    options: UpOptions,
) -> UpPlan:
    services = selected(project, options.services)
    names, create_networks, warnings = plan_networks(project, services, networks)
    mine = [c for c in containers if not c.oneoff]
    by_service: dict[str, list[Observed]] = {}
    for c in mine:
        by_service.setdefault(c.service, []).append(c)
    known = set(project.service_names) | set(project.disabled)
    orphans = tuple(c for c in mine if c.service not in known)
    if orphans and not options.remove_orphans:
        warnings.append(
            f"Found orphan containers ({', '.join(sorted(c.name for c in orphans))}) for this "
            "project. If you removed or renamed this service in your compose file, you can run "
            "this command with the --remove-orphans flag to clean it up."
        )
    plans = []
    for service in services:
        chosen = not options.services or service.name in options.services
        policy = "diverged"
        if chosen and options.force_recreate:
            policy = "force"
        elif options.no_recreate:
            policy = "never"
        replicas = options.scale.get(service.name, service.replicas)
        if service.container_name and replicas > 1:
            raise _fail(
                f"service {service.name!r} has the container name {service.container_name!r}: "
                "a name is unique, remove it to scale the service"
            )
        plans.append(_converge(service, by_service.get(service.name, []), replicas, policy, names))
    return UpPlan(
        networks=names,
        create_networks=tuple(create_networks),
        services=tuple(plans),
        orphans=orphans,
        remove_orphans=options.remove_orphans,
        warnings=tuple(warnings),
    )


def _converge(
    service: Service,
    current: list[Observed],
    replicas: int,
    policy: str,
    networks: Mapping[str, str],
) -> ServicePlan:
    expected_networks = {networks[n.key] for n in service.networks}

    def obsolete(c: Observed) -> bool:
        if policy == "never":
            return False
        if policy == "force" or c.config_hash != service.config_hash:
            return True
        return c.running and not expected_networks <= set(c.networks)

    # docker compose keeps the lowest numbers that are up to date, then the obsolete ones
    ordered = sorted(current, key=lambda c: (obsolete(c), c.number, c.created))
    kept, removed = ordered[:replicas], ordered[replicas:]
    keep = tuple(c for c in kept if not obsolete(c) and c.running)
    start = tuple(c for c in kept if not obsolete(c) and not c.running)
    recreate = tuple(c for c in kept if obsolete(c))
    used = {c.number for c in current}
    create: list[int] = []
    number = max(used, default=0) + 1
    for _ in range(replicas - len(kept)):
        create.append(number)
        number += 1
    return ServicePlan(
        service=service,
        replicas=replicas,
        keep=keep,
        start=start,
        recreate=recreate,
        create=tuple(create),
        remove=tuple(removed),
    )


@dataclass(frozen=True)
class DownPlan:
    # stopped and removed in this order: dependants before what they depend on
    containers: tuple[Observed, ...]
    networks: tuple[ObservedNetwork, ...]


def plan_down(
    project: Project | None,
    project_name: str,
    containers: Iterable[Observed],
    networks: Iterable[ObservedNetwork],
    *,
    remove_orphans: bool,
) -> DownPlan:
    """Everything of the project: its containers (one-off too; orphans with
    --remove-orphans) and the networks it created (never external ones). Without a file
    (`down -p NAME`), whatever carries the project's label."""
    order = {s.name: i for i, s in enumerate(project.services)} if project else {}
    known = set(order) | set(project.disabled if project else ())
    chosen = [
        c for c in containers if project is None or c.oneoff or c.service in known or remove_orphans
    ]
    chosen.sort(key=lambda c: (-order.get(c.service, len(order)), -c.number))
    wanted = {n.name for n in project.networks if not n.external} if project is not None else None
    drop = tuple(
        n
        for n in networks
        if n.labels.get(labels.PROJECT) == project_name and (wanted is None or n.name in wanted)
    )
    return DownPlan(tuple(chosen), drop)
