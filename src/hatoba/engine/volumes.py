"""Volume use cases: create, remove, prune; the mounts of a new container (binds checked, the
volumes they name made when missing, anonymous ones named); what a start mounts; the
anonymous volumes `rm -v` removes; and records and folders made to agree after a crash.

A volume is a record (the store) and a folder (the storage adapter). A new folder is made
before its record is committed and removed again if the operation fails; a record is removed
before its folder. So after a crash a folder may lack its record (reconcile deletes it),
never the other way round, unless someone deleted a folder by hand (reconcile makes it again,
empty, and says so).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType

from hatoba.engine import processes
from hatoba.engine.core import Core
from hatoba.engine.undo import UndoStack
from hatoba.errors import Conflict, InvalidArgument, NotFound
from hatoba.model.container import Container, ContainerConfig
from hatoba.model.ids import new_id
from hatoba.model.launch import FileView, LaunchMount
from hatoba.model.mounts import (
    BIND,
    LOCAL_DRIVER,
    TMPFS,
    VOLUME,
    MountPoint,
    MountRequest,
    Volume,
    check_volume_name,
    clean,
    mount_order,
    parse_volumes_from,
    plan_mounts,
    tmpfs_mount_options,
)

log = logging.getLogger("hatoba.engine")

# the options Docker's local driver takes (a mount made at first use), none built here yet
_LOCAL_OPTIONS = ("type", "device", "o", "size")


def _created_now() -> str:
    """RFC 3339 to the second, as Docker's local driver shows CreatedAt."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _check_driver(name: str, plugin: str, options: Mapping[str, str] | None) -> None:
    """The local driver ("" is it too) and its options: the only volume plugin there is."""
    if plugin not in ("", LOCAL_DRIVER):
        raise InvalidArgument(
            f'create {name}: error looking up volume plugin {plugin}: plugin "{plugin}" not found'
        )
    for key in options or {}:
        if key not in _LOCAL_OPTIONS:
            raise InvalidArgument(f'create {name}: invalid option: "{key}"')
        raise InvalidArgument(
            f"create {name}: hatoba's local driver does not support the option {key!r} yet"
        )


def _make(
    core: Core,
    undo: UndoStack,
    name: str,
    labels: Mapping[str, str] | None,
    options: Mapping[str, str] | None,
) -> Volume:
    """A new volume's folder (its undo registered) and record, to be committed."""
    core.storage.create_volume(name)
    undo.push("volume folder", lambda: core.storage.remove_volume(name))
    return Volume(
        name=name,
        created=_created_now(),
        labels=None if labels is None else MappingProxyType(dict(labels)),
        options=None if options is None else MappingProxyType(dict(options)),
    )


def create(
    core: Core,
    name: str,
    plugin: str = "",
    labels: Mapping[str, str] | None = None,
    options: Mapping[str, str] | None = None,
) -> Volume:
    """`volume create`: an existing volume of that name is the answer, as in Docker."""
    name = name or new_id()
    existing = core.state.volumes.get(name)
    check_volume_name(name)
    _check_driver(name, plugin, options)
    if existing is not None:
        return existing
    with UndoStack() as undo:
        volume = _make(core, undo, name, labels, options)
        core.commit(volumes=[volume])
        undo.commit()
    return volume


def remove(core: Core, name: str, force: bool = False) -> None:
    """`volume rm`; `force` makes a missing volume no error (a volume in use still is)."""
    if name not in core.state.volumes:
        if force:
            return
        raise NotFound(f"get {name}: no such volume")
    users = core.state.volume_users(name)
    if users:
        raise Conflict(f"remove {name}: volume is in use - [{', '.join(users)}]")
    core.commit(removed_volumes=[name])
    core.storage.remove_volume(name)


def prune(core: Core, matches: Callable[[Volume], bool]) -> tuple[list[str], int]:
    """The volumes no container uses (Docker 20.10 prunes named ones too): their names and
    the bytes they held."""
    doomed = [
        v
        for v in core.state.volumes.values()
        if not v.options and matches(v) and not core.state.volume_users(v.name)
    ]
    sizes = {v.name: core.storage.volume_size(v.name) for v in doomed}
    if doomed:
        core.commit(removed_volumes=list(sizes))
    for name in sizes:
        core.storage.remove_volume(name)
    return sorted(sizes), sum(sizes.values())


# --- the mounts of containers ----------------------------------------------------------------


def plan(core: Core, config: ContainerConfig) -> list[MountPoint]:
    """A new container's mounts, checked (Docker's texts), before anything is made."""
    sources = []
    for source in config.volumes_from:
        ref, writable = parse_volumes_from(source)
        other = core.state.find_container(ref)
        if other is None:
            raise InvalidArgument(f"No such container: {ref}")
        sources.append((writable, other.mounts))
    request = MountRequest(
        binds=config.binds,
        mounts=config.mount_specs,
        tmpfs=config.tmpfs,
        volumes=config.volumes,
        volume_driver=config.volume_driver,
    )
    points = plan_mounts(request, sources)
    for data in config.tmpfs.values():
        tmpfs_mount_options(data)
    for n, point in enumerate(points):
        if point.type == BIND:
            if point.propagation in ("shared", "rshared"):
                raise InvalidArgument(
                    f"hatoba does not support the bind propagation {point.propagation} yet: "
                    "the mounts of a container do not reach the host"
                )
            if core.storage.check_bind_source(point.source, must_exist=not point.create_source):
                # hatoba's roots are in there: the host's unmounts must reach the container
                points[n] = dataclasses.replace(point, propagation="rslave")
        elif point.type == VOLUME and point.name not in core.state.volumes:
            if point.name:
                check_volume_name(point.name)
            asked = _spec_for(config, point.destination)
            _check_driver(point.name or new_id(), point.driver, asked[1] if asked else None)
    return points


def _spec_for(
    config: ContainerConfig, destination: str
) -> tuple[Mapping[str, str], Mapping[str, str]] | None:
    """The labels and driver options `--mount` asked for the volume at `destination`."""
    for spec in config.mount_specs:
        if spec.target and clean(spec.target) == destination and spec.has_volume_options:
            return spec.volume_labels, spec.volume_driver_options
    return None


def provide(
    core: Core, undo: UndoStack, config: ContainerConfig, points: Sequence[MountPoint]
) -> tuple[list[MountPoint], list[Volume]]:
    """The volumes `points` name, made where missing (anonymous ones get a random name):
    the points as the container keeps them, and the new volumes to commit with it."""
    made: dict[str, Volume] = {}
    kept = []
    for point in points:
        if point.type != VOLUME:
            kept.append(point)
            continue
        name = point.name or new_id()
        if name not in core.state.volumes and name not in made:
            spec = _spec_for(config, point.destination)
            made[name] = _make(core, undo, name, *(spec or (None, None)))
        kept.append(dataclasses.replace(point, name=name, driver=LOCAL_DRIVER))
    return kept, list(made.values())


def launch_mounts(core: Core, container: Container, *, populate: bool) -> tuple[LaunchMount, ...]:
    """What the runtime mounts for the container, parents first. `populate`: the container
    has an image whose content fills its new volumes."""
    mounts = []
    for point in mount_order(container.mounts):
        if point.type == TMPFS:
            options = tmpfs_mount_options(point.tmpfs_options)
            mounts.append(LaunchMount(TMPFS, point.destination, tmpfs_options=options))
        elif point.type == VOLUME:
            mounts.append(
                LaunchMount(
                    VOLUME,
                    point.destination,
                    core.storage.volume_path(point.name),
                    readonly=not point.rw,
                    populate=populate and point.copy_data,
                )
            )
        else:
            mounts.append(
                LaunchMount(
                    BIND,
                    point.destination,
                    point.source,
                    readonly=not point.rw,
                    recursive=not point.non_recursive,
                    propagation=point.propagation,
                    create_source=point.create_source,
                )
            )
    for destination, data in sorted(container.config.tmpfs.items()):
        options = tmpfs_mount_options(data)
        mounts.append(LaunchMount(TMPFS, clean(destination), tmpfs_options=options))
    return tuple(mount_order(mounts))


def file_view(core: Core, container: Container) -> FileView:
    image = processes.image_of(core, container)
    return FileView(
        container.id,
        image.layers if image else (),
        launch_mounts(core, container, populate=False),
        shim_pid=container.state.shim_pid if container.state.running else 0,
        init=bool(container.config.init),
    )


def first_use_done(container: Container) -> Container:
    """After a start: volumes are filled from the image at the first use only."""
    if not any(p.copy_data for p in container.mounts):
        return container
    return dataclasses.replace(
        container, mounts=tuple(dataclasses.replace(p, copy_data=False) for p in container.mounts)
    )


def anonymous_of(core: Core, container: Container) -> list[str]:
    """The anonymous volumes of `container` that no other container uses (`rm -v`)."""
    return [
        p.name
        for p in container.mounts
        if p.type == VOLUME
        and p.anonymous
        and p.name in core.state.volumes
        and core.state.volume_users(p.name) == [container.id]
    ]


# --- start-up and reset ---------------------------------------------------------------------


def reconcile(core: Core) -> None:
    """Make folders and records agree (see the module's docstring)."""
    on_disk = core.storage.volume_names()
    for name in sorted(on_disk - set(core.state.volumes)):
        log.warning("removing the folder of volume %s: it has no record", name)
        core.storage.remove_volume(name)
    for name in sorted(set(core.state.volumes) - on_disk):
        log.warning("volume %s had lost its folder: it is empty now", name)
        core.storage.create_volume(name)


def remove_all(core: Core) -> None:
    """`system reset`: every volume, record and folder."""
    names = list(core.state.volumes)
    if names:
        core.commit(removed_volumes=names)
    for name in {*names, *core.storage.volume_names()}:
        core.storage.remove_volume(name)
