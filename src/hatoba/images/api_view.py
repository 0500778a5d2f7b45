"""The image store in the shapes of the Docker Engine API (v1.41) `/images` endpoints.

Matches `hatoba.api.ports.ImageCatalog`.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Mapping, Sequence
from typing import IO, Any, BinaryIO

from hatoba.errors import InvalidArgument
from hatoba.images import docker_json
from hatoba.images.config import unix_seconds
from hatoba.images.reference import parse_reference, split_tag
from hatoba.images.store import Image, ImageStore
from hatoba.model.image import CommitOptions
from hatoba.model.prune import PruneFilter

# request bodies up to this size stay in memory; bigger ones go to the store's staging folder
_IN_MEMORY = 1 << 20
_FILTERS = frozenset({"before", "dangling", "label", "reference", "since"})


class ApiImages:
    def __init__(self, store: ImageStore) -> None:
        self._store = store

    def upload_file(self) -> IO[bytes]:
        return tempfile.SpooledTemporaryFile(_IN_MEMORY, "w+b", dir=str(self._store.staging))

    def count(self) -> int:
        return self._store.count()

    def summaries(self, filters: Mapping[str, Sequence[str]]) -> list[dict[str, Any]]:
        """`GET /images/json` with Docker's filters; `reference` also narrows RepoTags."""
        for key in filters:
            if key not in _FILTERS:
                raise InvalidArgument(f"invalid filter '{key}'")
        keep = _Matcher(filters, self._store.resolve)
        out = []
        for image in self._store.list():
            if not keep(image):
                continue
            summary = docker_json.summary(image)
            if filters.get("reference"):
                tags = [t for t in image.repo_tags if keep.reference_matches(t)]
                if not tags:
                    continue
                summary["RepoTags"] = tags
            out.append(summary)
        return out

    def inspect(self, reference: str) -> dict[str, Any]:
        return self._store.inspect(reference)

    def import_rootfs(
        self, body: IO[bytes], repo: str, tag: str, changes: Sequence[str], message: str
    ) -> str:
        """`docker import`: `repo` may carry a tag of its own; `tag` wins over it."""
        reference = None
        if repo:
            name, own_tag = split_tag(repo)
            reference = f"{name}:{tag or own_tag or 'latest'}"
        return self._store.import_rootfs(body, reference, changes, message).id

    def load(self, body: IO[bytes]) -> list[str]:
        return self._store.load(body)

    def save(self, references: Sequence[str]) -> IO[bytes]:
        out = tempfile.TemporaryFile(dir=self._store.staging)  # noqa: SIM115 - returned open
        try:
            self._store.save(references, out)
            out.seek(0)
        except BaseException:
            out.close()
            raise
        return out

    def commit(
        self,
        write_layer: Callable[[BinaryIO], int],
        parent_id: str,
        container: Mapping[str, Any],
        container_id: str,
        options: CommitOptions,
    ) -> str:
        """`POST /commit`: `write_layer` writes the container's layer tar (and says how many
        entries it has: none makes no layer)."""
        reference = None
        if options.repo:
            name, own_tag = split_tag(options.repo)
            reference = f"{name}:{options.tag or own_tag or 'latest'}"
        with tempfile.TemporaryFile(dir=self._store.staging) as layer:
            entries = write_layer(layer)
            layer.seek(0)
            image = self._store.commit(
                layer if entries else None,
                parent_id,
                container,
                container_id,
                options.config,
                options.changes,
                reference,
                options.author,
                options.comment,
            )
        return image.id

    def prune(
        self, rule: PruneFilter, in_use: Callable[[str], list[str]]
    ) -> tuple[list[dict[str, str]], int]:
        """`POST /images/prune`: unused images (untagged ones unless `dangling=false`)."""
        return self._store.prune(
            lambda image: (
                (not rule.dangling_only or not image.repo_tags)
                and rule.matches(dict(image.config.labels), unix_seconds(image.created))
            ),
            in_use,
        )

    def usage(self, containers_of: Callable[[str], int]) -> tuple[int, list[dict[str, Any]]]:
        """`GET /system/df`: LayersSize, and the images with how many containers use them
        and the bytes they share with other images."""
        total, images = self._store.usage()
        summaries = []
        for image, shared in images:
            summary = docker_json.summary(image)
            summary.update(Containers=containers_of(image.id), SharedSize=shared)
            summaries.append(summary)
        return total, summaries

    def tag(self, source: str, repo: str, tag: str) -> None:
        """`POST /images/{name}/tag?repo=&tag=`: `tag` replaces a tag given in `repo`."""
        name, own_tag = split_tag(repo)
        if not name:
            raise InvalidArgument("repository name must have at least one component")
        self._store.tag(source, f"{name}:{tag or own_tag or 'latest'}")

    def remove(
        self,
        reference: str,
        force: bool,
        in_use: Callable[[str], list[str]],
        is_running: Callable[[str], bool],
    ) -> list[dict[str, str]]:
        return self._store.remove(reference, force, in_use, is_running)


class _Matcher:
    """Docker's image filters: dangling, label, before, since, reference (path.Match globs on
    the familiar `name:tag` or the name alone)."""

    def __init__(self, filters: Mapping[str, Sequence[str]], resolve: Callable[[str], Image]):
        self._dangling = _dangling(filters.get("dangling", ()))
        self._labels = list(filters.get("label", ()))
        self._before = [unix_seconds(resolve(r).created) for r in filters.get("before", ())]
        self._since = [unix_seconds(resolve(r).created) for r in filters.get("since", ())]
        self._references = [_glob(p) for p in filters.get("reference", ())]

    def __call__(self, image: Image) -> bool:
        if self._dangling is not None and self._dangling != (not image.repo_tags):
            return False
        labels = dict(image.config.labels)
        for want in self._labels:
            key, has_value, value = want.partition("=")
            if key not in labels or (has_value and labels[key] != value):
                return False
        created = unix_seconds(image.created)
        return all(created < t for t in self._before) and all(created > t for t in self._since)

    def reference_matches(self, tag: str) -> bool:
        name = parse_reference(tag).name
        return any(p.match(tag) or p.match(name) for p in self._references)


def _dangling(values: Sequence[str]) -> bool | None:
    if not values:
        return None
    answers = set()
    for value in values:
        if value.lower() not in ("true", "1", "false", "0"):
            raise InvalidArgument(f"Invalid filter 'dangling={value}'")
        answers.add(value.lower() in ("true", "1"))
    return answers.pop() if len(answers) == 1 else None


def _glob(pattern: str) -> re.Pattern[str]:
    """Go's path.Match: `*` and `?` stop at `/`, `[...]` is a class."""
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[" and (end := pattern.find("]", i + 1)) > i:
            body = pattern[i + 1 : end]
            negate = body.startswith("^")
            body = re.escape(body[1:] if negate else body).replace("\\-", "-")
            out.append(f"[{'^' if negate else ''}{body}]")
            i = end
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out) + r"\Z")
