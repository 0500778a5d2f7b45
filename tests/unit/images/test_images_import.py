"""`import`: a root file system tarball becomes a one-layer image, with --change applied."""

from __future__ import annotations

import bz2
import io
import json
import lzma
import re

import pytest

from fixtures.image_archives import digest, directory, file, gzipped, symlink, tar_bytes
from hatoba.errors import InvalidArgument
from hatoba.images import ImageConfig, ImageStore
from hatoba.model.health import HealthConfig

ROOTFS = tar_bytes(
    directory("bin"), file("bin/tool", b"#!/bin/sh\n", 0o755), symlink("bin/sh", "tool")
)


class OneWay:
    """A non-seekable stream handing out at most 1000 bytes a read, like an HTTP body."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def read(self, size: int = -1) -> bytes:
        size = min(1000, size if size >= 0 else 1000)
        chunk, self._data = self._data[:size], self._data[size:]
        return chunk


def imported(store: ImageStore, *changes: str) -> ImageConfig:
    return store.import_rootfs(io.BytesIO(ROOTFS), "img", changes).config


def test_import_without_changes_is_docker_shaped(store: ImageStore) -> None:
    image = store.import_rootfs(io.BytesIO(ROOTFS), "example.com:5000/team/app:v1")
    assert image.repo_tags == ("example.com:5000/team/app:v1",)
    assert image.diff_ids == (digest(ROOTFS),)
    assert image.config == ImageConfig()
    assert image.size == len(b"#!/bin/sh\n")
    raw = json.loads((store._configs / image.id[7:]).read_bytes())
    assert digest((store._configs / image.id[7:]).read_bytes()) == image.id
    assert raw["comment"] == "Imported from -"
    assert raw["rootfs"] == {"type": "layers", "diff_ids": [digest(ROOTFS)]}
    assert raw["config"]["Env"] is None and raw["config"]["Cmd"] is None


def test_cmd_and_entrypoint_exec_and_shell_forms(store: ImageStore) -> None:
    config = imported(store, 'CMD ["/bin/echo", "a b"]', "ENTRYPOINT /bin/run --flag $X")
    assert config.cmd == ("/bin/echo", "a b")
    assert config.entrypoint == ("/bin/sh", "-c", "/bin/run --flag $X")
    assert imported(store, "cmd [not json").cmd == ("/bin/sh", "-c", "[not json")


def test_env_forms_replace_earlier_values(store: ImageStore) -> None:
    config = imported(store, 'ENV A=1 B="two words"', "ENV C legacy form value", "ENV A=3")
    assert config.env == ("B=two words", "C=legacy form value", "A=3")


def test_expose_workdir_label_user(store: ImageStore) -> None:
    config = imported(
        store,
        "EXPOSE 80 53/udp 8000-8001/tcp",
        "WORKDIR /srv",
        "WORKDIR app",
        'LABEL maintainer="me" tier=web',
        "USER nobody",
    )
    assert config.exposed_ports == ("53/udp", "80/tcp", "8000/tcp", "8001/tcp")
    assert config.workdir == "/srv/app"
    assert config.labels == (("maintainer", "me"), ("tier", "web"))
    assert config.user == "nobody"


def test_volume_forms(store: ImageStore) -> None:
    config = imported(store, "VOLUME /var/log /var/db", 'VOLUME ["/data"]')
    assert config.volumes == ("/data", "/var/db", "/var/log")
    assert imported(store).volumes == ()


def test_healthcheck_forms(store: ImageStore) -> None:
    image = store.import_rootfs(
        io.BytesIO(ROOTFS),
        "checked",
        ["HEALTHCHECK --retries=2 --interval=100ms CMD wget -q -O- localhost || exit 1"],
    )
    assert image.config.healthcheck == HealthConfig(
        ("CMD-SHELL", "wget -q -O- localhost || exit 1"), interval=100_000_000, retries=2
    )
    raw = json.loads((store._configs / image.id[7:]).read_bytes())
    # Go's field order and omitempty: the config's bytes are the image id
    assert list(raw["config"]["Healthcheck"]) == ["Test", "Interval", "Retries"]
    exec_form = imported(store, 'HEALTHCHECK --timeout=2s CMD ["/bin/check", "a b"]')
    assert exec_form.healthcheck == HealthConfig(("CMD", "/bin/check", "a b"), timeout=2 * 10**9)
    assert imported(store, "HEALTHCHECK NONE").healthcheck == HealthConfig(("NONE",))
    assert imported(store).healthcheck is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("HEALTHCHECK", "HEALTHCHECK requires at least one argument"),
        ("HEALTHCHECK NONE now", "HEALTHCHECK NONE takes no arguments"),
        ("HEALTHCHECK RUN x", 'Unknown type "RUN" in HEALTHCHECK (try CMD)'),
        ("HEALTHCHECK CMD", "Missing command after HEALTHCHECK CMD"),
        ("HEALTHCHECK --interval=0s CMD x", 'Interval "interval" cannot be less than 1ms'),
        ("HEALTHCHECK --interval=soon CMD x", 'time: invalid duration "soon"'),
        ("HEALTHCHECK --retries=0 CMD x", "--retries must be at least 1 (not 0)"),
        ("HEALTHCHECK --every=1s CMD x", "Unknown flag: every"),
        ("HEALTHCHECK --timeout CMD x", "Missing a value on flag: timeout"),
        ("RUN make", "run is not a valid change command"),
        ("ONBUILD RUN make", "onbuild is not supported as a change command by hatoba"),
        ("VOLUME", "VOLUME requires at least one argument"),
        ('VOLUME ["/a", ""]', "VOLUME specified can not be an empty string"),
        ("EXPOSE 80/icmp", "invalid proto: icmp"),
        ("EXPOSE http", "invalid containerPort: http"),
        ("CMD", "CMD requires at least one argument"),
        ("ENV =x", "ENV names can not be blank"),
    ],
)
def test_bad_changes_are_refused_before_reading(
    store: ImageStore, change: str, message: str
) -> None:
    stream = OneWay(ROOTFS)
    with pytest.raises(InvalidArgument, match=f"^{re.escape(message)}$"):
        store.import_rootfs(stream, "img", [change])
    assert stream.read() != b""  # nothing was consumed
    assert store.list() == []


@pytest.mark.parametrize("compress", [gzipped, bz2.compress, lzma.compress, lambda b: b])
def test_compressed_and_non_seekable_input(store: ImageStore, compress: object) -> None:
    assert callable(compress)
    image = store.import_rootfs(OneWay(compress(ROOTFS)), None)
    # the diff id is of the uncompressed tar, whatever the transport
    assert image.diff_ids == (digest(ROOTFS),)
    assert image.repo_tags == ()
    assert (store.layer_dirs(image)[0] / "bin/tool").read_bytes() == b"#!/bin/sh\n"


def test_import_moves_an_existing_tag(store: ImageStore) -> None:
    first = store.import_rootfs(io.BytesIO(ROOTFS), "app")
    second = store.import_rootfs(io.BytesIO(ROOTFS), "app:latest", message="again")
    assert first.id != second.id  # the creation time differs
    assert store.resolve("app").id == second.id
    assert store.resolve(first.id).repo_tags == ()
    assert store.inspect("app")["Comment"] == "again"


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("App", "invalid reference format: repository name must be lowercase"),
        ("app:bad tag", "invalid reference format"),
        (
            "a" * 64,
            f"invalid repository name ({'a' * 64}), cannot specify 64-byte hexadecimal strings",
        ),
    ],
)
def test_bad_reference_is_refused(store: ImageStore, reference: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=f"^{re.escape(message)}$"):
        store.import_rootfs(io.BytesIO(ROOTFS), reference)
    assert store.list() == []
