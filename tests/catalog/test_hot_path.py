"""The delivery hot path: playlists and segments of a ready video ask the database nothing once
its readiness is cached, and a change any replica makes (a delete) stops the serving at once;
a lost invalidation within the cache's TTL. Local files are read in large chunks, ranges
exactly as before."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from catalog import delivery, lifecycle
from catalog.cache import PLAYABLE_TTL_SECONDS, VideoListCache
from catalog.delivery import FILE_CHUNK, WHOLE_READ_MAX, read_at
from catalog.service import VideoService
from tests.support.catalog import ADMIN, USER, Catalog, counted_statements, segment_bytes
from tests.support.http import assert_json_error


def _videos(catalog: Catalog) -> VideoService:
    return catalog.app.state.videos


def _paths(video_id: int) -> list[str]:
    return [
        f"/api/video/{video_id}/master.m3u8",
        f"/api/video/{video_id}/480p/index.m3u8",
        f"/api/video/{video_id}/720p/index.m3u8",
        f"/api/video/{video_id}/1080p/index.m3u8",
        f"/api/video/{video_id}/480p/segment_00000.ts",
        f"/api/video/{video_id}/720p/segment_00001.ts/",
    ]


async def _remove_row(catalog: Catalog, video_id: int) -> None:
    """What another replica's delete does to the database (its objects stay here)."""
    async with _videos(catalog).sessionmaker() as db:
        assert await lifecycle.remove(db, video_id)
        await db.commit()


async def test_no_database_query_after_the_first_request(catalog: Catalog) -> None:
    video_id = (await catalog.ready_video(renditions=["480p", "720p"]))["id"]
    with counted_statements(catalog) as statements:
        first = await catalog.client.get(f"/api/video/{video_id}/master.m3u8", headers=USER)
        assert first.status_code == 200
        assert statements, "the first request reads the video"
        statements.clear()
        for _ in range(5):
            for path in _paths(video_id):
                response = await catalog.client.get(path, headers=USER)
                assert response.status_code == 200, path
        ranged = await catalog.client.get(
            f"/api/video/{video_id}/480p/segment_00000.ts",
            headers={**USER, "Range": "bytes=2-9"},
        )
        assert (ranged.status_code, ranged.content) == (206, segment_bytes("480p", 0)[2:10])
        head = await catalog.client.head(
            f"/api/video/{video_id}/480p/segment_00000.ts", headers=USER
        )
        assert head.status_code == 200
        assert statements == []


async def test_a_deleted_video_is_404_at_once(catalog: Catalog) -> None:
    video_id = (await catalog.ready_video())["id"]
    segment = f"/api/video/{video_id}/480p/segment_00000.ts"
    assert (await catalog.client.get(segment, headers=USER)).status_code == 200
    # another replica deletes it: the row goes, the shared generation moves on
    await _remove_row(catalog, video_id)
    await VideoListCache(catalog.kv, ttl_seconds=60).invalidate()
    for path in _paths(video_id):
        assert_json_error(await catalog.client.get(path, headers=USER), 404)


async def test_a_delete_through_the_api_is_404_afterwards(catalog: Catalog) -> None:
    video_id = (await catalog.ready_video())["id"]
    for path in _paths(video_id):
        assert (await catalog.client.get(path, headers=USER)).status_code == 200
    deleted = await catalog.client.delete(f"/api/admin/videos/{video_id}/", headers=ADMIN)
    assert deleted.status_code == 204
    for path in _paths(video_id):
        assert_json_error(await catalog.client.get(path, headers=USER), 404)


async def test_a_lost_invalidation_is_bounded_by_the_ttl(catalog: Catalog) -> None:
    video_id = (await catalog.ready_video())["id"]
    segment = f"/api/video/{video_id}/480p/segment_00000.ts"
    cache = _videos(catalog).playable_cache
    now = [1000.0]
    cache._clock = lambda: now[0]
    assert (await catalog.client.get(segment, headers=USER)).status_code == 200
    await _remove_row(catalog, video_id)  # and the generation never moves
    now[0] += PLAYABLE_TTL_SECONDS - 1
    assert (await catalog.client.get(segment, headers=USER)).status_code == 200
    now[0] += 2
    assert_json_error(await catalog.client.get(segment, headers=USER), 404)


async def test_the_database_answers_while_the_key_value_store_fails(
    catalog: Catalog, monkeypatch: Any
) -> None:
    video_id = (await catalog.ready_video())["id"]
    segment = f"/api/video/{video_id}/480p/segment_00000.ts"
    assert (await catalog.client.get(segment, headers=USER)).status_code == 200

    async def broken(key: str) -> str | None:
        raise ConnectionError("kv down")

    monkeypatch.setattr(catalog.kv, "get", broken)
    with counted_statements(catalog) as statements:
        assert (await catalog.client.get(segment, headers=USER)).status_code == 200
        assert statements  # asked the database, not a cache it cannot check
    await _remove_row(catalog, video_id)
    assert_json_error(await catalog.client.get(segment, headers=USER), 404)


async def test_a_video_that_turns_ready_is_served(catalog: Catalog) -> None:
    video_id = (await catalog.uploaded())["id"]
    await catalog.put_hls(video_id)
    segment = f"/api/video/{video_id}/480p/segment_00000.ts"
    assert_json_error(await catalog.client.get(segment, headers=USER), 404)
    await catalog.make_ready(video_id, ("480p", "720p"))
    assert (await catalog.client.get(segment, headers=USER)).status_code == 200


async def test_a_segment_larger_than_a_read_is_streamed_whole_and_in_ranges(
    catalog: Catalog,
) -> None:
    video_id = (await catalog.ready_video())["id"]
    # more than one whole read, and 2.5 chunks past it: streamed, not a multiple of a chunk
    data = bytes(range(251)) * ((WHOLE_READ_MAX + FILE_CHUNK * 5 // 2) // 251)
    await catalog.store.put_bytes(f"hls/{video_id}/480p/segment_00007.ts", data, "video/MP2T")
    path = f"/api/video/{video_id}/480p/segment_00007.ts"
    size = len(data)

    whole = await catalog.client.get(path, headers=USER)
    assert (whole.status_code, whole.content) == (200, data)
    assert whole.headers["content-length"] == str(size)
    ranges = {
        f"bytes={FILE_CHUNK - 3}-{FILE_CHUNK + 3}": data[FILE_CHUNK - 3 : FILE_CHUNK + 4],
        "bytes=5-": data[5:],
        "bytes=-7": data[-7:],
        f"bytes=0-{FILE_CHUNK - 1}": data[:FILE_CHUNK],
    }
    for header, expected in ranges.items():
        response = await catalog.client.get(path, headers={**USER, "Range": header})
        assert (response.status_code, response.content) == (206, expected), header
        assert response.headers["content-length"] == str(len(expected))
    head = await catalog.client.head(path, headers=USER)
    assert (head.status_code, head.content) == (200, b"")
    assert head.headers["content-length"] == str(size)


async def test_an_object_replaced_while_it_is_read_is_sent_as_opened(catalog: Catalog) -> None:
    key = "hls/1/480p/segment_00000.ts"
    old, new = b"o" * (FILE_CHUNK * 2), b"n" * 10
    await catalog.store.put_bytes(key, old, "video/MP2T")
    opened = await catalog.store.open_object(key)
    await catalog.store.put_bytes(key, new, "video/MP2T")
    await catalog.store.delete(key)
    try:
        assert opened.info.size == len(old)
        assert os.pread(opened.file.fileno(), 4, FILE_CHUNK) == b"oooo"
    finally:
        opened.file.close()


async def test_a_replaced_object_opens_with_its_new_metadata(catalog: Catalog) -> None:
    """`open_object` remembers a hot object's metadata, by file identity: a new version of
    the object (a new file) is never described by the old one's size, ETag or type."""
    key = "hls/1/480p/segment_00001.ts"
    first = await catalog.store.put_bytes(key, b"a" * 100, "video/MP2T")
    for _ in range(2):  # the second open is answered from what the first read
        opened = await catalog.store.open_object(key)
        opened.file.close()
        assert opened.info == first
    second = await catalog.store.put_bytes(key, b"b" * 100, "application/octet-stream")
    assert second.etag != first.etag
    opened = await catalog.store.open_object(key)
    try:
        assert opened.info == second
        assert os.pread(opened.file.fileno(), 3, 0) == b"bbb"
    finally:
        opened.file.close()


async def test_read_at_reads_what_the_cache_lacks_in_a_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever part the page cache gives without waiting, the rest still arrives."""
    data = bytes(range(256)) * 64
    path = tmp_path / "segment.ts"
    path.write_bytes(data)
    with path.open("rb") as file:
        fd = file.fileno()
        assert await read_at(fd, 100, 7) == data[7:107]  # cached: read on the loop
        assert await read_at(fd, 100, len(data) - 10) == data[-10:]  # short at the end
        for cached in (0, 1, 50):
            monkeypatch.setattr(
                delivery,
                "_read_cached",
                lambda fd, length, offset, n=cached: os.pread(fd, n, offset),
            )
            assert await read_at(fd, 100, 7) == data[7:107], cached
