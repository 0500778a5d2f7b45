"""Container use cases: create, start, kill, exit (and the restart policy's verdict on it),
restart by policy, pause and unpause, update, remove."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address

from hatoba.drivers import registry as drivers
from hatoba.engine import endpoints, firewall, links, overlay, resolver, starts, volumes
from hatoba.engine.core import Core
from hatoba.engine.networks import CONFLICT_WITH_MODE, endpoint_config
from hatoba.engine.undo import UndoStack
from hatoba.errors import (
    Conflict,
    HatobaError,
    InvalidArgument,
    KernelError,
    NotFound,
    NotModified,
    NotRunnable,
)
from hatoba.files.hosts import parse_extra_host
from hatoba.model import file_fields, health, resources, restart, security
from hatoba.model.container import (
    CONTAINER_MODE_PREFIX,
    EXITED,
    HOSTFS_IMAGE,
    RESTARTING,
    SHARED_NETWORK,
    Container,
    ContainerConfig,
    EndpointConfig,
    is_hostfs,
    joined_container,
)
from hatoba.model.ids import check_dns_name, new_id, now_rfc3339, validate_container_name
from hatoba.model.mounts import MountPoint
from hatoba.model.names import random_name
from hatoba.model.network import Network
from hatoba.model.resources import FREEZER, Resources
from hatoba.model.restart import RestartPolicy
from hatoba.model.signals import signal_number

log = logging.getLogger("hatoba.engine")


@dataclass(frozen=True)
class EndpointRequest:
    network: str
    aliases: tuple[str, ...] = ()
    ipv4: IPv4Address | None = None
    links: tuple[str, ...] = ()
    mac: str = ""
    ipv6: IPv6Address | None = None
    driver_opts: Mapping[str, str] = field(default_factory=dict)
    link_local_ips: tuple[IPv4Address | IPv6Address, ...] = ()


@dataclass(frozen=True)
class CreateRequest:
    config: ContainerConfig
    name: str | None = None
    # extra networks beyond the one named by config.network_mode (API EndpointsConfig)
    endpoints: tuple[EndpointRequest, ...] = ()
    warnings: list[str] = field(default_factory=list)
    # HostConfig.Links: legacy links on the default bridge (NAME[:ALIAS])
    links: tuple[str, ...] = ()
    # the first half of a `run`: removed by reconcile unless its start succeeds
    run_pending: bool = False


@dataclass(frozen=True)
class UpdateRequest:
    """`update`: the limits it sets (0: unchanged), and the restart policy (None: unchanged)."""

    resources: Resources = field(default_factory=Resources)
    # None: unchanged; 0 or less: no limit
    pids_limit: int | None = None
    restart_policy: RestartPolicy | None = None
    warnings: list[str] = field(default_factory=list)


def _primary_network(core: Core, mode: str) -> Network:
    return _requested_network(core, "bridge" if mode in ("", "default") else mode)


def _requested_network(core: Core, ref: str) -> Network:
    """A network named in a create request. Missing is bad input here, not 404: Docker checks
    networks at start, and the docker CLI takes any 404 from create for a missing image."""
    found = core.state.find_network(ref)
    if found is None:
        raise InvalidArgument(f"network {ref} not found")
    return found


def _with_image(core: Core, config: ContainerConfig) -> ContainerConfig:
    """Fill in what the image provides and the request did not (Docker's precedence)."""
    if is_hostfs(config.image):
        argv = config.entrypoint + config.cmd
        image_id = HOSTFS_IMAGE
        cmd, entrypoint, workdir = config.cmd, config.entrypoint, config.workdir
        user = config.user
        exposed: tuple[str, ...] = ()
        image_volumes: tuple[str, ...] = ()
        healthcheck = config.healthcheck
    else:
        image = core.images.resolve(config.image)
        image_id = image.id
        entrypoint = config.entrypoint or image.entrypoint
        # a new entrypoint drops the image's CMD, as `docker run --entrypoint` does
        cmd = config.cmd or (() if config.entrypoint else image.cmd)
        workdir = config.workdir or image.workdir
        user = config.user or image.user
        exposed = image.exposed_ports
        image_volumes = image.volumes
        healthcheck = (
            config.healthcheck.over(image.healthcheck)
            if config.healthcheck is not None
            else image.healthcheck
        )
        argv = entrypoint + cmd
    if not argv:
        raise InvalidArgument("No command specified")
    return dataclasses.replace(
        config,
        image_id=image_id,
        cmd=cmd,
        entrypoint=entrypoint,
        workdir=workdir,
        user=user,
        exposed_ports=tuple(sorted({*config.exposed_ports, *exposed})),
        healthcheck=healthcheck,
        volumes=tuple(sorted({*config.volumes, *image_volumes})),
    )


def _free_name(core: Core, requested: str, batch: Mapping[str, str] | None = None) -> str:
    """`batch`: name → id of the containers made before this one in the same batch."""
    name = validate_container_name(requested)
    clash = core.state.container_named(name)
    clash_id = clash.id if clash is not None else (batch or {}).get(name)
    if clash_id is not None:
        raise Conflict(
            f'Conflict. The container name "/{name}" is already in use by container '
            f'"{clash_id}". You have to remove (or rename) that container to be able to '
            "reuse that name."
        )
    return name


def create(core: Core, request: CreateRequest) -> Container:
    return _one(create_many(core, [request])[0])


def create_many(core: Core, requests: Sequence[CreateRequest]) -> list[Container | HatobaError]:
    """Each container as `create` makes it, or why not; one commit records them all (but
    one with volumes to make, committed with them on its own)."""
    made: list[Container] = []
    outcomes: list[Container | HatobaError] = []
    names: dict[str, str] = {}
    alone: set[str] = set()
    for request in requests:
        try:
            container = _new(core, request, names)
            _check_static_in_batch(container, made)
            points = volumes.plan(core, container.config)
            if points:
                container = _with_volumes(core, container, points)
                alone.add(container.id)
        except HatobaError as exc:
            outcomes.append(exc)
            continue
        names[container.name] = container.id
        made.append(container)
        outcomes.append(container)
    batch = [c for c in made if c.id not in alone]
    if batch:
        core.commit(containers=batch)
    return outcomes


def _with_volumes(core: Core, container: Container, points: list[MountPoint]) -> Container:
    """The container with its mounts, the volumes they name made where missing, in one
    commit with it (a later one of the same batch may name them too)."""
    with UndoStack() as undo:
        mounts, made = volumes.provide(core, undo, container.config, points)
        container = dataclasses.replace(container, mounts=tuple(mounts))
        core.commit(containers=[container], volumes=made)
        undo.commit()
    return container


def _check_static_in_batch(container: Container, made: Sequence[Container]) -> None:
    """`--ip` addresses asked twice in one batch (each is checked against the records)."""
    asked = {(cfg.network_id, cfg.ipv4) for c in made for cfg in c.networks if cfg.ipv4}
    for cfg in container.networks:
        if cfg.ipv4 is not None and (cfg.network_id, cfg.ipv4) in asked:
            raise Conflict(f"Address already in use: {cfg.ipv4}")


def _new(core: Core, request: CreateRequest, batch_names: Mapping[str, str]) -> Container:
    """A new container's record (nothing written); `batch_names` are the names (→ ids) the
    others of the same batch took."""
    signal_number(request.config.stop_signal)  # Docker refuses an unknown one at create
    joining = joined_container(request.config.network_mode)
    if joining is not None and not request.config.network_disabled:
        # on the request as sent: the image's exposed ports are no conflict
        _check_joining(request, joining)
    if request.config.healthcheck is not None:
        health.validate(request.config.healthcheck)
    restart.validate(request.config.restart_policy, request.config.auto_remove)
    config = _with_image(core, request.config)
    file_fields.check_request(
        config.hostname,
        config.domainname,
        [parse_extra_host(spec)[0] for spec in config.extra_hosts],
        config.dns_search,
        config.dns_options,
    )
    if request.name:
        name = _free_name(core, request.name, batch_names)
    else:
        name = random_name(_Taken(core.state.container_names, batch_names.keys()))
    networks: list[EndpointConfig] = []
    if config.network_disabled:
        config = _without_network(request, config)
    elif joining is not None:
        target = core.state.find_container(joining)
        if target is not None:
            # by id, as Docker keeps it: renaming the other container does not break this
            # one; one not there yet is looked for again at start
            config = dataclasses.replace(config, network_mode=CONTAINER_MODE_PREFIX + target.id)
    else:
        config, networks = _attachments(core, request, config, name)
    if not config.network_disabled:
        primary = core.state.networks.get(networks[0].network_id) if networks else None
        legacy = links.resolve(core, request.links, primary, config.network_mode, name)
        config = dataclasses.replace(config, links=legacy)
    config = _limits(core, request, config, _network_kind(core, config, joining))
    return Container(
        id=new_id(),
        name=name,
        created=now_rfc3339(),
        config=config,
        networks=tuple(networks),
        run_pending=request.run_pending,
    )


class _Taken:
    """Names in use: the records' and those of a batch being made."""

    def __init__(self, *names: Collection[str]) -> None:
        self._names = names

    def __contains__(self, name: object) -> bool:
        return any(name in names for names in self._names)


def _network_kind(core: Core, config: ContainerConfig, joining: str | None) -> str:
    if config.network_disabled:
        return security.OWN_NETWORK
    if joining is not None:
        return security.JOINED_NETWORK
    if starts.in_host_namespace([_primary_network(core, config.network_mode)]):
        return security.HOST_NETWORK
    return security.OWN_NETWORK


def _limits(
    core: Core, request: CreateRequest, config: ContainerConfig, network: str
) -> ContainerConfig:
    """Docker's checks of the security settings and limits, and its defaults; a limit the
    host's cgroups cannot enforce is refused by name, a device that is not there too."""
    security.validate(config.security, network, core.runtime.capabilities())
    limits, warnings = resources.check(config.resources, core.runtime.cgroups())
    core.runtime.check_devices(config.security.devices)
    request.warnings.extend(warnings)
    return dataclasses.replace(config, resources=limits)


def _without_network(request: CreateRequest, config: ContainerConfig) -> ContainerConfig:
    """Config.NetworkDisabled as Docker 20.10 has it (daemon/container_operations.go:
    updateContainerNetworkSettings and allocateNetwork return at once): on no network, its
    network mode and endpoint settings never looked at, no port published. What Docker does
    with a `container:` mode (a namespace of its own all the same, the other's files) and
    with legacy links (their variables without their network) hatoba refuses by name."""
    if joined_container(config.network_mode) is not None:
        raise InvalidArgument(
            "hatoba does not support Config.NetworkDisabled with network mode container"
        )
    if request.links:
        raise InvalidArgument(
            "hatoba does not support HostConfig.Links with Config.NetworkDisabled"
        )
    return dataclasses.replace(config, ports=(), publish_all=False)


def _check_joining(request: CreateRequest, ref: str) -> None:
    """What `--net container:` rules out, in Docker's order and with its texts
    (runconfig/hostconfig.go validateNetContainerMode). Docker ignores the DNS search, DNS
    options, domain name and endpoint settings such a container cannot use either; hatoba
    refuses them too rather than drop them silently."""
    if not ref:
        raise InvalidArgument("Invalid network mode: invalid container format container:<name|id>")
    cfg = request.config
    for what, given in (
        ("hostname", cfg.hostname or cfg.domainname),
        ("dns", cfg.dns or cfg.dns_search or cfg.dns_options),
        ("custom host-to-IP mapping", cfg.extra_hosts),
        ("mac-address", cfg.mac_address),
    ):
        if given:
            raise InvalidArgument(CONFLICT_WITH_MODE.format(what))
    if cfg.ports or cfg.publish_all:
        raise InvalidArgument(
            "conflicting options: port publishing and the container type network mode"
        )
    if cfg.exposed_ports:
        raise InvalidArgument(
            "conflicting options: port exposing and the container type network mode"
        )
    for endpoint in request.endpoints:
        if endpoint.network != cfg.network_mode:
            raise InvalidArgument(SHARED_NETWORK)
        if endpoint.aliases:
            raise InvalidArgument(
                "network-scoped aliases are only supported for user-defined networks"
            )
        if endpoint.ipv4 is not None or endpoint.ipv6 is not None or endpoint.link_local_ips:
            raise InvalidArgument(
                "user specified IP address is supported on user defined networks only"
            )


def _attachments(
    core: Core, request: CreateRequest, config: ContainerConfig, name: str
) -> tuple[ContainerConfig, list[EndpointConfig]]:
    """The networks a container with a namespace of its own (or the host's) joins."""
    primary = _primary_network(core, config.network_mode)
    by_network = {e.network: e for e in request.endpoints}
    # clients key the primary network's settings by its name, its id or the mode they asked
    # for ("default": the docker 28 CLI)
    keys = (config.network_mode, primary.name, primary.id)
    found = [req for key in keys if (req := by_network.pop(key, None)) is not None]
    wanted = [(primary, found[0] if found else None)]
    wanted += [(_requested_network(core, ref), req) for ref, req in by_network.items()]
    networks: list[EndpointConfig] = []
    for network, req in wanted:
        if len(wanted) > 1 and drivers.of(network).exclusive:
            raise InvalidArgument(
                "Container cannot be connected to network endpoints: host and none are exclusive"
            )
        cfg = endpoint_config(
            network,
            req.aliases if req else (),
            req.ipv4 if req else None,
            joined_later=False,
            links=req.links if req else (),
            mac=req.mac if req else "",
            ipv6=req.ipv6 if req else None,
            name=name,
            driver_opts=req.driver_opts if req else {},
            link_local_ips=req.link_local_ips if req else (),
        )
        endpoints.check_static(core, network, cfg.requested_addresses)
        networks.append(cfg)
    driver = drivers.of(primary)
    if driver.shares_host_namespace and config.mac_address:
        raise InvalidArgument(CONFLICT_WITH_MODE.format("mac-address"))
    if config.mac_address and networks[0].mac not in ("", config.mac_address):
        # Docker's text (API 1.44, daemon/create.go)
        raise InvalidArgument(
            "the container-wide MAC address must match the endpoint-specific MAC address for "
            "the main network, or be left empty"
        )
    joined = [network for network, _ in wanted]
    firewall.wanted_ports(config, joined)
    if firewall.publishes_on(joined) is None:
        if driver.shares_host_namespace and config.ports:
            request.warnings.append("Published ports are discarded when using host network mode")
        config = dataclasses.replace(config, ports=())
    request.warnings.extend(firewall.host_warnings(core, joined))
    return config, networks


def start(core: Core, ref: str, expect_attach: int = 0) -> Container:
    """A start by the user: the restart policy begins afresh (Docker resets its count and
    forgets an earlier stop)."""
    container = core.state.container(ref)
    check_startable(container)
    try:
        return _one(starts.start_many(core, [(container, expect_attach)], by_user=True)[0])
    except NotRunnable as exc:
        _not_runnable(core, container, exc)
        raise


def _not_runnable(core: Core, container: Container, exc: NotRunnable) -> None:
    """Nothing of the start is left; the container keeps why, as Docker's does (its
    State.ExitCode 127 or 126 and State.Error)."""
    core.commit(containers=[container.with_state(exit_code=exc.exit_code, error=exc.message)])


def check_startable(container: Container) -> None:
    if container.state.paused:
        raise Conflict("cannot start a paused container, try unpause instead")
    if container.state.running or container.state.restarting:
        raise NotModified("container already started")


def start_many(core: Core, wanted: Sequence[tuple[str, int]]) -> list[starts.Outcome]:
    """Start by the user, in one operation (engine/starts.py): each container by id, with the
    number of attach clients its shim waits for; what became of each, in order."""
    outcomes: dict[str, starts.Outcome] = {}
    todo = []
    asked: set[str] = set()
    again: dict[int, starts.Outcome] = {}
    for position, (ref, attach) in enumerate(wanted):
        if ref in asked:
            # named twice (by name and by id): the first starts it, the next finds it started
            again[position] = NotModified("container already started")
            continue
        asked.add(ref)
        container = core.state.containers.get(ref)
        if container is None:
            outcomes[ref] = NotFound(f"No such container: {ref}")
            continue
        try:
            check_startable(container)
        except HatobaError as exc:
            outcomes[ref] = exc
            continue
        todo.append((container, attach))
    done = starts.start_many(core, todo, by_user=True)
    for (container, _), outcome in zip(todo, done, strict=True):
        if isinstance(outcome, NotRunnable):
            _not_runnable(core, container, outcome)
        outcomes[container.id] = outcome
    return [again[i] if i in again else outcomes[ref] for i, (ref, _) in enumerate(wanted)]


def restart_by_policy(core: Core, container_id: str) -> Container | None:
    """The restart policy's wait is over: start the container again, unless a stop or a
    remove came first (None). A start that fails ends the restarts, as in Docker: the
    container is left exited, with the error in State.Error."""
    container = core.state.containers.get(container_id)
    if container is None or not container.state.restarting:
        return None
    try:
        return _one(starts.start_many(core, [(container, 0)], by_user=False)[0])
    except HatobaError as exc:
        log.warning("restarting container %s failed: %s", container.name, exc.message)
        core.commit(containers=[container.with_state(status=EXITED, error=exc.message)])
        return None


def kill(core: Core, ref: str, signum: int) -> Container:
    """A signal from the user (kill, stop): restart policies remember it (unless-stopped)."""
    container = core.state.container(ref)
    if not container.state.running:
        raise Conflict(f"Container {container.id} is not running")
    # only restart policies read it: no store write for the others (`rm -f`, compose down)
    if not container.config.restart_policy.is_none and not container.state.manually_stopped:
        container = container.with_state(manually_stopped=True)
        core.commit(containers=[container])
    core.runtime.signal(container.state.pid, signum)
    if container.state.paused and signum in (signal_number("SIGKILL"), _stop_signal(container)):
        # Docker's: the signal that ends it is delivered once the container runs again
        core.runtime.resume(container.id)
        container = container.with_state(paused=False)
        core.commit(containers=[container])
    return container


def _stop_signal(container: Container) -> int:
    return signal_number(container.config.stop_signal)


def pause(core: Core, ref: str) -> Container:
    """Freeze every process of the container (cgroup freezer), with Docker's checks."""
    container = core.state.container(ref)
    _check_running(container)
    if container.state.paused:
        raise Conflict(f"Container {container.id} is already paused")
    support = core.runtime.cgroups()
    if not support.has(FREEZER):
        raise InvalidArgument(
            f'Cannot pause container {container.id}: pausing needs the cgroup "{FREEZER}", '
            f"which this host does not give hatoba ({support.where()})"
        )
    with UndoStack() as undo:
        try:
            core.runtime.pause(container.id)
        except KernelError as exc:
            raise KernelError(f"Cannot pause container {container.id}: {exc.message}") from None
        undo.push("freezer", lambda: core.runtime.resume(container.id))
        paused = container.with_state(paused=True)
        core.commit(containers=[paused])
        undo.commit()
    return paused


def unpause(core: Core, ref: str) -> Container:
    container = core.state.container(ref)
    if not container.state.paused:
        raise Conflict(f"Container {container.id} is not paused")
    try:
        core.runtime.resume(container.id)
    except KernelError as exc:
        raise KernelError(f"Cannot unpause container {container.id}: {exc.message}") from None
    resumed = container.with_state(paused=False)
    core.commit(containers=[resumed])
    return resumed


def _check_running(container: Container) -> None:
    if container.state.restarting:
        raise Conflict(
            f"Container {container.id} is restarting, wait until the container is running"
        )
    if not container.state.running:
        raise Conflict(f"Container {container.id} is not running")


def update(core: Core, ref: str, request: UpdateRequest) -> Container:
    """Docker's update: new limits (written to a running container's cgroup at once) and a
    new restart policy. Nothing changes if any of it is refused."""
    container = core.state.container(ref)
    cfg = container.config
    support = core.runtime.cgroups()
    asked = request.resources
    if request.pids_limit is not None and request.pids_limit > 0:
        asked = dataclasses.replace(asked, pids_limit=request.pids_limit)
    _, warnings = resources.check(asked, support, update=True)
    # a policy without a name changes nothing (Docker's)
    policy = (
        request.restart_policy if request.restart_policy and request.restart_policy.name else None
    )
    if policy is not None:
        restart.validate(policy, auto_remove=False)
    try:
        limits = resources.updated(cfg.resources, asked, request.pids_limit, swap=support.swap)
        if policy is not None and cfg.auto_remove and not policy.is_none:
            raise Conflict(
                "Restart policy cannot be updated because AutoRemove is enabled for the container"
            )
    except Conflict as exc:
        raise Conflict(f"Cannot update container {container.id}: {exc.message}") from None
    updated = dataclasses.replace(
        container,
        config=dataclasses.replace(
            cfg, resources=limits, restart_policy=policy or cfg.restart_policy
        ),
    )
    with UndoStack() as undo:
        if container.state.running and limits != cfg.resources:
            try:
                core.runtime.update(container.id, limits)
            except KernelError as exc:
                raise KernelError(
                    f"Cannot update container {container.id}: {exc.message}"
                ) from None
            undo.push("limits", lambda: core.runtime.update(container.id, cfg.resources))
        core.commit(containers=[updated])
        undo.commit()
    request.warnings.extend(warnings)
    return updated


def exited(core: Core, container_id: str, may_restart: bool = True) -> Container | None:
    """The shim is gone: record the exit and take the container's network down. The restart
    policy decides (unless the user's stop ruled it out: `may_restart`) whether the container
    waits to be started again (RESTARTING) or stays exited."""
    return exited_many(core, [(container_id, may_restart)])[0]


def exited_many(core: Core, exits: Sequence[tuple[str, bool]]) -> list[Container | None]:
    """`exited` of several containers, one firewall transaction and one commit for all (the
    supervisor hands over the exits that came together); None for those not running."""
    gone = {
        cid: (container, may_restart)
        for cid, may_restart in exits
        if (container := core.state.containers.get(cid)) is not None and container.state.running
    }
    if not gone:
        return [None for _ in exits]
    # those left in a namespace keep running in it, with only `lo` (as in Docker)
    sharing = [
        c for c in core.state.containers.values() if c.state.running and c.netns_owner in gone
    ]
    owners = {c.netns_owner for c in sharing}
    teardown_many(core, [(c, c.id in owners) for c, _ in gone.values()])
    done = {cid: _exited(core, c, may_restart) for cid, (c, may_restart) in gone.items()}
    kept = [dataclasses.replace(c, netns_owner="") for c in sharing if c.id not in gone]
    core.commit(containers=[*done.values(), *kept])
    for cid in done:
        core.runtime.cleanup(cid)
    return [done.get(cid) for cid, _ in exits]


def _exited(core: Core, container: Container, may_restart: bool) -> Container:
    status = core.runtime.exit_status(container.id)
    code = status.code if status else 255
    again = may_restart and restart.after_exit(
        container.config.restart_policy,
        code,
        container.state.manually_stopped,
        container.state.restart_count,
    )
    return dataclasses.replace(
        container,
        endpoints=(),
        netns="",
        published=(),
        state=dataclasses.replace(
            container.state,
            status=RESTARTING if again else EXITED,
            pid=0,
            shim_pid=0,
            shim_start=0,
            exit_code=code,
            finished_at=status.finished_at if status else now_rfc3339(),
            restart_count=container.state.restart_count + (1 if again else 0),
            paused=False,
        ),
    )


def teardown(core: Core, container: Container, *, shared: bool = False) -> None:
    teardown_many(core, [(container, shared)])


def teardown_many(core: Core, stopping: Sequence[tuple[Container, bool]]) -> None:
    """Take these containers' networks down, the firewall in one transaction. With `True`,
    other containers' processes keep the namespace alive (`--net container:`), so its
    interfaces are deleted rather than left for the kernel to reap with it."""
    firewall.leave(core, [c for c, _ in stopping])
    for container, shared in stopping:
        for ep in container.endpoints:
            if shared or endpoints.in_namespace_only(ep):
                endpoints.detach(core, container, ep)
            else:
                endpoints.release(core, ep)
        if container.netns:
            core.kernel.remove_netns(container.netns)
        resolver.stop(core, container.id)


def stop_restarting(core: Core, container_id: str) -> Container:
    """The user stops a container its restart policy was about to start again: it stays
    exited. Returns the container as it is now (running, if the restart came first)."""
    container = core.state.container(container_id)
    if not container.state.restarting:
        return container
    stopped = container.with_state(status=EXITED, manually_stopped=True)
    core.commit(containers=[stopped])
    return stopped


def rename(core: Core, ref: str, new_name: str) -> Container:
    """Docker's rename, with its errors: the container keeps everything else (its hostname
    too); DNS answers to the new name (the commit republishes the names)."""
    container = core.state.container(ref)
    if not new_name:
        raise InvalidArgument("Neither old nor new names may be empty")
    if validate_container_name(new_name) == container.name:
        raise InvalidArgument("Renaming a container with the same name as its current name")
    try:
        name = _free_name(core, new_name)
    except Conflict as exc:
        raise Conflict(f"Error when allocating new name: {exc.message}") from None
    for joined in container.networks:
        network = core.state.networks.get(joined.network_id)
        if network is not None and network.user_defined:
            check_dns_name(name, network.name)
    renamed = dataclasses.replace(container, name=name)
    core.commit(containers=[renamed])
    overlay.announce(core, renamed)
    return renamed


def remove(core: Core, ref: str, with_volumes: bool = False) -> Container:
    """`with_volumes` (`rm -v`): its anonymous volumes go too, unless another container
    uses them (as Docker, without an error)."""
    return _one(remove_many(core, [core.state.container(ref).id], with_volumes)[0])


def remove_many(
    core: Core, ids: Sequence[str], with_volumes: bool = False
) -> list[Container | HatobaError]:
    """Remove these stopped containers, one commit for all; each, or why it stays."""
    outcomes: dict[str, Container | HatobaError] = {}
    for cid in ids:
        container = core.state.containers.get(cid)
        if container is None:
            outcomes[cid] = NotFound(f"No such container: {cid}")
        else:
            outcomes[cid] = _why_not_removable(container) or container
    removed = [c for c in outcomes.values() if isinstance(c, Container)]
    if removed:
        doomed = [n for c in removed for n in volumes.anonymous_of(core, c)] if with_volumes else []
        core.commit(removed_containers=[c.id for c in removed], removed_volumes=doomed)
        in_use = {c.config.image_id for c in core.state.containers.values()}
        for container in removed:
            core.runtime.remove(container.id)
        for name in doomed:
            core.storage.remove_volume(name)
        for image_id in {c.config.image_id for c in removed} - in_use - {HOSTFS_IMAGE}:
            core.images.release(image_id)
    return [outcomes[cid] for cid in ids]


def _why_not_removable(container: Container) -> Conflict | None:
    if container.state.restarting:
        return Conflict(
            f"You cannot remove a restarting container {container.id}. Stop the container "
            "before attempting removal or force remove"
        )
    if container.state.paused:
        return Conflict(
            f"You cannot remove a paused container {container.id}. Unpause and then stop the "
            "container before attempting removal or force remove"
        )
    if container.state.running:
        return Conflict(
            f"You cannot remove a running container {container.id}. Stop the container before "
            "attempting removal or force remove"
        )
    return None


def prune(core: Core, matches: Callable[[Container], bool]) -> list[Container]:
    """`container prune`: Docker counts a container waiting for its restart as running."""
    doomed = [
        c.id
        for c in core.state.containers.values()
        if not (c.state.running or c.state.restarting) and matches(c)
    ]
    return [c for c in remove_many(core, doomed) if isinstance(c, Container)]


def _one(outcome: Container | HatobaError) -> Container:
    if isinstance(outcome, HatobaError):
        raise outcome
    return outcome
