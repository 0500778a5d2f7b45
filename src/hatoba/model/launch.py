"""What the engine asks of the runtime, and what it gets back."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Docker's, for every process in a container (the service's own umask keeps its files private)
CONTAINER_UMASK = 0o022


def environment(
    image_env: Sequence[str], user_env: Sequence[str], hostname: str, tty: bool
) -> tuple[str, ...]:
    """Docker's precedence: default PATH < image < `-e`; the engine adds HOSTNAME and TERM."""
    merged: dict[str, str] = {}
    for entry in (DEFAULT_PATH, f"HOSTNAME={hostname}", *image_env, *user_env):
        key, _, _ = entry.partition("=")
        merged[key] = entry
    if tty and "TERM" not in merged:
        merged["TERM"] = "TERM=xterm"
    if "HOME" not in merged:
        merged["HOME"] = "HOME=/root"
    return tuple(merged.values())


@dataclass(frozen=True)
class ProcessSpec:
    args: tuple[str, ...]
    env: tuple[str, ...]
    cwd: str = "/"
    terminal: bool = False


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


@dataclass(frozen=True)
class Started:
    pid: int
    shim_pid: int
    shim_start_time: int


@dataclass(frozen=True)
class ExitStatus:
    code: int
    finished_at: str
