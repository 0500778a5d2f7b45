"""Container use cases: create, start, kill, exit (and the restart policy's verdict on it),
restart by policy, pause and unpause, update, remove."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address

from hatoba.drivers import registry as drivers
from hatoba.engine import endpoints, firewall, links, overlay, processes, resolver, volumes
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
from hatoba.files.hosts import parse_extra_host, render_hosts
from hatoba.files.resolvconf import ContainerResolv
from hatoba.model import file_fields, health, resources, restart, security
from hatoba.model.container import (
    CONTAINER_MODE_PREFIX,
    EXITED,
    HOSTFS_IMAGE,
    RESTARTING,
    RUNNING,
    SHARED_NETWORK,
    Container,
    ContainerConfig,
    Endpoint,
    EndpointConfig,
    is_hostfs,
    joined_container,
)
from hatoba.model.ids import check_dns_name, new_id, now_rfc3339, validate_container_name
from hatoba.model.launch import LaunchRequest, ProcessSpec, Started
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


def _free_name(core: Core, requested: str) -> str:
    name = validate_container_name(requested)
    clash = core.state.container_named(name)
    if clash is not None:
        raise Conflict(
            f'Conflict. The container name "/{name}" is already in use by container '
            f'"{clash.id}". You have to remove (or rename) that container to be able to '
            "reuse that name."
        )
    return name


def create(core: Core, request: CreateRequest) -> Container:
    signal_number(request.config.stop_signal)  # Docker refuses an unknown one at create
    joining = joined_container(request.config.network_mode)
    if joining is not None:
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
        name = _free_name(core, request.name)
    else:
        name = random_name(core.state.container_names)
    networks: list[EndpointConfig] = []
    if joining is not None:
        target = core.state.find_container(joining)
        if target is not None:
            # by id, as Docker keeps it: renaming the other container does not break this
            # one; one not there yet is looked for again at start
            config = dataclasses.replace(config, network_mode=CONTAINER_MODE_PREFIX + target.id)
    else:
        config, networks = _attachments(core, request, config, name)
    primary = core.state.networks.get(networks[0].network_id) if networks else None
    legacy = links.resolve(core, request.links, primary, config.network_mode, name)
    config = dataclasses.replace(config, links=legacy)
    config = _limits(core, request, config, _network_kind(core, config, joining))
    mounts = volumes.plan(core, config)
    with UndoStack() as undo:
        mounts, made = volumes.provide(core, undo, config, mounts)
        container = Container(
            id=new_id(),
            name=name,
            created=now_rfc3339(),
            config=config,
            networks=tuple(networks),
            run_pending=request.run_pending,
            mounts=tuple(mounts),
        )
        core.commit(containers=[container], volumes=made)
        undo.commit()
    return container


def _network_kind(core: Core, config: ContainerConfig, joining: str | None) -> str:
    if joining is not None:
        return security.JOINED_NETWORK
    if _in_host_namespace([_primary_network(core, config.network_mode)]):
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
        if endpoint.ipv4 is not None or endpoint.ipv6 is not None:
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


def _in_host_namespace(networks: Sequence[Network]) -> bool:
    return any(drivers.of(n).shares_host_namespace for n in networks)


def _files(
    container: Container,
    networks: Sequence[Network],
    eps: Sequence[Endpoint],
    resolv: ContainerResolv,
    linked: links.Linked,
) -> dict[str, str]:
    cfg = container.config
    if _in_host_namespace(networks):
        try:
            hosts = open("/etc/hosts", encoding="utf-8").read()  # noqa: SIM115 - read at once
        except OSError:
            hosts = ""
        return {"/etc/resolv.conf": resolv.conf.render(), "/etc/hosts": hosts}
    addresses = [a for e in eps for a in e.addresses]
    return {
        "/etc/hostname": container.hostname + "\n",
        "/etc/hosts": render_hosts(
            container.hostname, addresses, cfg.extra_hosts, cfg.domainname, linked.hosts
        ),
        "/etc/resolv.conf": resolv.conf.render(),
    }


def start(core: Core, ref: str, expect_attach: int = 0) -> Container:
    """A start by the user: the restart policy begins afresh (Docker resets its count and
    forgets an earlier stop)."""
    container = core.state.container(ref)
    check_startable(container)
    try:
        return _start(core, container, expect_attach, by_user=True)
    except NotRunnable as exc:
        # nothing of the start is left; the container keeps why, as Docker's does (its
        # State.ExitCode 127 or 126 and State.Error)
        core.commit(containers=[container.with_state(exit_code=exc.exit_code, error=exc.message)])
        raise


def check_startable(container: Container) -> None:
    if container.state.paused:
        raise Conflict("cannot start a paused container, try unpause instead")
    if container.state.running or container.state.restarting:
        raise NotModified("container already started")


def restart_by_policy(core: Core, container_id: str) -> Container | None:
    """The restart policy's wait is over: start the container again, unless a stop or a
    remove came first (None). A start that fails ends the restarts, as in Docker: the
    container is left exited, with the error in State.Error."""
    container = core.state.containers.get(container_id)
    if container is None or not container.state.restarting:
        return None
    try:
        return _start(core, container, 0, by_user=False)
    except HatobaError as exc:
        log.warning("restarting container %s failed: %s", container.name, exc.message)
        core.commit(containers=[container.with_state(status=EXITED, error=exc.message)])
        return None


def _start(core: Core, container: Container, expect_attach: int, *, by_user: bool) -> Container:
    joining = joined_container(container.config.network_mode)
    if joining is not None:
        return _start_joined(core, container, joining, expect_attach, by_user=by_user)
    networks = [core.state.network(cfg.network_id) for cfg in container.networks]
    host_mode = _in_host_namespace(networks)
    netns = None if host_mode else core.paths.netns(container.id)
    image = processes.image_of(core, container)
    # a user the container does not know, or a linked container that is not running, is
    # refused before anything is made
    linked = links.at_start(core, container)
    process = processes.main_process(core, container, image, linked.env)
    wanted_ports = firewall.wanted_ports(container.config, networks)
    with UndoStack() as undo:
        eps: list[Endpoint] = []
        slot = 0
        for wanted, network in zip(container.networks, networks, strict=True):
            # the default route goes through the first network that gives an interface
            has_route = any(e.default_route for e in eps)
            ep = endpoints.plan(core, undo, container, network, wanted, slot, not has_route)
            slot += 1 if ep.ifname else 0
            eps.append(ep)
        if netns is not None:
            core.kernel.create_netns(netns)
            undo.push("namespace", lambda: core.kernel.remove_netns(netns))
        published = firewall.reserve(core, undo, container, wanted_ports, eps, networks)
        resolv = resolver.resolv_for(core, container, networks)
        # the runtime makes the container (crun create) while its network is wired below;
        # the process only runs at `runtime.start`, once all of it is in place
        core.runtime.spawn(
            _launch(
                core,
                container,
                process,
                image.layers if image else (),
                hostname=None if host_mode else container.hostname,
                netns=netns,
                files=_files(container, networks, eps, resolv, linked),
                expect_attach=expect_attach,
            )
        )
        undo.push("process", lambda: core.runtime.abort(container.id))
        if netns is not None:
            for ep, network in zip(eps, networks, strict=True):
                endpoints.wire(core, undo, container, network, ep, netns)
        # the first query or connection may come as soon as the process runs: serve it before
        wired = dataclasses.replace(
            container, endpoints=tuple(eps), netns=netns or "", published=published
        )
        firewall.follow(core, undo, [wired])
        resolver.serve(core, undo, wired, networks, resolv)
        running = _running(
            dataclasses.replace(wired, next_ifindex=slot),
            core.runtime.start(container.id),
            by_user=by_user,
        )
        core.commit(containers=[running])
        undo.commit()
    return running


def _start_joined(
    core: Core, container: Container, ref: str, expect_attach: int, *, by_user: bool
) -> Container:
    """`--net container:`: the process starts in the namespace the other container's process
    runs in, with that container's hostname and its hosts, hostname and resolv.conf files;
    it makes no link, address, rule or DNS entry of its own (Docker's
    daemon/container_operations.go initializeNetworking)."""
    target = core.state.find_container(ref)
    if target is None:
        raise NotFound(f"No such container: {ref}")
    if target.id == container.id:
        raise InvalidArgument("cannot join own network")
    if not target.state.running:
        raise Conflict(f"cannot join network of a non running container: {ref}")
    joined = dataclasses.replace(
        container,
        config=dataclasses.replace(
            container.config, hostname=target.hostname, domainname=target.config.domainname
        ),
        netns_owner=target.id if target.netns else target.netns_owner,
    )
    # the files live with the container that made the namespace (or the host's, `--net host`)
    files_of = target.netns_owner if joined_container(target.config.network_mode) else target.id
    image = processes.image_of(core, joined)
    process = processes.main_process(core, joined, image)
    with UndoStack() as undo:
        core.runtime.spawn(
            _launch(
                core,
                joined,
                process,
                image.layers if image else (),
                hostname=joined.hostname,
                netns=core.paths.process_netns(target.state.pid),
                files={},
                files_of=files_of,
                expect_attach=expect_attach,
            )
        )
        undo.push("process", lambda: core.runtime.abort(container.id))
        running = _running(joined, core.runtime.start(container.id), by_user=by_user)
        core.commit(containers=[running])
        undo.commit()
    return running


def _launch(
    core: Core,
    container: Container,
    process: ProcessSpec,
    layers: tuple[str, ...],
    *,
    hostname: str | None,
    netns: str | None,
    files: dict[str, str],
    expect_attach: int,
    files_of: str = "",
) -> LaunchRequest:
    return LaunchRequest(
        container_id=container.id,
        process=process,
        hostname=hostname,
        netns=netns,
        layers=layers,
        files=files,
        open_stdin=container.config.open_stdin,
        expect_attach=expect_attach,
        init=bool(container.config.init),
        files_of=files_of,
        domainname=container.config.domainname,
        mounts=volumes.launch_mounts(core, container, populate=bool(layers)),
        security=container.config.security,
        resources=container.config.resources,
    )


def _running(container: Container, started: Started, *, by_user: bool) -> Container:
    """Running now; a start by the user begins the restart policy afresh, and a check starts
    over (`starting`); new volumes have had their first use."""
    cfg = container.config
    return dataclasses.replace(
        volumes.first_use_done(container),
        run_pending=False,
        state=dataclasses.replace(
            container.state,
            status=RUNNING,
            pid=started.pid,
            shim_pid=started.shim_pid,
            shim_start=started.shim_start_time,
            exit_code=0,
            error="",
            started_at=now_rfc3339(),
            restart_count=0 if by_user else container.state.restart_count,
            manually_stopped=False if by_user else container.state.manually_stopped,
            health=(
                health.restarted(container.state.health)
                if cfg.healthcheck is not None and cfg.healthcheck.probe
                else container.state.health
            ),
        ),
    )


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
    container = core.state.containers.get(container_id)
    if container is None or not container.state.running:
        return None
    status = core.runtime.exit_status(container_id)
    sharing = [
        c
        for c in core.state.containers.values()
        if c.state.running and c.netns_owner == container_id
    ]
    teardown(core, container, shared=bool(sharing))
    code = status.code if status else 255
    again = may_restart and restart.after_exit(
        container.config.restart_policy,
        code,
        container.state.manually_stopped,
        container.state.restart_count,
    )
    done = dataclasses.replace(
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
    # those left in the namespace keep running in it, with only `lo` (as in Docker)
    core.commit(containers=[done, *(dataclasses.replace(c, netns_owner="") for c in sharing)])
    core.runtime.cleanup(container_id)
    return done


def teardown(core: Core, container: Container, *, shared: bool = False) -> None:
    """`shared`: other containers' processes keep the namespace alive (`--net container:`),
    so its interfaces are deleted rather than left for the kernel to reap with it."""
    firewall.leave(core, container)
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
    container = core.state.container(ref)
    if container.state.restarting:
        raise Conflict(
            f"You cannot remove a restarting container {container.id}. Stop the container "
            "before attempting removal or force remove"
        )
    if container.state.paused:
        raise Conflict(
            f"You cannot remove a paused container {container.id}. Unpause and then stop the "
            "container before attempting removal or force remove"
        )
    if container.state.running:
        raise Conflict(
            f"You cannot remove a running container {container.id}. Stop the container before "
            "attempting removal or force remove"
        )
    doomed = volumes.anonymous_of(core, container) if with_volumes else []
    core.commit(removed_containers=[container.id], removed_volumes=doomed)
    core.runtime.remove(container.id)
    for name in doomed:
        core.storage.remove_volume(name)
    image_id = container.config.image_id
    if image_id != HOSTFS_IMAGE and all(
        c.config.image_id != image_id for c in core.state.containers.values()
    ):
        core.images.release(image_id)
    return container


def prune(core: Core, matches: Callable[[Container], bool]) -> list[Container]:
    """`container prune`: Docker counts a container waiting for its restart as running."""
    doomed = [
        c
        for c in core.state.containers.values()
        if not (c.state.running or c.state.restarting) and matches(c)
    ]
    return [remove(core, c.id) for c in doomed]
