"""Mounts as Docker 20.10 reads them (-v, --mount, --tmpfs, --volumes-from, Config.Volumes),
with its error texts, and the prune filters."""

from __future__ import annotations

import re

import pytest

from hatoba.errors import InvalidArgument
from hatoba.model.mounts import (
    BIND,
    TMPFS,
    VOLUME,
    MountPoint,
    MountRequest,
    MountSpec,
    check_volume_name,
    mount_order,
    parse_bind,
    parse_mount,
    parse_volumes_from,
    plan_mounts,
    tmpfs_data,
    tmpfs_mount_options,
)
from hatoba.model.prune import CONTAINER_FILTERS, IMAGE_FILTERS, VOLUME_FILTERS, PruneFilter


def refused(message: str) -> pytest.RaisesContext[InvalidArgument]:
    return pytest.raises(InvalidArgument, match=f"^{re.escape(message)}$")


@pytest.mark.parametrize(
    ("raw", "kind", "source", "name", "destination", "rw", "mode", "propagation"),
    [
        ("/srv:/data", BIND, "/srv", "", "/data", True, "", "rprivate"),
        ("/srv/:/data/:ro", BIND, "/srv", "", "/data", False, "ro", "rprivate"),
        ("/srv:/data:ro,rslave", BIND, "/srv", "", "/data", False, "ro,rslave", "rslave"),
        ("/srv:/data:z", BIND, "/srv", "", "/data", True, "z", "rprivate"),
        ("cache:/var/cache", VOLUME, "", "cache", "/var/cache", True, "z", ""),
        ("cache:/var/cache:ro", VOLUME, "", "cache", "/var/cache", False, "ro", ""),
        ("/anonymous", VOLUME, "", "", "/anonymous", True, "z", ""),
    ],
)
def test_binds_as_docker_reads_them(
    raw: str,
    kind: str,
    source: str,
    name: str,
    destination: str,
    rw: bool,
    mode: str,
    propagation: str,
) -> None:
    point = parse_bind(raw)
    assert (point.type, point.source, point.name, point.destination) == (
        kind,
        source,
        name,
        destination,
    )
    assert (point.rw, point.mode, point.propagation) == (rw, mode, propagation)
    # a `-v` source is made at start; a named volume is no anonymous one
    assert point.create_source == (kind == BIND)
    assert point.anonymous == (kind == VOLUME and not name)


def test_a_volume_may_say_nocopy() -> None:
    assert parse_bind("cache:/c").copy_data
    assert not parse_bind("cache:/c:nocopy").copy_data


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "invalid volume specification: ''"),
        (":/data", "invalid volume specification: ':/data'"),
        ("/a:/b:/c:/d", "invalid volume specification: '/a:/b:/c:/d'"),
        ("/data:rw", "invalid volume specification: '/data:rw'"),
        ("/srv:/data:rx", "invalid mode: rx"),
        ("/srv:/data:ro,rw", "invalid mode: ro,rw"),
        (
            "/srv:data",
            "invalid volume specification: '/srv:data': invalid mount config for type "
            "\"bind\": invalid mount path: 'data' mount path must be absolute",
        ),
        (
            "/srv:/",
            "invalid volume specification: '/srv:/': invalid mount config for type "
            "\"bind\": invalid specification: destination can't be '/'",
        ),
        (
            "cache:relative",
            "invalid volume specification: 'cache:relative': invalid mount config for type "
            "\"volume\": invalid mount path: 'relative' mount path must be absolute",
        ),
    ],
)
def test_bad_binds_get_dockers_errors(raw: str, message: str) -> None:
    with refused(message):
        parse_bind(raw)


def test_mounts_as_docker_reads_them() -> None:
    bind = parse_mount(MountSpec(BIND, "/srv", "/data/", read_only=True))
    assert (bind.source, bind.destination, bind.rw, bind.mode) == ("/srv", "/data", False, "")
    assert bind.propagation == "rprivate" and not bind.create_source
    flat = parse_mount(MountSpec(BIND, "/srv", "/d", bind_propagation="", bind_non_recursive=True))
    assert flat.non_recursive and flat.rw
    volume = parse_mount(MountSpec(VOLUME, "", "/cache", volume_no_copy=True))
    assert volume.anonymous and not volume.copy_data and volume.mode == "z"
    tmpfs = parse_mount(MountSpec(TMPFS, target="/tmp", tmpfs_size=64 << 20, tmpfs_mode=0o1777))
    assert tmpfs.tmpfs_options == "mode=1777,size=64m"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            MountSpec(VOLUME),
            'invalid mount config for type "volume": field Target must not be empty',
        ),
        (
            MountSpec("nfs", target="/x"),
            'invalid mount config for type "nfs": mount type unknown',
        ),
        (
            MountSpec(BIND, target="/x"),
            'invalid mount config for type "bind": field Source must not be empty',
        ),
        (
            MountSpec(BIND, "srv", "/x"),
            "invalid mount config for type \"bind\": invalid mount path: 'srv' mount path "
            "must be absolute",
        ),
        (
            MountSpec(BIND, "/srv", "/x", bind_propagation="sideways"),
            'invalid mount config for type "bind": invalid propagation mode: sideways',
        ),
        (
            MountSpec(BIND, "/srv", "/x", volume_no_copy=False),
            'invalid mount config for type "bind": field VolumeOptions must not be specified',
        ),
        (
            MountSpec(VOLUME, "v1", "/x", bind_propagation=""),
            'invalid mount config for type "volume": field BindOptions must not be specified',
        ),
        (
            MountSpec(VOLUME, target="/x", read_only=True),
            'invalid mount config for type "volume": must not set ReadOnly mode when using '
            "anonymous volumes",
        ),
        (
            MountSpec(TMPFS, "/srv", "/x"),
            'invalid mount config for type "tmpfs": field Source must not be specified',
        ),
    ],
)
def test_bad_mounts_get_dockers_errors(spec: MountSpec, message: str) -> None:
    with refused(message):
        parse_mount(spec)


def test_tmpfs_options_are_merged_over_dockers_defaults() -> None:
    assert tmpfs_mount_options("") == ("noexec", "nosuid", "nodev", "rprivate")
    # later options win over the defaults, one of each kind is kept
    assert tmpfs_mount_options("exec,size=64m,size=1m,mode=1777") == (
        "nosuid",
        "nodev",
        "rprivate",
        "exec",
        "size=1m",
        "mode=1777",
    )
    with refused('Invalid tmpfs option ["bogus"]'):
        tmpfs_mount_options("bogus")
    with refused('Invalid tmpfs option ["colour" "blue"]'):
        tmpfs_mount_options("colour=blue")
    assert tmpfs_data(3 << 30, 0o755, True) == "ro,mode=755,size=3g"
    assert tmpfs_data(1000, 0, False) == "size=1000"


def test_volumes_from_specs() -> None:
    assert parse_volumes_from("web") == ("web", True)
    assert parse_volumes_from("web:ro") == ("web", False)
    assert parse_volumes_from("web:rw,z") == ("web", True)
    with refused("volumes-from specification cannot be an empty string"):
        parse_volumes_from("")
    for mode in ("rslave", "nocopy", "bogus"):
        with refused(f"invalid mode: {mode}"):
            parse_volumes_from(f"web:{mode}")


def test_volume_names_are_the_local_drivers() -> None:
    check_volume_name("my-data_1.0")
    with refused(
        "create a: volume name is too short, names should be at least two alphanumeric characters"
    ):
        check_volume_name("a")
    with refused(
        'create my@data: "my@data" includes invalid characters for a local volume name, only '
        '"[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, '
        "use absolute path"
    ):
        check_volume_name("my@data")
    check_volume_name("v" * 255)
    with refused(
        f"create {'v' * 256}: volume name is too long, names should be at most 255 "
        "characters (it is a folder's name)"
    ):
        check_volume_name("v" * 256)


def test_plan_follows_dockers_precedence() -> None:
    theirs = [
        MountPoint(VOLUME, "/data", name="shared", rw=True, copy_data=True),
        MountPoint(BIND, "/logs", source="/var/log", rw=True, create_source=True),
    ]
    request = MountRequest(
        binds=("/srv:/logs:ro",),
        mounts=(MountSpec(TMPFS, target="/scratch"),),
        tmpfs={"/run": "size=1m"},
        # the image's VOLUME under the request's mounts is no error and makes nothing
        volumes=("/data", "/run", "/cache"),
    )
    points = {p.destination: p for p in plan_mounts(request, [(False, theirs)])}
    assert set(points) == {"/data", "/logs", "/scratch", "/cache"}
    # another container's volume, read-only here, never filled again
    assert points["/data"].name == "shared" and not points["/data"].rw
    assert not points["/data"].copy_data
    # a bind of the request replaces the other container's at the same place
    assert points["/logs"].source == "/srv"
    assert points["/cache"].anonymous and points["/cache"].copy_data


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (MountRequest(binds=("/a:/x", "v1:/x/")), "Duplicate mount point: /x"),
        (MountRequest(binds=("/a:/x",), tmpfs={"/x": ""}), "Duplicate mount point: /x"),
        (
            MountRequest(binds=("/a:/x",), mounts=(MountSpec(VOLUME, target="/x/."),)),
            "Duplicate mount point: /x/.",
        ),
        (MountRequest(tmpfs={"tmp": ""}), "invalid mount path: 'tmp' mount path must be absolute"),
        (MountRequest(tmpfs={"/": ""}), "invalid specification: destination can't be '/'"),
        (MountRequest(volumes=("data",)), "invalid mount path: 'data' mount path must be absolute"),
    ],
)
def test_plan_refusals(request_: MountRequest, message: str) -> None:
    with refused(message):
        plan_mounts(request_)


def test_parents_are_mounted_before_children() -> None:
    points = [MountPoint(TMPFS, "/a/b/c"), MountPoint(TMPFS, "/a"), MountPoint(TMPFS, "/a/b")]
    assert [p.destination for p in mount_order(points)] == ["/a", "/a/b", "/a/b/c"]


# --- prune filters ----------------------------------------------------------------------------


def test_prune_filters_are_checked() -> None:
    with refused("Invalid filter 'until'"):
        PruneFilter.parse({"until": ["1h"]}, VOLUME_FILTERS, 0)
    with refused("more than one until filter specified"):
        PruneFilter.parse({"until": ["1h", "2h"]}, CONTAINER_FILTERS, 0)
    with refused('failed to parse value as time or duration: "soon"'):
        PruneFilter.parse({"until": ["soon"]}, CONTAINER_FILTERS, 0)
    with refused("Invalid filter 'dangling=maybe'"):
        PruneFilter.parse({"dangling": ["maybe"]}, IMAGE_FILTERS, 0)


def test_prune_filters_match_as_dockers() -> None:
    rule = PruneFilter.parse({"label": ["tier"], "label!": ["keep=yes"]}, VOLUME_FILTERS, 0)
    assert rule.matches({"tier": "web"})
    assert not rule.matches({"other": "x"})
    assert not rule.matches({"tier": "web", "keep": "yes"})
    assert rule.matches({"tier": "web", "keep": "no"})
    old = PruneFilter.parse({"until": ["1h"]}, CONTAINER_FILTERS, now=10_000)
    assert old.matches({}, created=10_000 - 7200) and not old.matches({}, created=9_999)
    assert PruneFilter.parse({}, IMAGE_FILTERS, 0).dangling_only
    assert not PruneFilter.parse({"dangling": ["false"]}, IMAGE_FILTERS, 0).dangling_only
