"""`ObjectStore.compose`, run against both adapters (the fixtures of tests/support/stores.py): the
concatenation of parts of at least `COMPOSE_MIN_PART` bytes (the last one any size), the same
refusals on both, and nothing stored when a source is missing."""

from __future__ import annotations

import hashlib

import pytest

from common.storage import ObjectNotFound, ObjectStore
from common.storage.port import COMPOSE_MIN_PART
from tests.support.media import pattern
from tests.support.stores import store, target

__all__ = ["store", "target"]  # the fixtures, parametrised over both adapters


async def test_compose_concatenates_in_order(store: ObjectStore) -> None:
    parts = [pattern(COMPOSE_MIN_PART, 1), pattern(COMPOSE_MIN_PART + 3, 2), b"tail"]
    keys = [f"work/u1/part-{n:05d}" for n in range(len(parts))]
    for key, data in zip(keys, parts, strict=True):
        await store.put_bytes(key, data, "application/octet-stream")
    info = await store.compose("sources/7/clip.mp4", keys, "video/mp4")
    whole = b"".join(parts)
    assert info.key == "sources/7/clip.mp4"
    assert info.size == len(whole)
    assert info.content_type == "video/mp4"
    stored = await store.get_bytes("sources/7/clip.mp4")
    assert hashlib.sha256(stored).digest() == hashlib.sha256(whole).digest()
    stat = await store.stat("sources/7/clip.mp4")
    assert (stat.size, stat.content_type) == (len(whole), "video/mp4")
    assert await store.list_keys("work/u1/") == keys  # the sources stay


async def test_compose_of_one_small_source(store: ObjectStore) -> None:
    await store.put_bytes("work/u2/part-00000", b"only a few bytes", "application/octet-stream")
    info = await store.compose("sources/8/a.webm", ["work/u2/part-00000"], "video/webm")
    assert info.size == len(b"only a few bytes")
    assert await store.get_bytes("sources/8/a.webm") == b"only a few bytes"
    assert (await store.stat("sources/8/a.webm")).content_type == "video/webm"


async def test_compose_refuses_a_short_part_before_the_last(store: ObjectStore) -> None:
    await store.put_bytes("work/u3/a", b"short", "application/octet-stream")
    await store.put_bytes("work/u3/b", b"last", "application/octet-stream")
    with pytest.raises(ValueError):
        await store.compose("sources/9/x.mp4", ["work/u3/a", "work/u3/b"], "video/mp4")
    with pytest.raises(ValueError):
        await store.compose("sources/9/x.mp4", [], "video/mp4")
    assert await store.list_keys("sources/9/") == []


async def test_compose_with_a_missing_source_stores_nothing(store: ObjectStore) -> None:
    await store.put_bytes("work/u4/a", pattern(COMPOSE_MIN_PART), "application/octet-stream")
    with pytest.raises(ObjectNotFound) as refused:
        await store.compose("sources/10/x.mp4", ["work/u4/a", "work/u4/gone"], "video/mp4")
    assert refused.value.args == ("work/u4/gone",)  # the missing source, not the target
    assert await store.list_keys("sources/10/") == []
