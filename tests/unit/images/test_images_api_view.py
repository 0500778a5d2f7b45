"""The store in Docker API shapes: list filters, import/tag references, uploads and saves in
temporary files that leave nothing behind."""

from __future__ import annotations

import io
import json
import tarfile

import pytest

from fixtures.image_archives import ArchiveImage, docker_save, file, image_config, tar_bytes
from hatoba.errors import InvalidArgument, NotFound
from hatoba.images import ImageStore
from hatoba.images.api_view import ApiImages

BASE = tar_bytes(file("base", b"base"))


def add(store: ImageStore, created: str, *tags: str, **config: object) -> str:
    raw = json.loads(image_config([BASE], **config))
    raw["created"] = created
    data = json.dumps(raw).encode()
    store.load(io.BytesIO(docker_save([ArchiveImage([BASE], list(tags), config=data)])))
    return store.resolve(tags[0]).id if tags else store.list()[0].id


@pytest.fixture
def api(store: ImageStore) -> ApiImages:
    add(store, "2024-01-01T00:00:00Z", "alpine:latest", "alpine:3", "me/alpine:1")
    add(store, "2024-02-01T00:00:00Z", "httpd:latest", Labels={"tier": "web"})
    add(store, "2024-03-01T00:00:00Z", "nettools:1", "nettools:2", Labels={"tier": "tools"})
    store.remove("nettools:1", False, lambda _i: [])
    store.remove("nettools:2", False, lambda _i: [])
    add(store, "2024-04-01T00:00:00Z", Labels={"x": "y"})  # dangling
    return ApiImages(store)


def tags(api: ApiImages, **filters: list[str]) -> list[list[str]]:
    return [s["RepoTags"] for s in api.summaries(filters)]


def test_filters(api: ApiImages) -> None:
    everything = tags(api)
    assert everything == [
        ["<none>:<none>"],
        ["httpd:latest"],
        ["alpine:3", "alpine:latest", "me/alpine:1"],
    ]
    assert tags(api, dangling=["true"]) == [["<none>:<none>"]]
    assert tags(api, dangling=["false"]) == everything[1:]
    assert tags(api, label=["tier"]) == [["httpd:latest"]]
    assert tags(api, label=["tier=tools"]) == []
    assert tags(api, before=["httpd"]) == [everything[2]]
    assert tags(api, since=["alpine:3"]) == everything[:2]
    # reference: a glob on name:tag or the name; `*` stops at `/`; only matching tags stay
    assert tags(api, reference=["alpine"]) == [["alpine:3", "alpine:latest"]]
    assert tags(api, reference=["alpine:3"]) == [["alpine:3"]]
    assert tags(api, reference=["*alpine*"]) == [["alpine:3", "alpine:latest"]]
    assert tags(api, reference=["*/*"]) == [["me/alpine:1"]]
    assert tags(api, reference=["[ah]*:lat?st"]) == [["httpd:latest"], ["alpine:latest"]]


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"name": ["x"]}, "invalid filter 'name'"),
        ({"dangling": ["maybe"]}, "Invalid filter 'dangling=maybe'"),
    ],
)
def test_bad_filters(api: ApiImages, filters: dict[str, list[str]], message: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        api.summaries(filters)
    assert err.value.message == message


def test_unknown_before_image(api: ApiImages) -> None:
    with pytest.raises(NotFound):
        api.summaries({"before": ["nope"]})


ROOTFS = tar_bytes(file("bin/tool", b"x"))


@pytest.mark.parametrize(
    ("repo", "tag", "expected"),
    [
        ("img", "", "img:latest"),
        ("img:v1", "", "img:v1"),
        ("img:v1", "v2", "img:v2"),
        ("localhost:5000/img", "", "localhost:5000/img:latest"),
    ],
)
def test_import_reference(store: ImageStore, repo: str, tag: str, expected: str) -> None:
    image_id = ApiImages(store).import_rootfs(io.BytesIO(ROOTFS), repo, tag, [], "")
    assert store.resolve(expected).id == image_id


def test_import_without_repo_is_dangling(store: ImageStore) -> None:
    image_id = ApiImages(store).import_rootfs(io.BytesIO(ROOTFS), "", "", ["ENV A=1"], "msg")
    inspected = store.inspect(image_id)
    assert inspected["RepoTags"] == []
    assert inspected["Comment"] == "msg" and inspected["Config"]["Env"] == ["A=1"]


def test_tag(api: ApiImages, store: ImageStore) -> None:
    api.tag("httpd", "web:1", "")
    api.tag("httpd", "web:1", "2")
    api.tag("httpd", "web", "")
    assert store.resolve("httpd").repo_tags == ("httpd:latest", "web:1", "web:2", "web:latest")
    with pytest.raises(InvalidArgument, match="at least one component"):
        api.tag("httpd", "", "x")
    with pytest.raises(NotFound):
        api.tag("nope", "web", "")


def test_upload_and_save_files_leave_nothing(api: ApiImages, store: ImageStore) -> None:
    with api.upload_file() as upload:
        upload.write(b"x" * (2 << 20))  # beyond the in-memory part
    archive = api.save(["httpd"])
    with tarfile.open(fileobj=archive) as tf:
        manifest = json.load(tf.extractfile("manifest.json"))  # type: ignore[arg-type]
    archive.close()
    assert manifest[0]["RepoTags"] == ["httpd:latest"]
    with pytest.raises(NotFound):
        api.save(["httpd", "nope"])
    assert list(store.staging.iterdir()) == []
    assert api.count() == 3
