"""Container use cases: create, start, kill, exit, remove."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address

from hatoba.engine import endpoints, firewall, resolver
from hatoba.engine.core import Core
from hatoba.engine.networks import endpoint_config
from hatoba.engine.undo import UndoStack
from hatoba.errors import Conflict, InvalidArgument, NotModified
from hatoba.files.hosts import parse_extra_host, render_hosts
from hatoba.files.resolvconf import ContainerResolv
from hatoba.model.container import (
    EXITED,
    HOSTFS_IMAGE,
    RUNNING,
    Container,
    ContainerConfig,
    Endpoint,
    EndpointConfig,
    is_hostfs,
)
from hatoba.model.ids import new_id, now_rfc3339, validate_container_name
from hatoba.model.launch import LaunchRequest, ProcessSpec, environment
from hatoba.model.names import random_name
from hatoba.model.network import BRIDGE, HOST, NULL, Network


@dataclass(frozen=True)
class EndpointRequest:
    network: str
    aliases: tuple[str, ...] = ()
    ipv4: IPv4Address | None = None


@dataclass(frozen=True)
class CreateRequest:
    config: ContainerConfig
    name: str | None = None
    # extra networks beyond the one named by config.network_mode (API EndpointsConfig)
    endpoints: tuple[EndpointRequest, ...] = ()
    warnings: list[str] = field(default_factory=list)
    # the first half of a `run`: removed by reconcile unless its start succeeds
    run_pending: bool = False


def _primary_network(core: Core, mode: str) -> Network:
    ref = "bridge" if mode in ("", "default") else mode
    if ref.startswith("container:"):
        raise InvalidArgument("container network mode is not supported")
    return _requested_network(core, ref)


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
        exposed: tuple[str, ...] = ()
    else:
        image = core.images.resolve(config.image)
        image_id = image.id
        entrypoint = config.entrypoint or image.entrypoint
        # a new entrypoint drops the image's CMD, as `docker run --entrypoint` does
        cmd = config.cmd or (() if config.entrypoint else image.cmd)
        workdir = config.workdir or image.workdir
        exposed = image.exposed_ports
        argv = entrypoint + cmd
    if not argv:
        raise InvalidArgument("No command specified")
    return dataclasses.replace(
        config,
        image_id=image_id,
        cmd=cmd,
        entrypoint=entrypoint,
        workdir=workdir,
        exposed_ports=tuple(sorted({*config.exposed_ports, *exposed})),
    )


def create(core: Core, request: CreateRequest) -> Container:
    config = _with_image(core, request.config)
    for spec in config.extra_hosts:
        parse_extra_host(spec)
    if request.name:
        name = validate_container_name(request.name)
        clash = next((c for c in core.state.containers.values() if c.name == name), None)
        if clash is not None:
            raise Conflict(
                f'Conflict. The container name "/{name}" is already in use by container '
                f'"{clash.id}". You have to remove (or rename) that container to be able to '
                "reuse that name."
            )
    else:
        name = random_name({c.name for c in core.state.containers.values()})
    primary = _primary_network(core, config.network_mode)
    by_network = {e.network: e for e in request.endpoints}
    # clients key the primary network's settings by its name, its id or the mode they asked
    # for ("default": the docker 28 CLI)
    keys = (config.network_mode, primary.name, primary.id)
    found = [req for key in keys if (req := by_network.pop(key, None)) is not None]
    wanted = [(primary, found[0] if found else None)]
    wanted += [(_requested_network(core, ref), req) for ref, req in by_network.items()]
    networks: list[EndpointConfig] = []
    container_id = new_id()
    for network, req in wanted:
        if len(wanted) > 1 and network.driver in (HOST, NULL):
            raise InvalidArgument(
                "Container cannot be connected to network endpoints: host and none are exclusive"
            )
        cfg = endpoint_config(
            network, req.aliases if req else (), req.ipv4 if req else None, joined_later=False
        )
        if cfg.ipv4 is not None:
            endpoints.check_static(core, network, cfg.ipv4)
        networks.append(cfg)
    if primary.driver == HOST and config.ports:
        request.warnings.append("Published ports are discarded when using host network mode")
        config = dataclasses.replace(config, ports=())
    if primary.driver == NULL:
        config = dataclasses.replace(config, ports=())
    firewall.wanted_ports(config, [network for network, _ in wanted])
    request.warnings.extend(firewall.host_warnings(core, [network for network, _ in wanted]))
    container = Container(
        id=container_id,
        name=name,
        created=now_rfc3339(),
        config=config,
        networks=tuple(networks),
        run_pending=request.run_pending,
    )
    core.commit(containers=[container])
    return container


def _files(
    container: Container,
    networks: Sequence[Network],
    eps: Sequence[Endpoint],
    resolv: ContainerResolv,
) -> dict[str, str]:
    cfg = container.config
    host_mode = any(n.driver == HOST for n in networks)
    if host_mode:
        try:
            hosts = open("/etc/hosts", encoding="utf-8").read()  # noqa: SIM115 - read at once
        except OSError:
            hosts = ""
        return {"/etc/resolv.conf": resolv.conf.render(), "/etc/hosts": hosts}
    addresses = [e.ipv4 for e in eps if e.ipv4 is not None]
    return {
        "/etc/hostname": container.hostname + "\n",
        "/etc/hosts": render_hosts(container.hostname, addresses, cfg.extra_hosts, cfg.domainname),
        "/etc/resolv.conf": resolv.conf.render(),
    }


def start(core: Core, ref: str, expect_attach: int = 0) -> Container:
    container = core.state.container(ref)
    if container.state.running:
        raise NotModified("container already started")
    networks = [core.state.network(cfg.network_id) for cfg in container.networks]
    host_mode = any(n.driver == HOST for n in networks)
    netns = None if host_mode else core.paths.netns(container.id)
    image_id = container.config.image_id
    image = core.images.get(image_id) if image_id != HOSTFS_IMAGE else None
    wanted_ports = firewall.wanted_ports(container.config, networks)
    with UndoStack() as undo:
        eps: list[Endpoint] = []
        slot = 0
        for wanted, network in zip(container.networks, networks, strict=True):
            if netns is None:
                eps.append(endpoints.without_interface(network))
                continue
            first_bridge = network.driver == BRIDGE and not any(e.default_route for e in eps)
            ep = endpoints.plan(core, container, network, wanted, slot, first_bridge)
            slot += 1 if ep.ifname else 0
            eps.append(ep)
        if netns is not None:
            core.kernel.create_netns(netns)
            undo.push("namespace", lambda: core.kernel.remove_netns(netns))
        published = firewall.reserve(core, undo, container, wanted_ports, eps, networks)
        resolv = resolver.resolv_for(core, container, networks)
        cfg = container.config
        # the runtime makes the container (crun create) while its network is wired below;
        # the process only runs at `runtime.start`, once all of it is in place
        core.runtime.spawn(
            LaunchRequest(
                container_id=container.id,
                process=ProcessSpec(
                    args=cfg.argv,
                    env=environment(
                        image.env if image else (), cfg.env, container.hostname, cfg.tty
                    ),
                    cwd=cfg.workdir or "/",
                    terminal=cfg.tty,
                ),
                hostname=None if host_mode else container.hostname,
                netns=netns,
                layers=image.layers if image else (),
                files=_files(container, networks, eps, resolv),
                open_stdin=cfg.open_stdin,
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
        started = core.runtime.start(container.id)
        running = dataclasses.replace(
            wired,
            next_ifindex=slot,
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
            ),
        )
        core.commit(containers=[running])
        undo.commit()
    return running


def kill(core: Core, ref: str, signum: int) -> Container:
    container = core.state.container(ref)
    if not container.state.running:
        raise Conflict(f"Container {container.id} is not running")
    core.runtime.signal(container.state.pid, signum)
    return container


def exited(core: Core, container_id: str) -> Container | None:
    """The shim is gone: record the exit and take the container's network down."""
    container = core.state.containers.get(container_id)
    if container is None or not container.state.running:
        return None
    status = core.runtime.exit_status(container_id)
    teardown(core, container)
    done = dataclasses.replace(
        container,
        endpoints=(),
        netns="",
        published=(),
        state=dataclasses.replace(
            container.state,
            status=EXITED,
            pid=0,
            shim_pid=0,
            shim_start=0,
            exit_code=status.code if status else 255,
            finished_at=status.finished_at if status else now_rfc3339(),
        ),
    )
    core.commit(containers=[done])
    core.runtime.cleanup(container_id)
    return done


def teardown(core: Core, container: Container) -> None:
    firewall.leave(core, container)
    for ep in container.endpoints:
        endpoints.hold_until_gone(core, ep)
    if container.netns:
        core.kernel.remove_netns(container.netns)
    resolver.stop(core, container.id)


def remove(core: Core, ref: str) -> Container:
    container = core.state.container(ref)
    if container.state.running:
        raise Conflict(
            f"You cannot remove a running container {container.id}. Stop the container before "
            "attempting removal or force remove"
        )
    core.commit(removed_containers=[container.id])
    core.runtime.remove(container.id)
    image_id = container.config.image_id
    if image_id != HOSTFS_IMAGE and all(
        c.config.image_id != image_id for c in core.state.containers.values()
    ):
        core.images.release(image_id)
    return container
