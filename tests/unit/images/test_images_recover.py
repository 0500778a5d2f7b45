"""Crash safety: nothing half-visible after a crash, and `recover()` removes the leftovers."""

from __future__ import annotations

import io

import pytest

from fixtures.image_archives import ArchiveImage, docker_save, file, snapshot, tar_bytes
from hatoba.images import ImageStore

LAYER = tar_bytes(file("x", b"x"))


class Crash(Exception):
    pass


def test_leftover_temp_dir_is_removed(store: ImageStore) -> None:
    store.load(io.BytesIO(docker_save([ArchiveImage([LAYER], ["x:1"])])))
    before = snapshot(store._root)
    leftover = store._tmp / "tmpabc123"
    (leftover / "layer/diff/etc").mkdir(parents=True)
    (leftover / "layer/layer.tar").write_bytes(b"partial")
    (store._tmp / "tmpfile").write_bytes(b"half an index")
    store.recover()
    assert snapshot(store._root) == before


@pytest.mark.parametrize("step", ["_write_index", "_write_file"])
def test_crash_before_the_index_is_written_leaves_nothing_visible(
    store: ImageStore, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    store.load(io.BytesIO(docker_save([ArchiveImage([LAYER], ["x:1"])])))
    before = snapshot(store._root)
    real_write_file = store._write_file
    calls = []

    def crash(*args: object) -> None:
        calls.append(args)
        if step == "_write_file" and len(calls) == 1:
            real_write_file(*args)  # type: ignore[arg-type]  # the config lands, the index not
            raise Crash
        raise Crash

    monkeypatch.setattr(store, step, crash)
    other = ArchiveImage([tar_bytes(file("y", b"y"))], ["y:1"])
    with pytest.raises(Crash):
        store.load(io.BytesIO(docker_save([other])))
    monkeypatch.undo()
    # the new layer (and maybe config) were renamed into place, but no index entry names them
    assert [i.repo_tags for i in store.list()] == [("x:1",)]
    assert snapshot(store._root) != before
    ImageStore(store._root.parent).recover()
    assert snapshot(store._root) == before
