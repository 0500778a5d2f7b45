"""Naming and removing: resolve, tag, rmi (Docker's untag/delete rules and conflicts), list,
inspect."""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Callable

import pytest

from fixtures.image_archives import ArchiveImage, digest, docker_save, file, image_config, tar_bytes
from hatoba.errors import Conflict, InvalidArgument, NotFound
from hatoba.images import Image, ImageStore
from hatoba.images.docker_json import summary

BASE = tar_bytes(file("base", b"base"))
TOP = tar_bytes(file("top", b"top!"))
CONTAINER = "1a2b3c4d5e6f" + "0" * 52


def load(
    store: ImageStore, *tags: str, layers: tuple[bytes, ...] = (BASE,), **config: object
) -> Image:
    image = ArchiveImage(list(layers), list(tags), config=image_config(layers, **config))
    store.load(io.BytesIO(docker_save([image])))
    return store.resolve(digest(image.config_bytes()))


def unused(_image_id: str) -> list[str]:
    return []


def used_by(image: Image) -> Callable[[str], list[str]]:
    return lambda image_id: [CONTAINER] if image_id == image.id else []


def test_resolve_by_name_tag_id_and_prefix(store: ImageStore) -> None:
    image = load(store, "alpine:latest", "registry.local:5000/ns/alpine:3")
    for text in (
        "alpine",
        "alpine:latest",
        "docker.io/library/alpine",
        "registry.local:5000/ns/alpine:3",
        image.id,
        image.id[7:],
        image.id[7:19],
        image.id[:12],
    ):
        assert store.resolve(text).id == image.id, text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("alpine", "No such image: alpine:latest"),
        ("alpine:3", "No such image: alpine:3"),
        ("sha256:" + "f" * 64, "No such image: sha256:" + "f" * 64),
        ("f" * 64, "No such image: " + "f" * 64),
        ("Bad Name", "No such image: Bad Name"),
    ],
)
def test_not_found_texts(store: ImageStore, text: str, message: str) -> None:
    load(store, "other:1")
    with pytest.raises(NotFound, match=f"^{re.escape(message)}$"):
        store.resolve(text)


def test_ambiguous_prefix_is_not_found(store: ImageStore) -> None:
    first, second = load(store, "a:1"), load(store, "b:1", layers=(TOP,))
    common = next(n for n in range(65) if first.id[7 + n] != second.id[7 + n])
    with pytest.raises(NotFound):
        store.resolve(first.id[7 : 7 + common])  # empty when they differ at once
    assert store.resolve(first.id[7 : 7 + common + 1]).id == first.id


def test_tag_adds_a_name_and_moves_an_existing_one(store: ImageStore) -> None:
    first, second = load(store, "a:1"), load(store, "b:1", layers=(TOP,))
    store.tag("a:1", "docker.io/library/c")
    assert store.resolve("c:latest").repo_tags == ("a:1", "c:latest")
    store.tag(second.id[:12], "c")
    assert store.resolve("c").id == second.id
    assert store.resolve(first.id).repo_tags == ("a:1",)
    with pytest.raises(NotFound, match=r"^No such image: nope:latest$"):
        store.tag("nope", "d")
    with pytest.raises(InvalidArgument):
        store.tag("a:1", "UPPER")


def test_rmi_of_one_of_several_tags_only_untags(store: ImageStore) -> None:
    image = load(store, "a:1", "a:2")
    assert store.remove("a:1", False, used_by(image)) == [{"Untagged": "a:1"}]
    assert store.resolve(image.id).repo_tags == ("a:2",)


def test_rmi_of_the_last_tag_deletes_image_and_layers(store: ImageStore) -> None:
    keep = load(store, "keep:1")
    image = load(store, "a:1", layers=(BASE, TOP))
    records = store.remove("a:1", False, unused)
    chain_top = store_chain(BASE, TOP)
    assert records == [{"Untagged": "a:1"}, {"Deleted": image.id}, {"Deleted": chain_top}]
    assert [i.id for i in store.list()] == [keep.id]
    # the shared base layer stays for the other image, the top one is gone
    assert {p.name for p in store._layers.root.iterdir()} == {digest(BASE)[7:]}


def store_chain(*layers: bytes) -> str:
    chain = digest(layers[0])
    for layer in layers[1:]:
        chain = "sha256:" + hashlib.sha256(f"{chain} {digest(layer)}".encode()).hexdigest()
    return chain


def test_rmi_by_id_with_one_tag_untags_and_deletes(store: ImageStore) -> None:
    image = load(store, "a:1")
    assert store.remove(image.id[7:19], False, unused) == [
        {"Untagged": "a:1"},
        {"Deleted": image.id},
        {"Deleted": digest(BASE)},
    ]
    assert store.list() == []
    assert list(store._layers.root.iterdir()) == []
    assert list(store._configs.iterdir()) == []


def test_rmi_by_id_with_several_tags_needs_force(store: ImageStore) -> None:
    image = load(store, "a:1", "b:1")
    short = image.id[7:19]
    with pytest.raises(
        Conflict,
        match=f"^conflict: unable to delete {short} \\(must be forced\\)"
        " - image is referenced in multiple repositories$",
    ):
        store.remove(short, False, unused)
    assert store.remove(short, True, unused) == [
        {"Untagged": "a:1"},
        {"Untagged": "b:1"},
        {"Deleted": image.id},
        {"Deleted": digest(BASE)},
    ]


def test_rmi_by_name_refused_while_a_container_uses_the_image(store: ImageStore) -> None:
    image = load(store, "alpine:latest")
    with pytest.raises(Conflict) as err:
        store.remove("alpine:latest", False, used_by(image))
    assert err.value.message == (
        'conflict: unable to remove repository reference "alpine:latest" (must force)'
        f" - container 1a2b3c4d5e6f is using its referenced image {image.id[7:19]}"
    )
    assert store.resolve("alpine").id == image.id


def test_rmi_by_id_refused_while_a_stopped_container_uses_the_image(store: ImageStore) -> None:
    image = load(store, "alpine:latest")
    with pytest.raises(Conflict) as err:
        store.remove(image.id[7:19], False, used_by(image))
    assert err.value.message == (
        f"conflict: unable to delete {image.id[7:19]} (must be forced)"
        " - image is being used by stopped container 1a2b3c4d5e6f"
    )
    assert store.resolve("alpine").repo_tags == ("alpine:latest",)


def test_running_container_blocks_even_with_force(store: ImageStore) -> None:
    image = load(store, "alpine:latest")
    with pytest.raises(Conflict) as err:
        store.remove(image.id, True, used_by(image), is_running=lambda _c: True)
    assert err.value.message == (
        f"conflict: unable to delete {image.id[7:19]} (cannot be forced)"
        " - image is being used by running container 1a2b3c4d5e6f"
    )
    # by name, force only untags and keeps the running container's image
    assert store.remove("alpine", True, used_by(image), is_running=lambda _c: True) == [
        {"Untagged": "alpine:latest"}
    ]
    assert store.resolve(image.id).repo_tags == ()


def test_forced_removal_keeps_layers_for_stopped_containers(store: ImageStore) -> None:
    image = load(store, "alpine:latest")
    assert store.remove("alpine", True, used_by(image)) == [
        {"Untagged": "alpine:latest"},
        {"Deleted": image.id},
    ]
    with pytest.raises(NotFound):
        store.resolve(image.id)
    # the container can still be started from its image id
    retained = store.get(image.id)
    assert all(d.is_dir() for d in store.layer_dirs(retained))
    store.recover()
    assert store.get(image.id) == retained
    # once no container uses it, the next removal collects it
    other = load(store, "other:1", layers=(TOP,))
    store.remove("other:1", False, unused)
    with pytest.raises(NotFound):
        store.get(image.id)
    assert list(store._layers.root.iterdir()) == []
    assert other.id not in {p.name for p in store._configs.iterdir()}


def test_release_deletes_a_retained_image_once_its_last_container_is_gone(
    store: ImageStore,
) -> None:
    image = load(store, "alpine:latest")
    kept = load(store, "kept:1", layers=(TOP,))
    store.remove("alpine", True, used_by(image))
    store.release(kept.id)  # a listed image stays
    assert store.resolve("kept:1").id == kept.id
    store.release(image.id)
    with pytest.raises(NotFound):
        store.get(image.id)
    assert {p.name for p in store._configs.iterdir()} == {kept.id[7:]}
    assert store._layers.all() == set(kept.diff_ids)
    store.release(image.id)  # already gone: nothing to do


def test_list_newest_first_and_summary(store: ImageStore) -> None:
    load(store, "old:1")
    raw = image_config([TOP], Labels={"k": "v"}).replace(b"2024-01-02", b"2025-01-02")
    store.load(io.BytesIO(docker_save([ArchiveImage([TOP], ["new:1"], config=raw)])))
    assert [i.repo_tags for i in store.list()] == [("new:1",), ("old:1",)]
    assert summary(store.resolve("new:1")) == {
        "Containers": -1,
        "Created": 1735787045,
        "Id": digest(raw),
        "Labels": {"k": "v"},
        "ParentId": "",
        "RepoDigests": [],
        "RepoTags": ["new:1"],
        "SharedSize": -1,
        "Size": 4,
        "VirtualSize": 4,
    }


def test_dangling_summary(store: ImageStore) -> None:
    image = load(store)
    assert summary(image)["RepoTags"] == ["<none>:<none>"]
    assert summary(image)["RepoDigests"] == ["<none>@<none>"]


def test_inspect_shape(store: ImageStore) -> None:
    image = load(
        store,
        "app:1",
        layers=(BASE, TOP),
        Cmd=["run"],
        Env=["A=1"],
        ExposedPorts={"80/tcp": {}},
        WorkingDir="/w",
        User="1000",
    )
    doc = store.inspect("app:1")
    assert list(doc) == [
        "Id", "RepoTags", "RepoDigests", "Parent", "Comment", "Created", "Container",
        "ContainerConfig", "DockerVersion", "Author", "Config", "Architecture", "Os", "Size",
        "VirtualSize", "GraphDriver", "RootFS", "Metadata",
    ]  # fmt: skip
    assert doc["Id"] == image.id
    assert doc["RepoTags"] == ["app:1"]
    assert doc["Created"] == "2024-01-02T03:04:05.123456789Z"
    assert doc["Config"]["Cmd"] == ["run"]
    assert doc["Config"]["Env"] == ["A=1"]
    assert doc["Config"]["ExposedPorts"] == {"80/tcp": {}}
    assert doc["Config"]["WorkingDir"] == "/w"
    assert doc["Config"]["User"] == "1000"
    assert doc["Config"]["Entrypoint"] is None
    assert doc["Config"]["Labels"] is None
    assert doc["RootFS"] == {"Type": "layers", "Layers": [digest(BASE), digest(TOP)]}
    assert doc["Size"] == doc["VirtualSize"] == 8
    assert doc["Os"] == "linux"
    dirs = store.layer_dirs(image)
    assert doc["GraphDriver"]["Data"]["LowerDir"] == f"{dirs[1]}:{dirs[0]}"
    assert doc["Metadata"]["LastTagTime"] != "0001-01-01T00:00:00Z"
