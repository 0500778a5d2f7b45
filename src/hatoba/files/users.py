"""Who a container's process runs as: `-u name|uid[:group|gid]` and `--group-add`, resolved
against the container's own /etc/passwd and /etc/group as Docker resolves them (runc's
libcontainer/user: first match wins, numeric ids need no entry, a user found by name brings
its supplementary groups, missing files count as empty), with its error texts."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from hatoba.errors import InvalidArgument
from hatoba.model.launch import ProcessUser

MAX_ID = 2**31 - 1  # runc's limit, for 32-bit systems
_NUMBER = re.compile(r"[+-]?[0-9]+")


@dataclass(frozen=True)
class ResolvedUser:
    user: ProcessUser
    # the HOME a process gets when its environment has none (runc's default is /)
    home: str


@dataclass(frozen=True)
class _PasswdEntry:
    name: str
    uid: int
    gid: int
    home: str


@dataclass(frozen=True)
class _GroupEntry:
    name: str
    gid: int
    members: tuple[str, ...]


def resolve_user(
    spec: str, passwd: str | None, group: str | None, group_add: Sequence[str] = ()
) -> ResolvedUser:
    """`passwd` and `group` are the files' contents, None when the container has none."""
    user_arg, _, rest = spec.partition(":")
    group_arg = rest.partition(":")[0]
    uid_arg, gid_arg = _number(user_arg), _number(group_arg)

    def user_matches(entry: _PasswdEntry) -> bool:
        if not user_arg:
            return entry.uid == 0
        return entry.uid == uid_arg if uid_arg is not None else entry.name == user_arg

    matched = next((e for e in _passwd_entries(passwd) if user_matches(e)), None)
    uid = gid = 0
    home = "/"
    if matched is not None:
        uid, gid, home = matched.uid, matched.gid, matched.home
    elif user_arg:
        if uid_arg is None:
            raise InvalidArgument(
                f"unable to find user {user_arg}: no matching entries in passwd file"
            )
        uid = _in_range(uid_arg)
    supplementary: list[int] = []
    if group_arg or matched is not None:

        def group_matches(entry: _GroupEntry) -> bool:
            if not group_arg:
                return matched is not None and matched.name in entry.members
            return entry.gid == gid_arg if gid_arg is not None else entry.name == group_arg

        groups = [e for e in _group_entries(group) if group_matches(e)]
        if group_arg:
            if groups:
                gid = groups[0].gid
            elif gid_arg is None:
                raise InvalidArgument(
                    f"unable to find group {group_arg}: no matching entries in group file"
                )
            else:
                gid = _in_range(gid_arg)
        else:
            # supplementary groups only come with a user named without a group
            supplementary = [g.gid for g in groups]
    added = additional_groups(group_add, group)
    # Docker hands the runtime the primary group first, then the others; runc sets each once
    all_groups = tuple(dict.fromkeys((gid, *supplementary, *added)))
    return ResolvedUser(ProcessUser(uid, gid, all_groups), home)


def additional_groups(names: Sequence[str], group: str | None) -> list[int]:
    """`--group-add`: each a group name or gid; a gid needs no entry, a name does."""
    entries = [e for e in _group_entries(group) if e.name in names or str(e.gid) in names]
    chosen: list[int] = []
    for wanted in names:
        # as runc: the first entry by that name or gid not chosen already
        entry = next(
            (
                e
                for e in entries
                if (e.name == wanted or str(e.gid) == wanted) and e.gid not in chosen
            ),
            None,
        )
        if entry is not None:
            chosen.append(entry.gid)
            continue
        gid = _number(wanted)
        if gid is None:
            raise InvalidArgument(f"Unable to find group {wanted}")
        gid = _in_range(gid)
        if gid not in chosen:
            chosen.append(gid)
    return chosen


def _passwd_entries(text: str | None) -> list[_PasswdEntry]:
    entries = []
    for raw in (text or "").splitlines():
        line = raw.strip()
        if not line:
            continue
        # name:password:UID:GID:GECOS:directory:shell; short lines leave fields empty
        fields = [*line.split(":"), "", "", "", "", "", ""]
        entries.append(_PasswdEntry(fields[0], _lenient(fields[2]), _lenient(fields[3]), fields[5]))
    return entries


def _group_entries(text: str | None) -> list[_GroupEntry]:
    entries = []
    for line in (text or "").splitlines():
        if not line:
            continue
        # group_name:password:GID:user_list
        fields = [*line.split(":"), "", "", ""]
        members = tuple(fields[3].split(",")) if fields[3] else ()
        entries.append(_GroupEntry(fields[0], _lenient(fields[2]), members))
    return entries


def _number(text: str) -> int | None:
    return int(text) if _NUMBER.fullmatch(text) else None


def _lenient(text: str) -> int:
    """A number field of a file: what does not parse counts as 0, as runc reads it."""
    number = _number(text)
    return number if number is not None else 0


def _in_range(number: int) -> int:
    if not 0 <= number <= MAX_ID:
        raise InvalidArgument(f"uids and gids must be in range 0-{MAX_ID}")
    return number
