"""`-u` and `--group-add` resolved in a container's /etc/passwd and /etc/group as Docker does
(runc's libcontainer/user GetExecUser and GetAdditionalGroups)."""

from __future__ import annotations

import pytest

from hatoba.errors import InvalidArgument
from hatoba.files.users import resolve_user
from hatoba.model.launch import ProcessUser

PASSWD = """\
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
  spaced:x:70:70::/spaced:/bin/sh
short:x:71
dupe:x:80:80::/first:/bin/sh
dupe:x:81:81::/second:/bin/sh
"""
GROUP = """\
root:x:0:root
daemon:x:1:root,daemon
wheel:x:10:root,www-data
www-data:x:33:
audio:x:29:www-data
nogroup:x:65534:
"""


@pytest.mark.parametrize(
    ("spec", "uid", "gid", "groups", "home"),
    [
        # no -u: root, with the groups that list root (Docker's `id` shows them too)
        ("", 0, 0, (0, 1, 10), "/root"),
        ("root", 0, 0, (0, 1, 10), "/root"),
        ("www-data", 33, 33, (33, 10, 29), "/var/www"),
        ("33", 33, 33, (33, 10, 29), "/var/www"),
        # an explicit group replaces the primary one and brings no supplementary groups
        ("www-data:audio", 33, 29, (29,), "/var/www"),
        ("www-data:1", 33, 1, (1,), "/var/www"),
        ("nobody:65534", 65534, 65534, (65534,), "/nonexistent"),
        # numeric ids need no entry
        ("1234", 1234, 0, (0,), "/"),
        ("1234:5678", 1234, 5678, (5678,), "/"),
        ("65534:nogroup", 65534, 65534, (65534,), "/nonexistent"),
        # lines are read as runc reads them: trimmed, short ones padded, first match wins
        ("spaced", 70, 70, (70,), "/spaced"),
        ("short", 71, 0, (0,), ""),
        ("dupe", 80, 80, (80,), "/first"),
        # a third field is ignored
        ("daemon:daemon:extra", 1, 1, (1,), "/usr/sbin"),
    ],
)
def test_user_specs(spec: str, uid: int, gid: int, groups: tuple[int, ...], home: str) -> None:
    found = resolve_user(spec, PASSWD, GROUP)
    assert found.user == ProcessUser(uid, gid, groups)
    assert found.home == home


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("nope", "unable to find user nope: no matching entries in passwd file"),
        ("root:nope", "unable to find group nope: no matching entries in group file"),
        ("-1", "uids and gids must be in range 0-2147483647"),
        ("0:2147483648", "uids and gids must be in range 0-2147483647"),
    ],
)
def test_user_errors_like_docker(spec: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        resolve_user(spec, PASSWD, GROUP)
    assert caught.value.message == message


def test_a_container_without_passwd_or_group_files() -> None:
    assert resolve_user("", None, None).user == ProcessUser(0, 0, (0,))
    assert resolve_user("1000:1000", None, None).user == ProcessUser(1000, 1000, (1000,))
    assert resolve_user("1000", None, None).home == "/"
    with pytest.raises(InvalidArgument, match="unable to find user www-data"):
        resolve_user("www-data", None, None)
    with pytest.raises(InvalidArgument, match="unable to find group audio"):
        resolve_user("1000:audio", PASSWD, None)


def test_group_add_by_name_or_id_after_the_users_groups() -> None:
    found = resolve_user("www-data", PASSWD, GROUP, ["audio", "0", "4242"])
    assert found.user.additional_gids == (33, 10, 29, 0, 4242)
    assert resolve_user("1000", None, None, ["7"]).user.additional_gids == (0, 7)


def test_group_add_errors_like_docker() -> None:
    with pytest.raises(InvalidArgument) as caught:
        resolve_user("", PASSWD, GROUP, ["nope"])
    assert caught.value.message == "Unable to find group nope"
    with pytest.raises(InvalidArgument, match="must be in range"):
        resolve_user("", PASSWD, GROUP, ["-5"])
