"""GET /api/video/: the exact shape, playable videos only, cached, ETag / 304."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from catalog.models import Video
from common.db import Database
from tests.support.catalog import ADMIN, BOTH_DATABASES, USER, Catalog
from tests.support.http import assert_json_error

pytestmark = BOTH_DATABASES

PUBLIC_FIELDS = {"id", "created_at", "title", "description", "category", "thumbnail_url"}


async def get_list(catalog: Catalog, **headers: str) -> list[dict]:  # type: ignore[type-arg]
    response = await catalog.client.get("/api/video/", headers={**USER, **headers})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    return response.json()


async def test_the_list_needs_a_user(catalog: Catalog) -> None:
    assert_json_error(await catalog.client.get("/api/video/"), 401)
    assert_json_error(await catalog.client.get("/api/video"), 401)


async def test_empty_list_is_an_empty_array(catalog: Catalog) -> None:
    assert await get_list(catalog) == []
    response = await catalog.client.get("/api/video", headers=USER)  # no slash, no redirect
    assert response.status_code == 200 and response.json() == []


async def test_list_shape_is_exact(catalog: Catalog) -> None:
    video = await catalog.ready_video(title="T", description="", category="Docs")
    (item,) = await get_list(catalog)
    assert set(item) == PUBLIC_FIELDS
    assert type(item["id"]) is int and item["id"] == video["id"]
    assert all(isinstance(item[k], str) for k in PUBLIC_FIELDS - {"id"})  # no nulls
    assert item["created_at"].endswith("Z")
    created = datetime.fromisoformat(item["created_at"].replace("Z", "+00:00"))
    assert abs(datetime.now(UTC) - created) < timedelta(minutes=1)
    assert item["thumbnail_url"].startswith(
        f"https://videoflix.example/api/thumbnails/{video['id']}/"
    )
    assert item["thumbnail_url"].endswith(".jpg")
    assert (item["title"], item["description"], item["category"]) == ("T", "", "Docs")


async def test_only_ready_videos_newest_first(catalog: Catalog) -> None:
    old = await catalog.ready_video(title="old")
    processing = await catalog.uploaded(title="processing")
    failed = await catalog.uploaded(title="failed")
    from common.events import VideoFailed

    await catalog.deliver(VideoFailed(video_id=failed["id"], reason="broken"))
    new = await catalog.ready_video(title="new")
    ids = [v["id"] for v in await get_list(catalog)]
    assert ids == [new["id"], old["id"]]
    assert processing["id"] not in ids


async def test_etag_and_304(catalog: Catalog) -> None:
    await catalog.ready_video()
    response = await catalog.client.get("/api/video/", headers=USER)
    etag = response.headers["etag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert response.headers["cache-control"] == "private, no-cache"

    again = await catalog.client.get("/api/video/", headers={**USER, "If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag

    other = await catalog.client.get("/api/video/", headers={**USER, "If-None-Match": '"x"'})
    assert other.status_code == 200


async def test_the_list_is_served_from_the_cache_until_a_change(catalog: Catalog) -> None:
    video = await catalog.ready_video(title="Cached")
    first = await catalog.client.get("/api/video/", headers=USER)

    # a change behind the service's back is not seen: the cached body is served
    database = Database(catalog.settings.database_url_for("catalog"))
    async with database.sessionmaker() as db:
        await db.execute(update(Video).where(Video.id == video["id"]).values(title="Sneaky"))
        await db.commit()
    await database.dispose()
    cached = await catalog.client.get("/api/video/", headers=USER)
    assert cached.json()[0]["title"] == "Cached"
    assert cached.headers["etag"] == first.headers["etag"]

    # a change through the service invalidates it
    response = await catalog.client.patch(
        f"/api/admin/videos/{video['id']}/", json={"description": "new"}, headers=ADMIN
    )
    assert response.status_code == 200
    fresh = await catalog.client.get(
        "/api/video/", headers={**USER, "If-None-Match": first.headers["etag"]}
    )
    assert fresh.status_code == 200
    assert fresh.json()[0]["title"] == "Sneaky"
    assert fresh.json()[0]["description"] == "new"


async def test_patch_and_delete_invalidate(catalog: Catalog) -> None:
    a = await catalog.ready_video(title="A")
    b = await catalog.ready_video(title="B")
    etag = (await catalog.client.get("/api/video/", headers=USER)).headers["etag"]

    await catalog.client.patch(f"/api/admin/videos/{a['id']}", json={"title": "A2"}, headers=ADMIN)
    response = await catalog.client.get("/api/video/", headers={**USER, "If-None-Match": etag})
    assert response.status_code == 200
    assert [v["title"] for v in response.json()] == ["B", "A2"]
    etag = response.headers["etag"]

    assert (
        await catalog.client.delete(f"/api/admin/videos/{b['id']}", headers=ADMIN)
    ).status_code == 204
    response = await catalog.client.get("/api/video/", headers={**USER, "If-None-Match": etag})
    assert response.status_code == 200
    assert [v["id"] for v in response.json()] == [a["id"]]


async def test_a_broken_cache_falls_back_to_the_database(catalog: Catalog) -> None:
    await catalog.ready_video()

    async def broken(*_args, **_kwargs):  # type: ignore[no-untyped-def]
        raise ConnectionError("kv down")

    catalog.kv.get = broken  # type: ignore[method-assign]
    catalog.kv.incr = broken  # type: ignore[method-assign]
    assert len(await get_list(catalog)) == 1
