"""What `up` and `down` must do, from the project and what the engine has: pure decisions.

The engine's state comes in as plain values (`observe_containers`, `observe_networks`,
`observe_volumes` parse the API's lists). `plan_up` follows docker compose's convergence: per
service, containers whose config hash differs are recreated (all with --force-recreate, none
with --no-recreate), stopped ones are started, missing numbers are created, and on scale-down
the obsolete and then the highest-numbered containers go; services the file no longer has are
orphans. A second `up` of an unchanged file plans nothing. A replacement keeps the anonymous
volumes of the container it replaces (`inherited_mounts`), and `down -v` and `rm -v` remove a
container's anonymous volumes (`anonymous_volumes`), those it inherited too.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hatoba.compose import requests as labels
from hatoba.compose.errors import ComposeError, Problem
from hatoba.compose.model import VOLUME, Network, Project, Service, Volume

RUNNING = "running"
# the names an engine gives anonymous volumes (Docker's and hatoba's: a random 64-hex id)
_ANONYMOUS_NAME = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class ObservedMount:
    """One of a container's `Mounts`, as the engine lists it."""

    type: str
    destination: str
    # a volume's name ("" for binds and tmpfs)
    name: str = ""
    rw: bool = True


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
    mounts: tuple[ObservedMount, ...] = ()

    @property
    def running(self) -> bool:
        return self.state == RUNNING


@dataclass(frozen=True)
class ObservedNetwork:
    id: str
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ObservedVolume:
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
                mounts=tuple(
                    ObservedMount(
                        m.get("Type") or "",
                        m.get("Destination") or "",
                        m.get("Name") or "",
                        bool(m.get("RW", True)),
                    )
                    for m in s.get("Mounts") or ()
                ),
            )
        )
    return found


def observe_networks(summaries: Iterable[Mapping[str, Any]]) -> list[ObservedNetwork]:
    return [ObservedNetwork(n["Id"], n["Name"], dict(n.get("Labels") or {})) for n in summaries]


def observe_volumes(listing: Mapping[str, Any]) -> list[ObservedVolume]:
    """GET /volumes → ObservedVolume."""
    return [
        ObservedVolume(v["Name"], dict(v.get("Labels") or {})) for v in listing.get("Volumes") or ()
    ]


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
    create_volumes: tuple[Volume, ...] = ()

    @property
    def changes(self) -> bool:
        return bool(
            self.create_networks
            or self.create_volumes
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


def plan_volumes(
    project: Project, services: Iterable[Service], existing: Iterable[ObservedVolume]
) -> tuple[list[Volume], list[str]]:
    """(volumes to create, warnings) for the top-level volumes `services` mount: as docker
    compose v2.29, an external one must exist, and one that exists is used as it is (with a
    warning when the project did not make it)."""
    found = {v.name: v for v in existing}
    used = dict.fromkeys(m.source for s in services for m in s.volumes if m.name)
    create: list[Volume] = []
    warnings: list[str] = []
    for key in used:
        volume = project.volume(key)
        seen = found.get(volume.name)
        if seen is None:
            if volume.external:
                raise _fail(f'external volume "{volume.name}" not found')
            create.append(volume)
            continue
        owner = seen.labels.get(labels.PROJECT)
        if volume.external or owner == project.name:
            continue
        if owner is None:
            warnings.append(
                f'volume "{volume.name}" already exists but was not created by Docker Compose. '
                "Use `external: true` to use an existing volume"
            )
        else:
            warnings.append(
                f'volume "{volume.name}" already exists but was created for project "{owner}" '
                f'(expected "{project.name}"). Use `external: true` to use an existing volume'
            )
    return create, warnings


def plan_up(
    project: Project,
    containers: Iterable[Observed],
    networks: Iterable[ObservedNetwork],
    options: UpOptions,
    volumes: Iterable[ObservedVolume] = (),
) -> UpPlan:
    """`volumes`: the engine's volumes (only needed when the project has some)."""
    services = selected(project, options.services)
    names, create_networks, warnings = plan_networks(project, services, networks)
    create_volumes, volume_warnings = plan_volumes(project, services, volumes)
    warnings += volume_warnings
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
        create_volumes=tuple(create_volumes),
    )


def inherited_mounts(
    service: Service, old: Observed, image_volumes: Collection[str]
) -> list[dict[str, Any]]:
    """HostConfig.Mounts of the volumes a replacement of `old` keeps: as docker compose does,
    the volumes `old` has where the image declares a VOLUME or the file an anonymous
    volume, so their data outlives the recreate."""
    anonymous = {m.target for m in service.volumes if m.type == VOLUME and not m.source}
    return [
        {"Type": m.type, "Source": m.name, "Target": m.destination, "ReadOnly": not m.rw}
        for m in old.mounts
        if m.type == VOLUME and (m.destination in anonymous or m.destination in image_volumes)
    ]


def anonymous_volumes(containers: Iterable[Observed], named: Collection[str]) -> list[str]:
    """The anonymous volumes the containers have (a replacement's inherited ones too): the
    volumes `down -v` and `rm -v` remove with them. `named`: the project's volume names."""
    return list(
        dict.fromkeys(
            m.name
            for c in containers
            for m in c.mounts
            if m.type == VOLUME and m.name not in named and _ANONYMOUS_NAME.fullmatch(m.name)
        )
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
    # removed after the containers (-v)
    volumes: tuple[str, ...] = ()


def plan_down(
    project: Project | None,
    project_name: str,
    containers: Iterable[Observed],
    networks: Iterable[ObservedNetwork],
    *,
    remove_orphans: bool,
    volumes: Iterable[ObservedVolume] | None = None,
) -> DownPlan:
    """Everything of the project: its containers (one-off too; orphans with
    --remove-orphans) and the networks it created (never external ones). Without a file
    (`down -p NAME`), whatever carries the project's label. With `volumes` (the engine's,
    for -v): the anonymous volumes of its containers (not of orphans, as docker compose) and
    its volumes (never external ones)."""
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
    if volumes is None:
        return DownPlan(tuple(chosen), drop)
    existing = {v.name for v in volumes}
    labelled = [v.name for v in volumes if v.labels.get(labels.PROJECT) == project_name]
    declared = [v.name for v in project.volumes if not v.external] if project else labelled
    named = {*labelled, *(v.name for v in project.volumes)} if project else set(labelled)
    known_containers = [c for c in chosen if c.oneoff or c.service in known or project is None]
    anonymous = anonymous_volumes(known_containers, named)
    return DownPlan(tuple(chosen), drop, (*anonymous, *(n for n in declared if n in existing)))
