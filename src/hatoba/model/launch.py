"""What the engine asks of the runtime, and what it gets back."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from hatoba.model.resources import Resources, Ulimit
from hatoba.model.security import DEFAULT_CAPS, Security

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Docker's, for every process in a container (the service's own umask keeps its files private)
CONTAINER_UMASK = 0o022


def environment(
    image_env: Sequence[str],
    user_env: Sequence[str],
    hostname: str,
    tty: bool,
    home: str,
    linked: Sequence[str] = (),
) -> tuple[str, ...]:
    """Docker's precedence: default PATH < legacy links' variables < image < `-e`; the
    engine adds HOSTNAME and TERM, and HOME (the user's home directory) unless one of them
    set it, as runc does."""
    merged: dict[str, str] = {}
    for entry in (DEFAULT_PATH, f"HOSTNAME={hostname}", *linked, *image_env, *user_env):
        key, _, _ = entry.partition("=")
        merged[key] = entry
    if tty and "TERM" not in merged:
        merged["TERM"] = "TERM=xterm"
    if "HOME" not in merged:
        merged["HOME"] = f"HOME={home}"
    return tuple(merged.values())


@dataclass(frozen=True)
class ProcessUser:
    """Numeric ids as the kernel takes them (names are resolved before, in the container's
    own /etc/passwd and /etc/group)."""

    uid: int = 0
    gid: int = 0
    additional_gids: tuple[int, ...] = ()


@dataclass(frozen=True)
class ProcessSpec:
    args: tuple[str, ...]
    env: tuple[str, ...]
    cwd: str = "/"
    terminal: bool = False
    user: ProcessUser = ProcessUser()
    # the bounding, effective and permitted sets (an exec's are its container's, or all of
    # them for a privileged exec)
    capabilities: tuple[str, ...] = DEFAULT_CAPS
    no_new_privileges: bool = False
    rlimits: tuple[Ulimit, ...] = ()
    oom_score_adj: int = 0


@dataclass(frozen=True)
class LaunchMount:
    """A mount of a container's file system as the runtime makes it: a bind of a host path
    (checked again at every start), a bind of a volume's folder, or a tmpfs."""

    kind: str
    destination: str
    # a host path; "" for a tmpfs
    source: str = ""
    readonly: bool = False
    recursive: bool = True
    # a bind's propagation (rprivate, rslave, …)
    propagation: str = ""
    # a tmpfs's mount options
    tmpfs_options: tuple[str, ...] = ()
    # a `-v` source folder is made when missing
    create_source: bool = False
    # a volume's folder is filled from the image's content when it is empty
    populate: bool = False


@dataclass(frozen=True)
class LaunchRequest:
    container_id: str
    process: ProcessSpec
    hostname: str | None
    # None shares the service's network namespace (`--net host`)
    netns: str | None
    # image layer directories, lowest first; empty means the `hostfs` image
    layers: tuple[str, ...]
    # container path (/etc/hosts, …) -> content
    files: Mapping[str, str]
    open_stdin: bool
    # attach clients the shim waits for before it lets output go (it buffers until then)
    expect_attach: int = 0
    # `--init`: the process runs under a small init that reaps zombies and forwards signals
    init: bool = False
    # `--net container:`: the container whose /etc/hosts, /etc/hostname and
    # /etc/resolv.conf this one shares (bound, not copied, as Docker does), instead of `files`
    files_of: str = ""
    # the UTS namespace's domain name (Config.Domainname); ignored with the host's namespace
    domainname: str = ""
    # binds, volumes and tmpfs mounts, parents first
    mounts: tuple[LaunchMount, ...] = ()
    # devices, sysctls, read-only root, masked paths (the process's own part is in `process`)
    security: Security = field(default_factory=Security)
    # cgroup limits and the size of /dev/shm
    resources: Resources = field(default_factory=Resources)


@dataclass(frozen=True)
class Started:
    pid: int
    shim_pid: int
    shim_start_time: int


@dataclass(frozen=True)
class ExitStatus:
    code: int
    finished_at: str


@dataclass(frozen=True)
class FileView:
    """What `cp`, `export`, `diff` and `commit` see of a container's files."""

    container_id: str
    # image layer directories, lowest first; empty for `hostfs`
    layers: tuple[str, ...]
    mounts: tuple[LaunchMount, ...] = ()
    # the shim of a running container (its mount namespace has the live root file system)
    shim_pid: int = 0
    # `--init`: the init layer has docker-init's mount point
    init: bool = False

    @property
    def hostfs(self) -> bool:
        return not self.layers
