"""The filters of Docker's prune endpoints (containers, images, volumes): `label`, `label!`
and `until`, checked and matched as Docker 20.10 does (daemon/prune.go, with its errors)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from hatoba.errors import InvalidArgument
from hatoba.model.humanize import parse_timestamp

CONTAINER_FILTERS = frozenset({"label", "label!", "until"})
IMAGE_FILTERS = frozenset({"dangling", "label", "label!", "until"})
VOLUME_FILTERS = frozenset({"label", "label!"})


def _matches_all(wanted: Sequence[str], labels: Mapping[str, str]) -> bool:
    """Docker's MatchKVList: every `key` or `key=value` holds."""
    for item in wanted:
        key, has_value, value = item.partition("=")
        if key not in labels or (has_value and labels[key] != value):
            return False
    return True


@dataclass(frozen=True)
class PruneFilter:
    labels: tuple[str, ...] = ()
    # an object is kept when it has all of these
    not_labels: tuple[str, ...] = ()
    # only objects created before it (seconds since the epoch)
    until: float | None = None
    # images: only untagged ones (the default), or every unused one
    dangling_only: bool = True

    @classmethod
    def parse(
        cls, filters: Mapping[str, Sequence[str]], allowed: Collection[str], now: float
    ) -> PruneFilter:
        for key in filters:
            if key not in allowed:
                raise InvalidArgument(f"Invalid filter '{key}'")
        untils = list(filters.get("until", ()))
        if len(untils) > 1:
            raise InvalidArgument("more than one until filter specified")
        dangling = list(filters.get("dangling", ()))
        for value in dangling:
            if value.lower() not in ("true", "1", "false", "0"):
                raise InvalidArgument(f"Invalid filter 'dangling={value}'")
        return cls(
            labels=tuple(filters.get("label", ())),
            not_labels=tuple(filters.get("label!", ())),
            until=parse_timestamp(untils[0], now) if untils else None,
            dangling_only=not dangling or dangling[-1].lower() in ("true", "1"),
        )

    def matches(self, labels: Mapping[str, str] | None, created: float = 0.0) -> bool:
        labels = labels or {}
        if not _matches_all(self.labels, labels):
            return False
        if self.not_labels and _matches_all(self.not_labels, labels):
            return False
        return self.until is None or created <= self.until
