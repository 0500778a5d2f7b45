"""Compose volumes without root: the short and long syntaxes, top-level volumes, tmpfs and
volumes_from as docker compose v2 reads them, `config`, the config hashes, the requests
docker compose would send, and the plans of up, recreate and down -v."""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.compose_files import Load, load_files, problems_of, project_dir, project_of
from hatoba.compose import requests
from hatoba.compose.errors import ComposeError
from hatoba.compose.export import project_document
from hatoba.compose.model import BIND, STARTED, TMPFS, VOLUME, Dependency, Mount, Project, Volume
from hatoba.compose.plan import (
    Observed,
    ObservedMount,
    ObservedVolume,
    UpOptions,
    anonymous_volumes,
    inherited_mounts,
    observe_containers,
    observe_volumes,
    plan_down,
    plan_up,
)

__all__ = ["load_files", "project_dir"]

SERVICE_VOLUMES = """
services:
  web:
    image: alpine
    volumes:
      - ./site:/usr/share/www:ro
      - ../shared:/shared
      - ~/conf:/etc/app
      - /srv/logs:/logs:rw,rslave
      - data:/data:nocopy
      - /cache
      - cache:/var/cache/./app/
      - type: bind
        source: relative/dir
        target: /rel
        read_only: true
        bind: {create_host_path: true, propagation: rprivate}
      - {type: volume, source: data, target: /copy, volume: {nocopy: true}}
      - {type: volume, target: /anon, volume: {labels: [k=v]}}
      - {type: tmpfs, target: /scratch, tmpfs: {size: 64m, mode: '1777'}}
      - {type: bind, source: /opt, target: /opt, consistency: cached}
    tmpfs: [/run, '/tmp:size=64m,mode=1777']
volumes:
  data: {}
  cache: {name: shared-cache, labels: {team: a}}
"""


def test_service_volumes_short_and_long_syntax(load_files: Load, project_dir: Path) -> None:
    project = load_files({"compose.yaml": SERVICE_VOLUMES}, env={"HOME": "/home/u"}).project
    web = project.service("web")
    assert web.volumes == (
        Mount(BIND, "/usr/share/www", f"{project_dir}/site", read_only=True,
              create_host_path=True),
        Mount(BIND, "/shared", f"{project_dir.parent}/shared", create_host_path=True),
        Mount(BIND, "/etc/app", "/home/u/conf", create_host_path=True),
        Mount(BIND, "/logs", "/srv/logs", create_host_path=True, propagation="rslave"),
        Mount(VOLUME, "/data", "data", "seedproj_data", nocopy=True),
        Mount(VOLUME, "/cache"),
        Mount(VOLUME, "/var/cache/app", "cache", "shared-cache"),
        Mount(BIND, "/rel", f"{project_dir}/relative/dir", read_only=True,
              create_host_path=True, propagation="rprivate"),
        Mount(VOLUME, "/copy", "data", "seedproj_data", nocopy=True),
        Mount(VOLUME, "/anon", labels=(("k", "v"),)),
        Mount(TMPFS, "/scratch", size=64 << 20, mode=0o1777),
        Mount(BIND, "/opt", "/opt", consistency="cached"),
    )  # fmt: skip
    assert web.tmpfs == ("/run", "/tmp:size=64m,mode=1777")
    # the volumes the services use, in the order they are first mounted
    assert project.volumes == (
        Volume("data", "seedproj_data"),
        Volume("cache", "shared-cache", labels=(("team", "a"),)),
    )


def test_a_short_volume_source_is_a_key_of_the_top_level_volumes(load_files: Load) -> None:
    text = "services:\n  a:\n    image: x\n    volumes: ['cache//:/c', 'data:/d']\n"
    found = problems_of(load_files, {"compose.yaml": text})
    assert [f.split(": ", 1)[1] for f in found] == [
        'services.a.volumes[0]: service "a" refers to undefined volume cache//: invalid '
        "compose project",
        'services.a.volumes[1]: service "a" refers to undefined volume data: invalid compose '
        "project",
    ]


def test_config_prints_the_long_syntax_as_docker_compose(
    load_files: Load, project_dir: Path
) -> None:
    text = (
        "services:\n"
        "  web:\n"
        "    image: x\n"
        "    volumes: ['./site:/www:ro', 'data:/data', /cache,\n"
        "              {type: tmpfs, target: /t, tmpfs: {size: 1k}}]\n"
        "    tmpfs: /run\n"
        "    volumes_from: ['db:ro']\n"
        "  db: {image: x}\n"
        "volumes:\n"
        "  data: {driver: local, labels: [a=b]}\n"
        "  unused: {}\n"
        "  old: {external: {name: legacy}}\n"
    )
    document = project_document(project_of(load_files, text))
    assert document["services"]["web"]["volumes"] == [
        {"type": "bind", "source": f"{project_dir}/site", "target": "/www", "read_only": True,
         "bind": {"create_host_path": True}},
        {"type": "volume", "source": "data", "target": "/data", "volume": {}},
        {"type": "volume", "target": "/cache", "volume": {}},
        {"type": "tmpfs", "target": "/t", "tmpfs": {"size": 1024}},
    ]  # fmt: skip
    assert document["services"]["web"]["tmpfs"] == ["/run"]
    assert document["services"]["web"]["volumes_from"] == ["db:ro"]
    assert document["services"]["web"]["depends_on"] == {
        "db": {"condition": "service_started", "required": True, "restart": False}
    }
    # unused volumes are left out, as docker compose leaves them out
    assert document["volumes"] == {
        "data": {"name": "seedproj_data", "driver": "local", "labels": {"a": "b"}}
    }
    assert "volumes" not in project_document(project_of(load_files, "services: {a: {image: x}}\n"))


def test_top_level_volumes_names_and_kinds(load_files: Load) -> None:
    text = (
        "services:\n  a:\n    image: x\n"
        "    volumes: ['plain:/1', 'ext:/2', 'old:/3', 'named:/4', 'opts:/5']\n"
        "volumes:\n  plain:\n  ext: {external: true}\n  old: {external: {name: legacy}}\n"
        "  named: {name: custom}\n  opts: {driver_opts: {type: tmpfs, size: 100}}\n"
    )
    volumes = {v.key: v for v in project_of(load_files, text, project_name="p1").volumes}
    assert {k: (v.name, v.external) for k, v in volumes.items()} == {
        "plain": ("p1_plain", False),
        "ext": ("ext", True),
        "old": ("legacy", True),
        "named": ("custom", False),
        "opts": ("p1_opts", False),
    }
    # driver options are the engine's to check, as Docker's are
    assert volumes["opts"].driver_opts == (("type", "tmpfs"), ("size", "100"))


@pytest.mark.parametrize(
    ("volumes", "problem"),
    [
        ("['a:b:c:d']", "volumes[0]: 'a:b:c:d' is not a valid volume: too many colons"),
        ("['./a::/b']", "volumes[0]: './a::/b' is not a valid volume: empty section between"),
        ("['./a:/b:bogus']", "volumes[0]: './a:/b:bogus' is not a valid volume: unknown option"),
        ("['./a:/b:nocopy']", "nocopy is an option of volumes, not of host paths"),
        ("['/a:relative']", "volumes[0]: invalid mount path: 'relative' mount path must be"),
        ("['./a:/']", "volumes[0]: invalid specification: destination can't be '/'"),
        ("[{type: bind, target: /b}]", 'invalid mount config for type "bind": field Source must'),
        ("[{type: volume, source: v}]", "volumes[0]: service volume is missing a mount target"),
        ("[{type: tmpfs, source: x, target: /t}]", 'type "tmpfs": field Source must not be'),
        ("[{type: npipe, source: x, target: /t}]", "mount type 'npipe' is not supported by"),
        ("[{type: volume, target: /t, volume: {subpath: x}}]", "`subpath` is not supported"),
        ("[{type: bind, source: /x, target: /t, bind: {recursive: readonly}}]", "`recursive` is"),
        ("[{type: tmpfs, target: /t, tmpfs: {size: lots}}]", "size: 'lots' is not a size"),
        ("[{type: tmpfs, target: /t, tmpfs: {mode: '999'}}]", "mode: '999' is not a file mode"),
        ("[{type: bind, source: /x, target: /t, consistency: eventual}]", "not a consistency"),
        ("[{type: bind, source: /x, target: /t, read_only: perhaps}]", "read_only: 'perhaps' is"),
    ],
)
def test_every_check_of_a_service_volume_has_its_line(
    load_files: Load, volumes: str, problem: str
) -> None:
    text = "services:\n  a:\n    image: x\n    volumes: " + volumes + "\nvolumes: {v: {}}\n"
    found = problems_of(load_files, {"compose.yaml": text})
    assert len(found) == 1, found
    assert found[0].split(":", 2)[1] == "4" and problem in found[0], found[0]


@pytest.mark.parametrize(
    ("service", "problem"),
    [
        ("tmpfs: [/run, 'tmp']", "tmpfs[1]: 'tmp' is not a valid tmpfs: invalid mount path"),
        ("tmpfs: '/run:size=1m,colour=red'", "tmpfs: '/run:size=1m,colour=red' is not a valid"),
        ("volumes_from: ['b:wrong']", "volumes_from[0]: 'b:wrong': invalid mode: wrong"),
        ("volumes_from: [ghost]", "mounts the volumes of undefined service 'ghost'"),
    ],
)
def test_every_check_of_tmpfs_and_volumes_from_has_its_line(
    load_files: Load, service: str, problem: str
) -> None:
    text = "services:\n  a:\n    image: x\n    " + service + "\n  b: {image: x}\n"
    found = problems_of(load_files, {"compose.yaml": text})
    assert len(found) == 1, found
    assert found[0].split(":", 2)[1] == "4" and problem in found[0], found[0]


@pytest.mark.parametrize(
    ("volume", "problem"),
    [
        ("{driver: nfs}", "volumes.v.driver: volume driver 'nfs' is not supported by hatoba"),
        ("{external: true, driver: local}", "volumes.v.driver: an external volume cannot set"),
        ("{external: true, labels: [a=b]}", "volumes.v.labels: an external volume cannot set"),
        ("{external: maybe}", "volumes.v.external: 'maybe' is not a boolean"),
    ],
)
def test_every_check_of_a_top_level_volume_has_its_line(
    load_files: Load, volume: str, problem: str
) -> None:
    text = "services:\n  a: {image: x, volumes: ['v:/v']}\nvolumes:\n  v: " + volume + "\n"
    found = problems_of(load_files, {"compose.yaml": text})
    assert len(found) == 1, found
    assert found[0].split(":", 2)[1] == "4" and problem in found[0], found[0]


def test_a_mount_option_of_another_type_is_a_warning_as_in_docker_compose(
    load_files: Load,
) -> None:
    text = "services:\n  a:\n    image: x\n    volumes: [{type: tmpfs, target: /t, bind: {}}]\n"
    project = project_of(load_files, text)
    assert project.service("a").volumes == (Mount(TMPFS, "/t"),)
    assert "mount of type `tmpfs` should not define `bind` option" in project.warnings


def test_merged_files_replace_a_mount_by_its_target(load_files: Load, project_dir: Path) -> None:
    files = {
        "compose.yaml": "services:\n  a:\n    image: x\n    volumes: ['./a:/a', './b:/b']\n"
        "    tmpfs: /run\n",
        "compose.override.yaml": "services:\n  a:\n    volumes: ['./other:/a', './b:/b', /c]\n"
        "    tmpfs: [/run, /tmp]\n",
    }
    a = load_files(files).project.service("a")
    assert [(m.source, m.target) for m in a.volumes] == [
        (f"{project_dir}/other", "/a"),
        (f"{project_dir}/b", "/b"),
        ("", "/c"),
    ]
    assert a.tmpfs == ("/run", "/tmp")


def test_volumes_from_starts_the_other_service_first(load_files: Load) -> None:
    text = (
        "services:\n"
        "  app: {image: x, volumes_from: ['data:ro', 'container:outside', data]}\n"
        "  data: {image: x, profiles: [storage]}\n"
    )
    project = project_of(load_files, text)
    assert project.service_names == ("data", "app")
    assert project.service("app").depends_on == (Dependency("data", STARTED, restart=False),)
    assert project.service("app").volumes_from == ("data:ro", "container:outside", "data")


def test_home_is_read_only_by_a_file_that_needs_it(load_files: Load) -> None:
    loaded = load_files({"compose.yaml": "services: {a: {image: x, volumes: [/data]}}\n"})
    assert "HOME" not in dict(loaded.variables)
    loaded = load_files(
        {"compose.yaml": "services: {a: {image: x, volumes: ['~/d:/d']}}\n"}, env={"HOME": "/h"}
    )
    assert dict(loaded.variables)["HOME"] == "/h"
    assert loaded.project.service("a").volumes[0].source == "/h/d"


# --- hashes -------------------------------------------------------------------------------


def test_a_file_without_volumes_keeps_the_hash_it_had(load_files: Load) -> None:
    text = (
        "services:\n  web:\n    image: alpine\n    command: [sleep, '1']\n"
        "    ports: ['8080:80']\n    environment: {A: b}\n"
    )
    # the hash this service had before hatoba's compose knew volumes
    expected = "24a20ec909e8d6cb134005e5952213a123fd5ef19872cee02bc9cfcbc78f1b75"
    assert project_of(load_files, text).service("web").config_hash == expected


def test_the_hash_follows_the_volumes_of_a_service(load_files: Load) -> None:
    def hash_of(service: str, volumes: str = "data: {}") -> str:
        text = f"services:\n  a: {{image: x, {service}}}\n  b: {{image: x}}\nvolumes: {{{volumes}}}"
        return project_of(load_files, text).service("a").config_hash

    base = hash_of("volumes: ['data:/d']")
    assert base == hash_of("volumes: [{type: volume, source: data, target: /d}]")
    assert base != hash_of("volumes: ['data:/d:ro']")
    assert base != hash_of("volumes: ['data:/other']")
    # the same key on another engine volume is another mount
    assert base != hash_of("volumes: ['data:/d']", "data: {name: elsewhere}")
    plain = hash_of("command: [x]")
    assert plain != hash_of("command: [x], tmpfs: /run")
    assert plain != hash_of("command: [x], volumes_from: [b]")


# --- requests -----------------------------------------------------------------------------


def test_mounts_go_as_docker_compose_sends_them(load_files: Load, project_dir: Path) -> None:
    project = load_files(
        {"compose.yaml": SERVICE_VOLUMES}, env={"HOME": "/home/u"}, project_name="p"
    ).project
    host = requests.create_body(project, project.service("web"), 1, "p-web-1")["HostConfig"]
    # a bind that makes its missing folder is a Binds string: the Mounts API refuses it
    assert host["Binds"] == [
        f"{project_dir}/site:/usr/share/www:ro",
        f"{project_dir.parent}/shared:/shared:rw",
        "/home/u/conf:/etc/app:rw",
        "/srv/logs:/logs:rw,rslave",
        f"{project_dir}/relative/dir:/rel:ro,rprivate",
    ]
    assert host["Mounts"] == [
        {"Type": "volume", "Target": "/data", "Source": "p_data",
         "VolumeOptions": {"NoCopy": True, "Labels": {}}},
        {"Type": "volume", "Target": "/cache"},
        {"Type": "volume", "Target": "/var/cache/app", "Source": "shared-cache"},
        {"Type": "volume", "Target": "/copy", "Source": "p_data",
         "VolumeOptions": {"NoCopy": True, "Labels": {}}},
        {"Type": "volume", "Target": "/anon", "VolumeOptions": {"NoCopy": False,
                                                               "Labels": {"k": "v"}}},
        {"Type": "tmpfs", "Target": "/scratch",
         "TmpfsOptions": {"SizeBytes": 64 << 20, "Mode": 0o1777}},
        {"Type": "bind", "Target": "/opt", "Source": "/opt", "Consistency": "cached"},
    ]  # fmt: skip
    assert host["Tmpfs"] == {"/run": "", "/tmp": "size=64m,mode=1777"}


def test_a_service_without_volumes_asks_for_no_mounts(load_files: Load) -> None:
    project = project_of(load_files, "services: {a: {image: x}}\n")
    host = requests.create_body(project, project.service("a"), 1, "a-1")["HostConfig"]
    assert not {"Binds", "Mounts", "Tmpfs", "VolumesFrom"} & set(host)


def test_volume_body_is_labelled_as_docker_compose_labels_it(load_files: Load) -> None:
    text = (
        "services: {a: {image: x, volumes: ['data:/d']}}\n"
        "volumes: {data: {labels: {team: a}, driver_opts: {size: 1}}}\n"
    )
    project = project_of(load_files, text, project_name="p")
    assert requests.volume_body(project, project.volume("data")) == {
        "Name": "p_data",
        "Driver": "",
        "DriverOpts": {"size": "1"},
        "Labels": {
            "team": "a",
            "com.docker.compose.volume": "data",
            "com.docker.compose.project": "p",
            "com.docker.compose.version": requests.COMPOSE_VERSION,
        },
    }


# --- plans --------------------------------------------------------------------------------

VOLUMES = (
    "services:\n"
    "  db: {image: x, volumes: ['data:/var/lib/db', /scratch, 'shared:/shared']}\n"
    "  web: {image: x, volumes: ['./site:/www'], volumes_from: [db]}\n"
    "volumes:\n  data: {}\n  shared: {external: true, name: team-files}\n  unused: {}\n"
)
ANON = "a" * 64
INHERITED = "b" * 64


@pytest.fixture
def volumes_project(load_files: Load) -> Project:
    return project_of(load_files, VOLUMES, project_name="p")


def test_up_makes_the_missing_project_volumes(volumes_project: Project) -> None:
    team = ObservedVolume("team-files")
    plan = plan_up(volumes_project, [], [], UpOptions(), [team])
    assert [v.name for v in plan.create_volumes] == ["p_data"]
    assert plan.changes
    mine = ObservedVolume("p_data", {requests.PROJECT: "p"})
    assert plan_up(volumes_project, [], [], UpOptions(), [team, mine]).create_volumes == ()
    # what the chosen services mount: web mounts db's volumes, so db and its volume come too
    chosen = plan_up(volumes_project, [], [], UpOptions(services=("web",)), [team])
    assert [v.name for v in chosen.create_volumes] == ["p_data"]


def test_an_external_volume_must_exist(volumes_project: Project) -> None:
    with pytest.raises(ComposeError, match='external volume "team-files" not found'):
        plan_up(volumes_project, [], [], UpOptions(), [])


def test_a_volume_the_project_did_not_make_is_used_with_a_warning(
    volumes_project: Project,
) -> None:
    team = ObservedVolume("team-files")
    for labels, warning in (
        ({}, 'volume "p_data" already exists but was not created by Docker Compose'),
        ({requests.PROJECT: "q"}, 'volume "p_data" already exists but was created for project'),
    ):
        found = [team, ObservedVolume("p_data", labels)]
        plan = plan_up(volumes_project, [], [], UpOptions(), found)
        assert plan.create_volumes == ()
        assert any(w.startswith(warning) for w in plan.warnings), plan.warnings


def test_observe_containers_and_volumes_read_mounts() -> None:
    summary = {
        "Id": "c",
        "Names": ["/p-db-1"],
        "Labels": {requests.SERVICE: "db", requests.NUMBER: "1"},
        "Mounts": [
            {"Type": "volume", "Name": ANON, "Destination": "/scratch", "RW": True},
            {"Type": "bind", "Source": "/x", "Destination": "/x", "RW": False},
        ],
    }
    assert observe_containers([summary])[0].mounts == (
        ObservedMount("volume", "/scratch", ANON, True),
        ObservedMount("bind", "/x", "", False),
    )
    listing = {"Volumes": [{"Name": "p_data", "Labels": {"a": "b"}}, {"Name": "x"}]}
    assert observe_volumes(listing) == [
        ObservedVolume("p_data", {"a": "b"}),
        ObservedVolume("x"),
    ]
    assert observe_volumes({"Volumes": None}) == []


def _db(*mounts: ObservedMount, **kw: object) -> Observed:
    fields: dict[str, object] = {
        "id": "db1",
        "name": "p-db-1",
        "service": "db",
        "number": 1,
        "state": "running",
        "mounts": mounts,
    }
    fields.update(kw)
    return Observed(**fields)  # type: ignore[arg-type]


def test_a_replacement_keeps_the_anonymous_volumes_of_the_file_and_the_image(
    volumes_project: Project,
) -> None:
    old = _db(
        ObservedMount("volume", "/var/lib/db", "p_data"),
        ObservedMount("volume", "/scratch", ANON),
        ObservedMount("volume", "/image-volume", INHERITED, rw=False),
        ObservedMount("volume", "/dropped", "c" * 64),
        ObservedMount("tmpfs", "/image-tmp"),
    )
    db = volumes_project.service("db")
    kept = inherited_mounts(db, old, {"/image-volume", "/image-tmp"})
    assert kept == [
        {"Type": "volume", "Source": ANON, "Target": "/scratch", "ReadOnly": False},
        {"Type": "volume", "Source": INHERITED, "Target": "/image-volume", "ReadOnly": True},
    ]
    mounts = requests.create_body(volumes_project, db, 1, "x", inherited=kept)["HostConfig"][
        "Mounts"
    ]
    assert [(m["Target"], m.get("Source", "")) for m in mounts] == [
        ("/scratch", ANON),
        ("/image-volume", INHERITED),
        ("/var/lib/db", "p_data"),
        ("/shared", "team-files"),
    ]
    # a file's mount at an image volume's place wins over what the old container had there
    kept = inherited_mounts(db, _db(ObservedMount("volume", "/var/lib/db", ANON)), {"/var/lib/db"})
    mounts = requests.create_body(volumes_project, db, 1, "x", inherited=kept)["HostConfig"][
        "Mounts"
    ]
    assert ("/var/lib/db", "p_data") in [(m["Target"], m.get("Source")) for m in mounts]


def test_anonymous_volumes_are_the_unnamed_ones() -> None:
    containers = [
        _db(
            ObservedMount("volume", "/d", "p_data"),
            ObservedMount("volume", "/a", ANON),
            ObservedMount("volume", "/n", "d" * 64),
            ObservedMount("bind", "/b"),
        ),
        _db(ObservedMount("volume", "/a", ANON), id="db2"),
    ]
    assert anonymous_volumes(containers, {"p_data", "d" * 64}) == [ANON]


def test_down_v_removes_anonymous_and_project_volumes(volumes_project: Project) -> None:
    db = _db(ObservedMount("volume", "/var/lib/db", "p_data"), ObservedMount("volume", "/s", ANON))
    orphan = _db(ObservedMount("volume", "/s", INHERITED), id="o", service="gone")
    existing = [
        ObservedVolume("p_data", {requests.PROJECT: "p"}),
        ObservedVolume("team-files"),
        ObservedVolume("p_unused", {requests.PROJECT: "p"}),
    ]
    plan = plan_down(volumes_project, "p", [db, orphan], [], remove_orphans=True, volumes=existing)
    # never external ones, nor the anonymous volumes of orphans (as docker compose)
    assert plan.volumes == (ANON, "p_data")
    assert plan_down(volumes_project, "p", [db], [], remove_orphans=False).volumes == ()
    # without the file: what carries the project's label
    by_label = plan_down(None, "p", [db, orphan], [], remove_orphans=False, volumes=existing)
    assert by_label.volumes == (ANON, INHERITED, "p_data", "p_unused")
