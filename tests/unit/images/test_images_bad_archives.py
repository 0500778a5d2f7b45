"""Bad archives are refused with a clear error and leave the store exactly as it was."""

from __future__ import annotations

import io
import json
import re
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fixtures.bad_archives import GOOD, OTHER, UNSAFE_LAYERS
from fixtures.image_archives import (
    ArchiveImage,
    content_end,
    digest,
    docker_save,
    files_tar,
    gzipped,
    image_config,
    oci_layout,
    snapshot,
    symlink,
    tar_bytes,
)
from hatoba.errors import InvalidArgument
from hatoba.images import ImageStore

GOOD_END = content_end(GOOD)


@pytest.fixture
def populated(store: ImageStore) -> Iterator[ImageStore]:
    """A store with one image in it; after each test it must be byte for byte the same."""
    store.load(io.BytesIO(docker_save([ArchiveImage([GOOD], ["good:1"])])))
    root = store._root
    before = snapshot(root)
    yield store
    assert snapshot(root) == before
    assert list((root / "tmp").iterdir()) == []
    assert [i.repo_tags for i in store.list()] == [("good:1",)]


def refused(action: Callable[[], object], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        action()


def import_bytes(store: ImageStore, data: bytes) -> Callable[[], object]:
    return lambda: store.import_rootfs(io.BytesIO(data), "bad:1")


def load_bytes(store: ImageStore, data: bytes) -> Callable[[], object]:
    return lambda: store.load(io.BytesIO(data))


@pytest.mark.parametrize("case", sorted(UNSAFE_LAYERS))
def test_unsafe_import_is_refused(populated: ImageStore, case: str) -> None:
    members, message = UNSAFE_LAYERS[case]
    refused(import_bytes(populated, tar_bytes(*members)), re.escape(message))


@pytest.mark.parametrize("case", sorted(UNSAFE_LAYERS))
def test_unsafe_layer_in_a_loaded_image_is_refused(populated: ImageStore, case: str) -> None:
    members, message = UNSAFE_LAYERS[case]
    # the bad layer comes after a good one that was already staged
    image = ArchiveImage([OTHER, tar_bytes(*members)], ["bad:1"])
    refused(load_bytes(populated, docker_save([image])), re.escape(message))


def test_absolute_symlink_target_is_kept_as_such(store: ImageStore) -> None:
    """Real images have them (busybox applets point at /bin/busybox)."""
    image = store.import_rootfs(io.BytesIO(tar_bytes(symlink("sh", "/bin/busybox"))), None)
    assert (store.layer_dirs(image)[0] / "sh").readlink() == Path("/bin/busybox")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not a tar archive"),
        (b"hello, this is not a tar file\n", "not a tar archive"),
        (b"\x00" * 100 + b"x" * 5000, "not a tar archive"),
        (GOOD[:700], "unexpected end of data"),  # inside the first member's data
        (GOOD[:1024], "unexpected end of data"),  # at a member boundary, no end marker
        (GOOD[:1100], "unexpected end of data"),  # inside a header
        (GOOD[:GOOD_END] + b"garbage" * 200, f"invalid tar header at offset {GOOD_END}"),
        (gzipped(GOOD)[:-10], "cannot read the archive"),
        (b"\x28\xb5\x2f\xfd" + b"\x00" * 600, "zstd-compressed archives are not supported"),
    ],
)
def test_broken_rootfs_tarball(populated: ImageStore, data: bytes, message: str) -> None:
    refused(import_bytes(populated, data), message)


def good_archive() -> bytes:
    return docker_save([ArchiveImage([OTHER], ["other:1"])])


@pytest.mark.parametrize("where", ["header", "data", "end"])
def test_truncated_docker_save_archive(populated: ImageStore, where: str) -> None:
    archive = good_archive()
    end = content_end(archive)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tf:
        second = tf.getmembers()[1].offset
    cut = {"header": second + 100, "data": end - 100, "end": end}[where]
    refused(load_bytes(populated, archive[:cut]), "invalid image archive: unexpected end of data")


def test_truncated_compressed_archive(populated: ImageStore) -> None:
    refused(load_bytes(populated, gzipped(good_archive())[:-100]), "cannot read the archive")


def test_a_plain_rootfs_is_not_an_image_archive(populated: ImageStore) -> None:
    refused(
        load_bytes(populated, GOOD),
        "^invalid image archive: neither a docker save archive \\(manifest.json\\)"
        " nor an OCI image layout \\(oci-layout, index.json\\)$",
    )


def test_config_digest_must_match_its_name(populated: ImageStore) -> None:
    config = image_config([OTHER])
    archive = docker_save([ArchiveImage([OTHER], ["x:1"], config=config)])
    # same length, other content: the name still claims the original digest
    tampered = archive.replace(config, config.replace(b"2024-01-02", b"2024-01-03"))
    assert tampered != archive
    refused(load_bytes(populated, tampered), f"invalid digest for {digest(config)[7:]}.json")


def test_layer_must_match_the_config_diff_id(populated: ImageStore) -> None:
    image = ArchiveImage([OTHER], ["x:1"], config=image_config([GOOD]))
    refused(
        load_bytes(populated, docker_save([image])),
        re.escape(f'invalid diffID for layer 0: expected "{digest(GOOD)}", got "{digest(OTHER)}"'),
    )


def test_blob_layer_must_match_its_name(populated: ImageStore) -> None:
    bogus = f"blobs/sha256/{'0' * 64}"
    config = image_config([OTHER])
    manifest = [{"Config": f"blobs/sha256/{digest(config)[7:]}", "Layers": [bogus]}]
    archive = files_tar(
        {
            f"blobs/sha256/{digest(config)[7:]}": config,
            bogus: OTHER,
            "manifest.json": json.dumps(manifest).encode(),
        }
    )
    refused(load_bytes(populated, archive), "^invalid digest for layer 0: expected sha256:0000")


def test_missing_layer(populated: ImageStore) -> None:
    archive = docker_save([ArchiveImage([OTHER], ["x:1"])])
    broken = archive.replace(b'/layer.tar"]', b'/other.tar"]')
    refused(load_bytes(populated, broken), "invalid image archive: .*/other.tar is missing")


def test_bad_manifest_json(populated: ImageStore) -> None:
    archive = docker_save([ArchiveImage([OTHER], ["x:1"])])
    manifest = archive[archive.index(b'[{"Config"') :].split(b"\x00", 1)[0]
    broken = archive.replace(manifest, b"{" + b" " * (len(manifest) - 1))
    refused(load_bytes(populated, broken), "invalid image archive: manifest.json")


def test_bad_tag_in_manifest(populated: ImageStore) -> None:
    refused(
        load_bytes(populated, docker_save([ArchiveImage([OTHER], ["Bad:1"])])),
        "repository name must be lowercase",
    )


def oci_with(mutate: Callable[[dict[str, bytes]], None]) -> bytes:
    """An OCI layout whose blobs `mutate` may tamper with (by path)."""
    archive = oci_layout([ArchiveImage([OTHER], annotations={"io.containerd.image.name": "o:1"})])
    with tarfile.open(fileobj=io.BytesIO(archive)) as tf:
        files = {m.name: tf.extractfile(m).read() for m in tf}  # type: ignore[union-attr]
    mutate(files)
    return files_tar(files)


def blob_path(data: bytes) -> str:
    return f"blobs/sha256/{digest(data)[7:]}"


def test_oci_layer_digest_mismatch(populated: ImageStore) -> None:
    def swap_layer(files: dict[str, bytes]) -> None:
        files[blob_path(OTHER)] = GOOD

    refused(
        load_bytes(populated, oci_with(swap_layer)),
        re.escape(f"invalid digest for layer 0: expected {digest(OTHER)}, got {digest(GOOD)}"),
    )


def test_oci_config_digest_mismatch(populated: ImageStore) -> None:
    def change_config(files: dict[str, bytes]) -> None:
        path = blob_path(image_config([OTHER]))
        files[path] = files[path].replace(b"2024", b"2025")

    refused(load_bytes(populated, oci_with(change_config)), "invalid digest for blobs/sha256/")


def test_oci_manifest_digest_mismatch(populated: ImageStore) -> None:
    def change_manifest(files: dict[str, bytes]) -> None:
        index = json.loads(files["index.json"])
        path = "blobs/sha256/" + index["manifests"][0]["digest"][7:]
        files[path] = files[path].replace(b"schemaVersion", b"schemaversion")

    refused(load_bytes(populated, oci_with(change_manifest)), "invalid digest for blobs/sha256/")


def test_oci_without_a_platform_match(populated: ImageStore) -> None:
    def only_s390x(files: dict[str, bytes]) -> None:
        index = json.loads(files["index.json"])
        manifest = index["manifests"][0]
        nested = {
            "schemaVersion": 2,
            "manifests": [dict(manifest, platform={"os": "linux", "architecture": "s390x"})],
        }
        data = json.dumps(nested).encode()
        files[f"blobs/sha256/{digest(data)[7:]}"] = data
        index["manifests"] = [
            {
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "digest": digest(data),
                "size": len(data),
            }
        ]
        files["index.json"] = json.dumps(index).encode()

    refused(
        load_bytes(populated, oci_with(only_s390x)),
        "no matching manifest for linux/.* in the manifest list entries",
    )


def test_second_image_failing_leaves_the_first_unloaded(populated: ImageStore) -> None:
    good = ArchiveImage([OTHER], ["fine:1"])
    bad = ArchiveImage([OTHER], ["bad:1"], config=image_config([GOOD]))
    refused(load_bytes(populated, docker_save([good, bad])), "invalid diffID")
