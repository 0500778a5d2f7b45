"""What every compose command shares: the options, the project (loaded once, then cached),
the engine's view of the project, and the progress display.

The cache: loading a file costs ~150 ms of imports (PyYAML, jsonschema) before any work, more
than a whole `up` of an unchanged project. A load records every file it read (with a hash of
its content) and every variable it read (with its value); the result is pickled under
$XDG_CACHE_HOME/hatoba/compose (or ~/.cache/…, or $HATOBA_COMPOSE_CACHE), keyed by the options,
the working directory and the compose files. A later command uses it only if every one of
those files and variables is still the same, so a cached project is always the one a fresh
load would give. The folder is the user's own (0700), as the pickles must be.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import sys

from hatoba import __version__
from hatoba.cli.compose.progress import Progress
from hatoba.compose import requests
from hatoba.compose.errors import ComposeError
from hatoba.compose.plan import (
    ObservedNetwork,
    ObservedVolume,
    observe_containers,
    observe_networks,
    observe_volumes,
)
from hatoba.compose.project import Loaded, Options, check_project_name, find_files

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from hatoba.cli.client import Client
    from hatoba.cli.context import Context
    from hatoba.cli.parsing import Values
    from hatoba.compose.model import Project
    from hatoba.compose.plan import Observed


class Session:
    def __init__(self, ctx: Context, ns: Values, prog: str) -> None:
        self.ctx = ctx
        self.prog = prog
        self.options = Options(
            files=tuple(ns.file),
            project_name=ns.project_name,
            project_directory=ns.project_directory,
            env_files=tuple(ns.env_file),
            profiles=tuple(ns.profile),
        )
        self.progress_mode = ns.progress
        self._project: Project | None = None

    @property
    def client(self) -> Client:
        return self.ctx.client

    # --- the project ----------------------------------------------------------------------

    def project(self, requested: tuple[str, ...] = ()) -> Project:
        if self._project is None:
            options = dataclasses.replace(self.options, requested=requested)
            project = _load_cached(options, os.getcwd())
            for warning in project.warnings:
                warn(warning)
            self._project = project
        return self._project

    def project_name(self) -> str:
        """-p NAME without a file (`down -p x`, `ps -p x`), else the project's name."""
        if self.options.project_name:
            check_project_name(self.options.project_name)
            try:
                return self.project().name
            except ComposeError:
                return self.options.project_name
        return self.project().name

    # --- the engine's view ----------------------------------------------------------------

    def summaries(self, project: str, *, stopped: bool = True) -> list[Any]:
        """GET /containers/json of the project's containers (with stopped ones)."""
        import json

        query = {"all": stopped or None, "filters": json.dumps(requests.project_filter(project))}
        return list(self.client.json("GET", "/containers/json", query))

    def containers(self, project: str, *, stopped: bool = True) -> list[Observed]:
        return observe_containers(self.summaries(project, stopped=stopped))

    def networks(self) -> list[ObservedNetwork]:
        return observe_networks(self.client.json("GET", "/networks"))

    def volumes(self) -> list[ObservedVolume]:
        return observe_volumes(self.client.json("GET", "/volumes"))

    def progress(self, title: str) -> Progress:
        return Progress(title, self.progress_mode)


def warn(text: str) -> None:
    sys.stdout.flush()
    sys.stderr.write(f"WARN[0000] {text}\n")


# loads kept: one per project and set of options, the least recently written go first
_KEEP = 64


def _cache_dir() -> str:
    base = os.environ.get("HATOBA_COMPOSE_CACHE")
    if base:
        return base
    home = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(home, "hatoba", "compose")


def _load_cached(options: Options, cwd: str) -> Project:
    files = find_files(options, os.environ, cwd)
    key = hashlib.sha256(repr((__version__, options, cwd, files)).encode()).hexdigest()
    folder = _cache_dir()
    path = os.path.join(folder, key)
    cached = _read_cache(folder, path)
    if cached is not None:
        return cached.project
    from hatoba.compose.project import load

    loaded = load(options, os.environ, cwd)
    _write_cache(folder, path, loaded)
    return loaded.project


def _read_cache(folder: str, path: str) -> Loaded | None:
    import pickle

    try:
        info = os.stat(folder)
        if info.st_uid != os.geteuid() or info.st_mode & 0o022:
            return None  # not our own private folder: its pickles are not to be trusted
        with open(path, "rb") as f:
            loaded = pickle.load(f)
    except Exception:
        return None
    if not isinstance(loaded, Loaded) or not _still_true(loaded):
        return None
    return loaded


def _still_true(loaded: Loaded) -> bool:
    for name, value in loaded.variables:
        if os.environ.get(name) != value:
            return False
    for file, digest in loaded.files:
        try:
            with open(file, "rb") as f:
                now = hashlib.sha256(f.read()).hexdigest()
        except OSError:
            now = ""
        if now != digest:
            return False
    return True


def _write_cache(folder: str, path: str, loaded: Loaded) -> None:
    import pickle

    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        temporary = f"{path}.{os.getpid()}"
        with open(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
            pickle.dump(loaded, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(temporary, path)
        entries = sorted(os.scandir(folder), key=lambda e: e.stat().st_mtime)
        for stale in entries[:-_KEEP]:
            os.unlink(stale.path)
    except OSError:
        pass  # a read-only home: every command loads the files again
