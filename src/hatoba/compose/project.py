"""A whole compose load: which files, which project directory and name, which variables.

    files        -f FILE… ; else $COMPOSE_FILE (`:`-separated); else compose.yaml,
                 compose.yml, docker-compose.yaml or docker-compose.yml in the working
                 directory or the nearest parent that has one, plus its `compose.override.yaml`
                 (or .yml, or docker-compose.override.*) when there is one
    directory    --project-directory, else the folder of the first file
    variables    the shell's environment, over `.env` in the project directory (or the
                 --env-file files instead)
    name         -p, else $COMPOSE_PROJECT_NAME, else `name:` in the files (each must already
                 be lower case [a-z0-9_-], starting with a letter or digit), else the project
                 directory's name made so (docker compose's NormalizeProjectName)
    profiles     --profile P…, else $COMPOSE_PROFILES (`,`-separated)

`find_files` imports nothing heavy: the CLI calls it to key its cache of loads. `load` reads,
interpolates, merges, validates and normalizes, and says what it read (files and variables)
so that the cache knows when a load is stale.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from hatoba.compose.errors import ComposeError, Path, Problem, Problems, Where
from hatoba.compose.model import Project

DEFAULT_FILES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
OVERRIDE_FILES = (
    "compose.override.yaml",
    "compose.override.yml",
    "docker-compose.override.yaml",
    "docker-compose.override.yml",
)
_VALID_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*\Z")


@dataclass(frozen=True)
class Options:
    files: tuple[str, ...] = ()
    project_name: str = ""
    project_directory: str = ""
    env_files: tuple[str, ...] = ()
    profiles: tuple[str, ...] = ()
    # services named on the command line: enabled whatever their profiles
    requested: tuple[str, ...] = ()


@dataclass(frozen=True)
class Loaded:
    project: Project
    # every file the load read or looked for: (path, sha256 of its content, "" if missing)
    files: tuple[tuple[str, str], ...]
    # every variable the load read, with its value (None: unset)
    variables: tuple[tuple[str, str | None], ...]


def normalize_project_name(text: str) -> str:
    """docker compose's NormalizeProjectName: lower case, only [a-z0-9_-], no leading _ or -."""
    return "".join(re.findall(r"[a-z0-9_-]", text.lower())).lstrip("_-")


def check_project_name(name: str) -> None:
    if not _VALID_NAME.match(name):
        raise ComposeError(
            [
                Problem(
                    "",
                    0,
                    "",
                    f"invalid project name {name!r}: must consist only of lowercase alphanumeric "
                    "characters, hyphens, and underscores as well as start with a letter or "
                    "number",
                )
            ]
        )


def find_files(options: Options, environ: Mapping[str, str], cwd: str) -> list[str]:
    """The compose files of this invocation, as absolute paths."""
    if options.files:
        return [os.path.abspath(os.path.join(cwd, f)) for f in options.files]
    if environ.get("COMPOSE_FILE"):
        separator = environ.get("COMPOSE_PATH_SEPARATOR") or ":"
        return [
            os.path.abspath(os.path.join(cwd, f))
            for f in environ["COMPOSE_FILE"].split(separator)
            if f
        ]
    folder = os.path.abspath(options.project_directory or cwd)
    while True:
        found = [
            os.path.join(folder, n)
            for n in DEFAULT_FILES
            if os.path.isfile(os.path.join(folder, n))
        ]
        if found:
            override = [
                os.path.join(folder, n)
                for n in OVERRIDE_FILES
                if os.path.isfile(os.path.join(folder, n))
            ]
            return [found[0], *override[:1]]
        parent = os.path.dirname(folder)
        if parent == folder:
            raise ComposeError(
                [
                    Problem(
                        "",
                        0,
                        "",
                        "no configuration file provided: not found (looked for "
                        f"{', '.join(DEFAULT_FILES)} in {os.path.abspath(cwd)} and its parents)",
                    )
                ]
            )
        folder = parent


class _Reader:
    """Reads files and variables, remembering each (with its hash or value) for the cache."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.files: dict[str, str] = {}
        self.variables: dict[str, str | None] = {}
        self.dotenv: dict[str, str] = {}

    def read(self, path: str) -> str | None:
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            self.files[path] = ""
            return None
        self.files[path] = hashlib.sha256(data).hexdigest()
        return data.decode("utf-8-sig", errors="replace")

    def shell(self, name: str) -> str | None:
        value = self.environ.get(name)
        self.variables[name] = value
        return value

    def variable(self, name: str) -> str | None:
        """The shell's value, else `.env`'s."""
        value = self.shell(name)
        return value if value is not None else self.dotenv.get(name)


def load(options: Options, environ: Mapping[str, str], cwd: str) -> Loaded:
    from hatoba.compose import dotenv
    from hatoba.compose.interpolation import Variables, interpolate
    from hatoba.compose.merge import merge
    from hatoba.compose.normalize import Context, normalize
    from hatoba.compose.schema import validate
    from hatoba.compose.source import load as load_yaml

    files = find_files(options, environ, cwd)
    working_dir = os.path.abspath(options.project_directory or os.path.dirname(files[0]))
    reader = _Reader(environ)
    problems = Problems()
    env_files = [os.path.join(cwd, f) for f in options.env_files] or [
        os.path.join(working_dir, ".env")
    ]
    for path in env_files:
        text = reader.read(path)
        if text is None:
            if options.env_files:
                problems.add((path, 0), (), "env file not found")
            continue
        reader.dotenv.update(dotenv.parse(text, path, reader.shell, problems))
    problems.check()

    trees = []
    for path in files:
        text = reader.read(path)
        if text is None:
            problems.add((path, 0), (), "cannot read the file")
            continue
        tree = load_yaml(text, path, problems)
        if tree is not None:
            trees.append(tree)
    problems.check()

    variables = Variables(reader.variable)
    tree = merge([interpolate(t, variables, problems) for t in trees])
    validate(tree, problems)
    problems.check()

    name = _project_name(options, reader, tree.get("name"), working_dir)
    profiles = options.profiles or tuple(
        p for p in (reader.variable("COMPOSE_PROFILES") or "").split(",") if p
    )

    def read_env_file(
        relative: str, where: Where, path: Path, found: Problems
    ) -> dict[str, str] | None:
        env_path = os.path.join(working_dir, relative)
        text = reader.read(env_path)
        return None if text is None else dotenv.parse(text, env_path, reader.variable, found)

    context = Context(
        project_name=name,
        working_dir=working_dir,
        config_files=tuple(files),
        lookup=reader.variable,
        read_env_file=read_env_file,
        profiles=profiles,
        requested=options.requested,
        home=lambda: reader.shell("HOME"),
        warnings=[
            f'The "{missing}" variable is not set. Defaulting to a blank string.'
            for missing in dict.fromkeys(variables.missing)
        ],
    )
    project = normalize(tree, context, problems)
    problems.check()
    return Loaded(project, tuple(reader.files.items()), tuple(reader.variables.items()))


def _project_name(options: Options, reader: _Reader, in_file: object, working_dir: str) -> str:
    for explicit in (options.project_name, reader.variable("COMPOSE_PROJECT_NAME"), in_file):
        if isinstance(explicit, str) and explicit:
            check_project_name(explicit)
            return explicit
    name = normalize_project_name(os.path.basename(working_dir))
    if not name:
        check_project_name(os.path.basename(working_dir))
    return name
