"""HLS delivery and thumbnails: content types, ranges, caching, fallback, hostile paths."""

from __future__ import annotations

import json
import re

import pytest

from tests.support.catalog import ADMIN, JPEG, USER, Catalog, segment_bytes
from tests.support.http import assert_json_error, call_asgi

SAFE_KEY = re.compile(
    r"hls/\d+/(master\.m3u8|(480p|720p|1080p)/(index\.m3u8|segment_\d{5}\.ts))"
    r"|thumbnails/\d+\.[A-Za-z0-9_.-]+|sources/\d+/[A-Za-z0-9._-]+"
)


@pytest.fixture
async def video_id(catalog: Catalog) -> int:
    return (await catalog.ready_video(renditions=["480p", "720p"]))["id"]


async def test_playlist(catalog: Catalog, video_id: int) -> None:
    response = await catalog.client.get(f"/api/video/{video_id}/720p/index.m3u8", headers=USER)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/vnd.apple.mpegurl"
    assert response.headers["cache-control"] == "private, no-cache"
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["etag"].startswith('"')
    assert int(response.headers["content-length"]) == len(response.content)
    assert response.text.startswith("#EXTM3U") and "# 720p" in response.text
    assert "segment_00000.ts" in response.text


async def test_master_playlist(catalog: Catalog, video_id: int) -> None:
    for path in (f"/api/video/{video_id}/master.m3u8", f"/api/video/{video_id}/master.m3u8/"):
        response = await catalog.client.get(path, headers=USER)
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/vnd.apple.mpegurl"
        assert "480p/index.m3u8" in response.text and "720p/index.m3u8" in response.text


@pytest.mark.parametrize("slash", ["", "/"])
async def test_segment_with_and_without_slash(catalog: Catalog, video_id: int, slash: str) -> None:
    path = f"/api/video/{video_id}/480p/segment_00001.ts{slash}"
    response = await catalog.client.get(path, headers=USER)
    assert response.status_code == 200
    assert response.headers["content-type"] == "video/MP2T"
    assert response.headers["cache-control"] == "private, max-age=31536000, immutable"
    assert response.headers["accept-ranges"] == "bytes"
    assert response.content == segment_bytes("480p", 1)
    assert response.headers["content-length"] == str(len(response.content))
    info = await catalog.store.stat(f"hls/{video_id}/480p/segment_00001.ts")
    assert response.headers["etag"] == f'"{info.etag}"'


async def test_percent_encoded_equivalents_of_valid_paths_work(
    catalog: Catalog, video_id: int
) -> None:
    raw = f"/api/video/{video_id}/%37%32%30p/segment_%30%30%30%30%31.ts%2f".encode()
    status, headers, body = await call_asgi(catalog.app, raw, headers=USER)
    assert (status, body) == (200, segment_bytes("720p", 1))
    assert headers["content-type"] == "video/MP2T"


async def test_head(catalog: Catalog, video_id: int) -> None:
    response = await catalog.client.head(
        f"/api/video/{video_id}/480p/segment_00000.ts", headers=USER
    )
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-length"] == str(len(segment_bytes("480p", 0)))
    assert response.headers["content-type"] == "video/MP2T"


async def test_byte_ranges(catalog: Catalog, video_id: int) -> None:
    path = f"/api/video/{video_id}/720p/segment_00000.ts"
    data = segment_bytes("720p", 0)
    size = len(data)

    async def get(range_header: str):  # type: ignore[no-untyped-def]
        return await catalog.client.get(path, headers={**USER, "Range": range_header})

    response = await get("bytes=0-9")
    assert response.status_code == 206
    assert response.content == data[:10]
    assert response.headers["content-range"] == f"bytes 0-9/{size}"
    assert response.headers["content-length"] == "10"
    assert response.headers["content-type"] == "video/MP2T"

    response = await get("bytes=100-")
    assert (response.status_code, response.content) == (206, data[100:])
    assert response.headers["content-range"] == f"bytes 100-{size - 1}/{size}"

    response = await get("bytes=-16")
    assert (response.status_code, response.content) == (206, data[-16:])

    response = await get(f"bytes=10-{size + 500}")  # clamped
    assert (response.status_code, response.content) == (206, data[10:])

    response = await get(f"bytes=-{size * 3}")  # more than all of it: all of it
    assert (response.status_code, response.content) == (206, data)

    for unsatisfiable in (f"bytes={size}-", f"bytes={size + 10}-{size + 20}", "bytes=-0"):
        response = await get(unsatisfiable)
        assert_json_error(response, 416)
        assert response.headers["content-range"] == f"bytes */{size}"

    for ignored in ("bytes=9-3", "items=0-1", "bytes=0-1,5-6", "bytes=abc", "bytes=1-2-3"):
        response = await get(ignored)
        assert (response.status_code, response.content) == (200, data), ignored


async def test_conditional_requests(catalog: Catalog, video_id: int) -> None:
    path = f"/api/video/{video_id}/720p/segment_00000.ts"
    etag = (await catalog.client.get(path, headers=USER)).headers["etag"]
    response = await catalog.client.get(path, headers={**USER, "If-None-Match": etag})
    assert response.status_code == 304 and response.content == b""
    # If-Range with a stale validator: the whole object instead of the range
    response = await catalog.client.get(
        path, headers={**USER, "Range": "bytes=0-3", "If-Range": '"stale"'}
    )
    assert response.status_code == 200
    response = await catalog.client.get(
        path, headers={**USER, "Range": "bytes=0-3", "If-Range": etag}
    )
    assert response.status_code == 206


async def test_a_resolution_above_the_source_gets_the_highest_rendition(
    catalog: Catalog, video_id: int
) -> None:
    playlist = await catalog.client.get(f"/api/video/{video_id}/1080p/index.m3u8", headers=USER)
    assert playlist.status_code == 200
    assert "# 720p" in playlist.text
    segment = await catalog.client.get(
        f"/api/video/{video_id}/1080p/segment_00001.ts/", headers=USER
    )
    assert segment.status_code == 200
    assert segment.content == segment_bytes("720p", 1)


async def test_a_small_source_with_only_480p(catalog: Catalog) -> None:
    video_id = (await catalog.ready_video(renditions=["480p"]))["id"]
    for resolution in ("480p", "720p", "1080p"):
        response = await catalog.client.get(
            f"/api/video/{video_id}/{resolution}/index.m3u8", headers=USER
        )
        assert response.status_code == 200 and "# 480p" in response.text


async def test_a_missing_segment_is_404_json(catalog: Catalog, video_id: int) -> None:
    response = await catalog.client.get(
        f"/api/video/{video_id}/480p/segment_00099.ts", headers=USER
    )
    assert_json_error(response, 404)


async def test_delivery_needs_a_user(catalog: Catalog, video_id: int) -> None:
    for path in (
        f"/api/video/{video_id}/master.m3u8",
        f"/api/video/{video_id}/480p/index.m3u8",
        f"/api/video/{video_id}/480p/segment_00000.ts/",
    ):
        assert_json_error(await catalog.client.get(path), 401)


async def test_videos_that_are_not_ready_are_not_served(catalog: Catalog) -> None:
    video_id = (await catalog.uploaded())["id"]
    await catalog.put_hls(video_id)  # half-made outputs of a running transcode
    for path in (
        f"/api/video/{video_id}/master.m3u8",
        f"/api/video/{video_id}/480p/index.m3u8",
        f"/api/video/{video_id}/480p/segment_00000.ts",
    ):
        assert_json_error(await catalog.client.get(path, headers=USER), 404)


HOSTILE = [
    "/api/video/{id}/720p/../../../etc/passwd",
    "/api/video/{id}/720p/..",
    "/api/video/{id}/720p/%2e%2e",
    "/api/video/{id}/720p/%2e%2e/%2e%2e/sources/{id}/clip.mp4",
    "/api/video/{id}/720p/%2e%2e%2f%2e%2e%2fmaster.m3u8",
    "/api/video/{id}/720p/..%2f..%2fmaster.m3u8",
    "/api/video/{id}/720p/index.m3u8/../x",
    "/api/video/{id}/720p/index.m3u8/..",
    "/api/video/{id}/720p/segment_1.ts",
    "/api/video/{id}/720p/segment_000000.ts",
    "/api/video/{id}/720p/segment_00000.ts.bak",
    "/api/video/{id}/720p/segment_00000.TS",
    "/api/video/{id}/720p/SEGMENT_00000.ts",
    "/api/video/{id}/720p/segment_00000.ts%00",
    "/api/video/{id}/720p/.vf-meta-segment_00000.ts",
    "/api/video/{id}/720p/index.m3u8%00",
    "/api/video/{id}/1080p%20/index.m3u8",
    "/api/video/{id}/%201080p/index.m3u8",
    "/api/video/{id}/720P/index.m3u8",
    "/api/video/{id}/360p/index.m3u8",
    "/api/video/{id}/720/index.m3u8",
    "/api/video/{id}/%2e%2e/index.m3u8",
    "/api/video/{id}/720p%2f..%2f480p/index.m3u8",
    "/api/video/{id}/720p/master.m3u8",
    "/api/video/{id}/master.m3u8/../../x",
    "/api/video/abc/720p/index.m3u8",
    "/api/video/abc/master.m3u8",
    "/api/video/-1/720p/index.m3u8",
    "/api/video/0/720p/index.m3u8",
    "/api/video/0{id}/720p/index.m3u8",
    "/api/video/{id}.0/720p/index.m3u8",
    "/api/video/%31/720p/index.m3u8x",
    "/api/video/99999999999999999999999999/720p/index.m3u8",
    "/api/video/2147483648/720p/segment_00000.ts",
    "/api/video/999999/720p/index.m3u8",
    "/api/video/999999/master.m3u8",
    "/api/video/{id}",
    "/api/video/{id}/",
    "/api/thumbnails/{id}/../../hls/{id}/master.m3u8",
    "/api/thumbnails/{id}/%2e%2e",
    "/api/thumbnails/abc/x.jpg",
    "/api/thumbnails/{id}/wrongversion1234.jpg",
    "/api/thumbnails/{id}/{version}.png",
    "/api/thumbnails/{id}/{version}",
    "/api/thumbnails/{id}/{version}.jpg.jpg",
    "/api/thumbnails/999999/{version}.jpg",
]


@pytest.mark.parametrize("template", HOSTILE)
async def test_hostile_paths_are_404_json(catalog: Catalog, video_id: int, template: str) -> None:
    version = (
        (await catalog.client.get(f"/api/admin/videos/{video_id}/", headers=ADMIN))
        .json()["thumbnail_url"]
        .rsplit("/", 1)[1][:-4]
    )
    raw = template.format(id=video_id, version=version).encode()
    catalog.store.read_keys.clear()
    status, headers, body = await call_asgi(catalog.app, raw, headers=USER)
    assert status == 404, (raw, status, body)
    assert headers["content-type"] == "application/json"
    parsed = json.loads(body)
    assert set(parsed) == {"detail"} and isinstance(parsed["detail"], str)
    # no key was ever built from what the path carried
    assert all(SAFE_KEY.fullmatch(k) for k in catalog.store.read_keys), catalog.store.read_keys


async def test_thumbnail_is_public_and_cached_forever(catalog: Catalog, video_id: int) -> None:
    url = (await catalog.client.get(f"/api/admin/videos/{video_id}/", headers=ADMIN)).json()[
        "thumbnail_url"
    ]
    assert re.fullmatch(
        rf"https://videoflix\.example/api/thumbnails/{video_id}/[\w-]{{16,}}\.jpg", url
    )
    for path in (
        url.removeprefix("https://videoflix.example"),
        url.removeprefix("https://videoflix.example") + "/",
    ):
        response = await catalog.client.get(path)  # no identity headers at all
        assert response.status_code == 200
        assert response.content == JPEG
        assert response.headers["content-type"] == "image/jpeg"
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert response.headers["x-content-type-options"] == "nosniff"
