"""What a container's processes are: its command, environment, working directory, user,
capabilities and limits.

The user (`-u`, else the image's USER, else root) is resolved at every start and every exec,
in the container's own /etc/passwd and /etc/group (its layer over the image's), as Docker
does, so a user added inside a container counts from its next start. An exec runs with its
container's capabilities, no-new-privileges and ulimits, as Docker's do (all capabilities
with `--privileged`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hatoba.engine.core import Core
from hatoba.errors import Conflict
from hatoba.files.users import ResolvedUser, resolve_user
from hatoba.model.container import HOSTFS_IMAGE, Container
from hatoba.model.image import ImageInfo
from hatoba.model.launch import ProcessSpec, environment
from hatoba.model.resources import DEVICES
from hatoba.model.security import capabilities


@dataclass(frozen=True)
class ExecRequest:
    """`exec`'s own settings; empty ones take the container's."""

    argv: tuple[str, ...]
    env: tuple[str, ...] = ()
    user: str = ""
    workdir: str = ""
    tty: bool = False
    privileged: bool = False


def image_of(core: Core, container: Container) -> ImageInfo | None:
    """The image a container was made from; None for `hostfs`."""
    image_id = container.config.image_id
    return core.images.get(image_id) if image_id != HOSTFS_IMAGE else None


def main_process(
    core: Core, container: Container, image: ImageInfo | None, linked: Sequence[str] = ()
) -> ProcessSpec:
    """`linked`: the variables of the container's legacy links."""
    cfg = container.config
    who = _resolve(core, container, image, cfg.user)
    env = environment(
        image.env if image else (), cfg.env, container.hostname, cfg.tty, who.home, linked
    )
    return ProcessSpec(
        args=cfg.argv,
        env=env,
        cwd=cfg.workdir or "/",
        terminal=cfg.tty,
        user=who.user,
        **_confined(core, container),
    )


def _confined(core: Core, container: Container, privileged: bool = False) -> dict[str, Any]:
    """The ProcessSpec fields the container's security and resources decide."""
    cfg = container.config
    asked = dataclasses.replace(cfg.security, privileged=True) if privileged else cfg.security
    caps = capabilities(
        asked, core.runtime.capabilities(), device_cgroup=core.runtime.cgroups().has(DEVICES)
    )
    return {
        "capabilities": caps,
        "no_new_privileges": cfg.security.no_new_privileges,
        "rlimits": cfg.resources.ulimits,
        "oom_score_adj": cfg.security.oom_score_adj,
    }


def exec_process(
    core: Core, container: Container, request: ExecRequest, linked: Sequence[str] = ()
) -> ProcessSpec:
    """Docker's exec: the container's environment (`linked`: its legacy links' variables,
    as at a start) with the exec's on top, the exec's user, working directory and terminal,
    or the container's."""
    if container.state.paused:
        raise Conflict(f"Container {container.id} is paused, unpause the container before exec")
    image = image_of(core, container)
    cfg = container.config
    who = _resolve(core, container, image, request.user or cfg.user)
    env = environment(
        image.env if image else (),
        (*cfg.env, *request.env),
        container.hostname,
        request.tty,
        who.home,
        linked,
    )
    return ProcessSpec(
        args=request.argv,
        env=env,
        cwd=request.workdir or cfg.workdir or "/",
        terminal=request.tty,
        user=who.user,
        **_confined(core, container, request.privileged),
    )


def _resolve(core: Core, container: Container, image: ImageInfo | None, spec: str) -> ResolvedUser:
    layers: Sequence[str] = image.layers if image else ()
    passwd = core.runtime.read_file(container.id, layers, "/etc/passwd")
    group = core.runtime.read_file(container.id, layers, "/etc/group")
    return resolve_user(spec, passwd, group, container.config.group_add)
