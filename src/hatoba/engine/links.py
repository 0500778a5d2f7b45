"""Legacy links on the default bridge (`--link NAME[:ALIAS]`, HostConfig.Links): checked and
kept by id at create, turned into environment variables and /etc/hosts lines at each start
and exec, dropped one by one with `rm --link /parent/alias`. On user-defined networks a link
is an alias in the embedded DNS instead (EndpointConfig.links), as in Docker."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address

from hatoba.drivers import registry as drivers
from hatoba.engine import processes
from hatoba.engine.core import Core
from hatoba.engine.state import State
from hatoba.errors import Conflict, InvalidArgument, NotFound
from hatoba.model.container import Container, joined_container
from hatoba.model.ids import parse_link
from hatoba.model.links import (
    LegacyLink,
    hosts_names,
    link_environment,
    link_name,
    split_link_name,
    stored_form,
)
from hatoba.model.network import Network

# Docker's texts (runconfig/errors.go, daemon/container_operations.go)
_HOST_MODE = (
    "conflicting options: host type networking can't be used with links. This would result "
    "in undefined behavior"
)
_CONTAINER_MODE = (
    "conflicting options: container type network can't be used with links. This would "
    "result in undefined behavior"
)
_NO_NETWORK = "hatoba supports links on the default bridge and on user-defined networks only"
_NO_ICC = (
    "hatoba does not open linked ports on a default bridge whose inter-container "
    "communication is off (icc: false in daemon.json); use a user-defined network"
)


@dataclass(frozen=True)
class Linked:
    """What a container's links give a process and its /etc/hosts."""

    env: tuple[str, ...] = ()
    # (names, address) lines, in the order of the links
    hosts: tuple[tuple[str, IPv4Address], ...] = ()


def resolve(
    core: Core, specs: Sequence[str], primary: Network | None, network_mode: str, name: str
) -> tuple[LegacyLink, ...]:
    """The links of a container being created as `name` on `primary` (None: it joins
    another container's namespace). A user-defined network takes links as DNS aliases of its
    endpoint; Docker ignores HostConfig.Links there, and so does hatoba."""
    if not specs or (primary is not None and primary.user_defined):
        return ()
    if primary is None or joined_container(network_mode) is not None:
        raise InvalidArgument(_CONTAINER_MODE)
    driver = drivers.of(primary)
    if driver.shares_host_namespace:
        raise InvalidArgument(_HOST_MODE)
    if driver.exclusive:
        raise InvalidArgument(_NO_NETWORK)
    if not primary.icc:
        raise InvalidArgument(_NO_ICC)
    links: dict[str, LegacyLink] = {}
    for spec in specs:
        target, alias = parse_link(spec)
        child = _linkable(core, target)
        if alias in links:
            raise Conflict(
                f'Conflict. The name "{link_name(name, alias)}" is already in use by container '
                f'"{links[alias].container_id}". You have to remove (or rename) that container '
                "to be able to reuse that name."
            )
        links[alias] = LegacyLink(child.id, alias)
    return tuple(links.values())


def _linkable(core: Core, ref: str) -> Container:
    child = core.state.find_container(ref)
    if child is None:
        raise InvalidArgument(f"could not get container for {ref}: No such container: {ref}")
    # a container in another's namespace is reached at that one's address
    while (owner := joined_container(child.config.network_mode)) is not None:
        child = core.state.container(owner)
    networks = [core.state.networks.get(c.network_id) for c in child.networks]
    if any(n is not None and drivers.of(n).shares_host_namespace for n in networks):
        raise InvalidArgument(_HOST_MODE)
    return child


def at_start(core: Core, container: Container) -> Linked:
    """Docker's checks and results at a start or exec: each linked container runs and is on
    the default bridge, and is described by its address there."""
    env: list[str] = []
    hosts: list[tuple[str, IPv4Address]] = []
    for link in container.config.links:
        child = core.state.containers.get(link.container_id)
        if child is None:  # removed since: Docker's link went with it
            continue
        name = link_name(container.name, link.alias)
        if not child.state.running:
            raise InvalidArgument(
                f"Cannot link to a non running container: /{child.name} AS {name}"
            )
        address = _bridge_address(core, child)
        if address is None:
            raise InvalidArgument(
                f"Cannot link to /{child.name}, as it does not belong to the default network"
            )
        exposed = {*child.config.exposed_ports, *(m.key for m in child.config.ports)}
        image = processes.image_of(core, child)
        child_env = _merged(image.env if image else (), child.config.env)
        env += link_environment(name, address, sorted(exposed), child_env)
        hosts.append((hosts_names(link.alias, child.hostname, child.name), address))
    return Linked(tuple(env), tuple(hosts))


def _bridge_address(core: Core, child: Container) -> IPv4Address | None:
    for ep in child.endpoints:
        network = core.state.networks.get(ep.network_id)
        if network is not None and network.predefined and ep.ipv4 is not None:
            return ep.ipv4
    return None


def _merged(image_env: Sequence[str], env: Sequence[str]) -> tuple[str, ...]:
    """Docker's Config.Env: the image's, with the container's own over it."""
    merged = {entry.partition("=")[0]: entry for entry in (*image_env, *env)}
    return tuple(merged.values())


def shown(state: State, container: Container) -> list[str]:
    """HostConfig.Links: `/child:/parent/alias` of each link whose container still exists."""
    return [
        stored_form(child.name, container.name, link.alias)
        for link in container.config.links
        if (child := state.containers.get(link.container_id)) is not None
    ]


def names_of(state: State, child: Container) -> list[str]:
    """The link names other containers know `child` by (`/parent/alias`, as `docker ps`)."""
    return [
        link_name(parent.name, link.alias)
        for parent in state.containers.values()
        for link in parent.config.links
        if link.container_id == child.id
    ]


def remove(core: Core, name: str) -> Container:
    """`rm --link /parent/alias`: the parent forgets the link; a running parent keeps its
    variables and /etc/hosts line until its next start."""
    parent_name, alias = split_link_name(name)
    if not parent_name:
        raise Conflict("Conflict, cannot remove the default link name of the container")
    parent = core.state.find_container(parent_name)
    if parent is None:
        raise NotFound(f"Cannot get parent /{parent_name} for link name {name}")
    kept = tuple(link for link in parent.config.links if link.alias != alias)
    if len(kept) == len(parent.config.links):
        raise NotFound(f"No such container: {name}")
    updated = dataclasses.replace(parent, config=dataclasses.replace(parent.config, links=kept))
    core.commit(containers=[updated])
    return updated
