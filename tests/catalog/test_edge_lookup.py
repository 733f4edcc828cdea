"""`GET /internal/edge/{video_id}/{resolution}`: the catalog tells the edge (through the
gateway) which rendition's objects answer a playlist or segment request, by the same rules
as its own delivery routes, fallback included, and without a database query once the video's
readiness is cached."""

from __future__ import annotations

import pytest

from tests.support.catalog import ADMIN, USER, Catalog, counted_statements
from tests.support.http import assert_json_error


def _lookup(video_id: int | str, resolution: str) -> str:
    return f"/internal/edge/{video_id}/{resolution}"


async def test_each_resolution_names_the_rendition_that_serves_it(catalog: Catalog) -> None:
    video_id = (await catalog.ready_video(renditions=["480p", "720p"]))["id"]
    for resolution, served in [("480p", "480p"), ("720p", "720p"), ("1080p", "720p")]:
        response = await catalog.client.get(_lookup(video_id, resolution), headers=USER)
        assert response.status_code == 200, response.text
        assert response.json() == {"prefix": f"hls/{video_id}/{served}"}
        # the same bytes the catalog's own route serves for that resolution
        playlist = await catalog.client.get(
            f"/api/video/{video_id}/{resolution}/index.m3u8", headers=USER
        )
        stored = await catalog.store.get_bytes(f"hls/{video_id}/{served}/index.m3u8")
        assert playlist.content == stored


async def test_no_database_query_once_cached(catalog: Catalog) -> None:
    video_id = (await catalog.ready_video())["id"]
    assert (await catalog.client.get(_lookup(video_id, "480p"), headers=USER)).status_code == 200
    with counted_statements(catalog) as statements:
        for resolution in ("480p", "720p", "1080p"):
            response = await catalog.client.get(_lookup(video_id, resolution), headers=USER)
            assert response.status_code == 200
        assert statements == []


@pytest.mark.parametrize("resolution", ["4k", "360p", "index.m3u8"])
async def test_a_resolution_outside_the_ladder_is_404(catalog: Catalog, resolution: str) -> None:
    video_id = (await catalog.ready_video())["id"]
    assert_json_error(await catalog.client.get(_lookup(video_id, resolution), headers=USER), 404)


@pytest.mark.parametrize("video_id", ["999", "0", "007", "abc", "99999999999"])
async def test_an_unknown_video_is_404(catalog: Catalog, video_id: str) -> None:
    await catalog.ready_video()
    assert_json_error(await catalog.client.get(_lookup(video_id, "720p"), headers=USER), 404)


async def test_a_video_still_processing_is_404(catalog: Catalog) -> None:
    video_id = (await catalog.uploaded())["id"]
    await catalog.put_hls(video_id)  # objects there, but the video is not ready
    assert_json_error(await catalog.client.get(_lookup(video_id, "480p"), headers=USER), 404)


async def test_a_deleted_video_is_404(catalog: Catalog) -> None:
    video_id = (await catalog.ready_video())["id"]
    assert (await catalog.client.get(_lookup(video_id, "480p"), headers=USER)).status_code == 200
    deleted = await catalog.client.delete(f"/api/admin/videos/{video_id}/", headers=ADMIN)
    assert deleted.status_code == 204
    assert_json_error(await catalog.client.get(_lookup(video_id, "480p"), headers=USER), 404)


async def test_only_for_a_user_the_gateway_vouches_for(catalog: Catalog) -> None:
    video_id = (await catalog.ready_video())["id"]
    assert_json_error(await catalog.client.get(_lookup(video_id, "480p")), 401)
