"""GET, PATCH, DELETE /api/admin/videos/<id>/ and the admin list."""

from __future__ import annotations

import pytest

from common.events import VideoFailed
from tests.support.catalog import ADMIN, BOTH_DATABASES, JPEG, PNG, USER, Catalog
from tests.support.http import assert_json_error, multipart_body

pytestmark = BOTH_DATABASES

ORIGIN = "https://videoflix.example"


async def test_admin_routes_need_an_admin(catalog: Catalog) -> None:
    video_id = (await catalog.uploaded())["id"]
    for headers, status in (({}, 401), (USER, 403)):
        assert_json_error(await catalog.client.get("/api/admin/videos/", headers=headers), status)
        path = f"/api/admin/videos/{video_id}/"
        assert_json_error(await catalog.client.get(path, headers=headers), status)
        assert_json_error(
            await catalog.client.patch(path, json={"title": "x"}, headers=headers), status
        )
        assert_json_error(await catalog.client.delete(path, headers=headers), status)
    assert (await catalog.client.get(f"/api/admin/videos/{video_id}", headers=ADMIN)).json()[
        "title"
    ] == "A clip"


async def test_admin_list_shows_every_state_newest_first(catalog: Catalog) -> None:
    ready = await catalog.ready_video(title="ready")
    failed = await catalog.uploaded(title="failed")
    await catalog.deliver(VideoFailed(video_id=failed["id"], reason="no video stream"))
    processing = await catalog.uploaded(title="processing")

    response = await catalog.client.get("/api/admin/videos", headers=ADMIN)
    assert response.status_code == 200
    listed = response.json()
    assert [v["id"] for v in listed] == [processing["id"], failed["id"], ready["id"]]
    assert [v["status"] for v in listed] == ["processing", "failed", "ready"]
    assert listed[1]["error"] == "no video stream"
    assert listed[2]["renditions"] == ["480p", "720p"]


@pytest.mark.parametrize(
    "segment", ["999", "abc", "0", "-1", "01", "1.0", "1e3", "99999999999999999999", "2147483648"]
)
async def test_unknown_or_malformed_ids_are_404_json(catalog: Catalog, segment: str) -> None:
    path = f"/api/admin/videos/{segment}/"
    assert_json_error(await catalog.client.get(path, headers=ADMIN), 404)
    assert_json_error(await catalog.client.patch(path, json={"title": "x"}, headers=ADMIN), 404)
    assert_json_error(await catalog.client.delete(path, headers=ADMIN), 404)


async def test_patch_json_is_partial(catalog: Catalog) -> None:
    video = await catalog.uploaded(title="Old", description="Keep me", category="Drama")
    path = f"/api/admin/videos/{video['id']}/"
    response = await catalog.client.patch(path, json={"title": " New "}, headers=ADMIN)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["title"], body["description"], body["category"]) == ("New", "Keep me", "Drama")
    assert body["created_at"] == video["created_at"]  # set once

    response = await catalog.client.patch(
        path, json={"category": "Comedy", "description": "", "unknown": 1}, headers=ADMIN
    )
    assert response.json()["category"] == "Comedy"
    assert response.json()["description"] == ""

    # an empty object, or no body at all, changes nothing
    assert (await catalog.client.patch(path, json={}, headers=ADMIN)).status_code == 200
    assert (await catalog.client.patch(path, headers=ADMIN)).json()["title"] == "New"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"title": "<img src=x onerror=alert(1)>"}, "title"),
        ({"description": "a<b"}, "description"),
        ({"category": "NEWEST"}, "category"),
        ({"category": ""}, "category"),
        ({"title": "x" * 201}, "title"),
        ({"title": 5}, "title"),
    ],
)
async def test_patch_validates_like_create(
    catalog: Catalog, payload: dict[str, object], field: str
) -> None:
    video = await catalog.uploaded()
    path = f"/api/admin/videos/{video['id']}/"
    assert field in assert_json_error(
        await catalog.client.patch(path, json=payload, headers=ADMIN), 400
    )
    assert (await catalog.client.get(path, headers=ADMIN)).json() == video


async def test_patch_rejects_bad_bodies(catalog: Catalog) -> None:
    video = await catalog.uploaded()
    path = f"/api/admin/videos/{video['id']}/"
    bad_json = await catalog.client.patch(
        path, content=b"{nope", headers={**ADMIN, "content-type": "application/json"}
    )
    assert_json_error(bad_json, 400)
    array = await catalog.client.patch(path, json=["title"], headers=ADMIN)
    assert_json_error(array, 400)
    text = await catalog.client.patch(
        path, content=b"title=x", headers={**ADMIN, "content-type": "text/plain"}
    )
    assert_json_error(text, 415)


async def test_patch_multipart_replaces_the_thumbnail(catalog: Catalog) -> None:
    video = await catalog.ready_video()
    video_id = video["id"]
    before = (await catalog.client.get(f"/api/admin/videos/{video_id}/", headers=ADMIN)).json()
    old_url = before["thumbnail_url"]
    assert (await catalog.client.get(old_url.removeprefix(ORIGIN))).status_code == 200

    body, content_type = multipart_body(
        [("title", None, None, b"With cover"), ("thumbnail", "c.png", "image/png", PNG)]
    )
    response = await catalog.client.patch(
        f"/api/admin/videos/{video_id}/",
        content=body,
        headers={**ADMIN, "content-type": content_type},
    )
    assert response.status_code == 200, response.text
    after = response.json()
    assert after["title"] == "With cover"
    assert after["thumbnail_url"] != old_url  # a new version: a new, cache-busting URL

    new = await catalog.client.get(after["thumbnail_url"].removeprefix(ORIGIN))
    assert new.status_code == 200 and new.content == PNG
    assert new.headers["content-type"] == "image/png"
    assert_json_error(await catalog.client.get(old_url.removeprefix(ORIGIN)), 404)
    # the generated thumbnail is gone, only the new one is stored
    version = after["thumbnail_url"].rsplit("/", 1)[1][:-4]
    assert await catalog.store.list_keys("thumbnails/") == [f"thumbnails/{video_id}.{version}.png"]

    # and the public list shows it
    (item,) = (await catalog.client.get("/api/video/", headers=USER)).json()
    assert item["thumbnail_url"] == after["thumbnail_url"]

    # once more: the previous custom one is replaced, not kept
    body, content_type = multipart_body([("thumbnail", "c.jpg", "image/jpeg", JPEG)])
    again = await catalog.client.patch(
        f"/api/admin/videos/{video_id}",
        content=body,
        headers={**ADMIN, "content-type": content_type},
    )
    assert again.status_code == 200
    assert len(await catalog.store.list_keys("thumbnails/")) == 1


async def test_patch_multipart_refuses_bad_images_and_video_parts(catalog: Catalog) -> None:
    video = await catalog.ready_video()
    path = f"/api/admin/videos/{video['id']}/"
    keys_before = await catalog.all_keys()
    for parts, status, field in (
        ([("thumbnail", "x.png", "image/png", b"<svg/>")], 415, "thumbnail"),
        ([("file", "x.mp4", "video/mp4", b"data")], 400, "file"),
        ([("category", None, None, b"newest")], 400, "category"),
    ):
        body, content_type = multipart_body(parts)  # type: ignore[arg-type]
        response = await catalog.client.patch(
            path, content=body, headers={**ADMIN, "content-type": content_type}
        )
        assert field in assert_json_error(response, status)
    assert await catalog.all_keys() == keys_before


async def test_delete_removes_the_row_and_every_object(catalog: Catalog) -> None:
    keep = await catalog.ready_video(title="keep")
    video = await catalog.uploaded(thumbnail=("t.png", PNG, "image/png"))
    video_id = video["id"]
    await catalog.make_ready(video_id, ["480p", "720p", "1080p"])
    await catalog.store.put_bytes(f"thumbnails/{video_id}.jpg", b"\xff\xd8\xffgen", "image/jpeg")
    assert await catalog.store.list_keys(f"hls/{video_id}/")

    response = await catalog.client.delete(f"/api/admin/videos/{video_id}/", headers=ADMIN)
    assert response.status_code == 204
    assert response.content == b""

    for prefix in (f"sources/{video_id}/", f"hls/{video_id}/", f"thumbnails/{video_id}."):
        assert await catalog.store.list_keys(prefix) == []
    assert await catalog.store.list_keys(f"hls/{keep['id']}/")  # others untouched
    assert await catalog.store.list_keys(f"sources/{keep['id']}/")
    assert_json_error(
        await catalog.client.get(f"/api/admin/videos/{video_id}/", headers=ADMIN), 404
    )
    assert_json_error(
        await catalog.client.delete(f"/api/admin/videos/{video_id}/", headers=ADMIN), 404
    )
    assert_json_error(
        await catalog.client.get(f"/api/video/{video_id}/480p/index.m3u8", headers=USER), 404
    )
    assert [v["id"] for v in (await catalog.client.get("/api/video/", headers=USER)).json()] == [
        keep["id"]
    ]


async def test_delete_a_processing_video(catalog: Catalog) -> None:
    video_id = (await catalog.uploaded())["id"]
    assert (
        await catalog.client.delete(f"/api/admin/videos/{video_id}", headers=ADMIN)
    ).status_code == 204
    assert await catalog.all_keys() == []


async def test_openapi_lists_the_routes_once(catalog: Catalog) -> None:
    paths = (await catalog.client.get("/openapi.json")).json()["paths"]
    assert set(paths) == {
        "/api/admin/videos/",
        "/api/admin/videos/{video_id}/",
        "/api/admin/videos/{video_id}/retry/",
        "/api/admin/events/",
        "/api/admin/uploads/",
        "/api/admin/uploads/{upload_id}",
        "/api/video/",
        "/api/video/{video_id}/master.m3u8",
        "/api/video/{video_id}/{resolution}/index.m3u8",
        "/api/video/{video_id}/{resolution}/{segment}/",
        "/api/thumbnails/{video_id}/{filename}",
        "/internal/edge/{video_id}/{resolution}",  # the gateway's question for the edge
    }


async def test_health(catalog: Catalog) -> None:
    assert (await catalog.client.get("/healthz")).json() == {"status": "ok"}
    ready = await catalog.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "bus": "ok", "object_store": "ok"}
