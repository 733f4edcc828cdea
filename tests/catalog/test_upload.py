"""POST /api/admin/videos/: streamed upload, validation, and no partial state on failure."""

from __future__ import annotations

import re
import tracemalloc
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from catalog.models import Video
from common.db import Database
from tests.support.catalog import (
    ADMIN,
    BOTH_DATABASES,
    JPEG,
    PNG,
    USER,
    VIDEO,
    WEBP,
    Catalog,
    running_catalog,
)
from tests.support.http import assert_json_error, call_asgi, multipart_body

ADMIN_FIELDS = {
    "id",
    "title",
    "description",
    "category",
    "created_at",
    "thumbnail_url",
    "status",
    "progress",
    "renditions",
    "duration",
    "error",
    "width",
    "height",
    "source_bytes",
    "rendition_bytes",
}


async def rows(catalog: Catalog) -> list[Video]:
    database = Database(catalog.settings.database_url_for("catalog"))
    try:
        async with database.sessionmaker() as db:
            return list((await db.scalars(select(Video))).all())
    finally:
        await database.dispose()


async def assert_nothing_left(catalog: Catalog) -> None:
    assert await rows(catalog) == []
    assert await catalog.all_keys() == []


# ---------------------------------------------------------------------- success


async def test_upload_answers_201_with_every_admin_field(catalog: Catalog) -> None:
    response = await catalog.upload(title="  First  ", description="", category="Sci-Fi")
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == ADMIN_FIELDS
    assert isinstance(body["id"], int)
    assert body["status"] == "processing"
    assert body["progress"] == 0
    assert body["renditions"] == []
    assert body["title"] == "First"  # stripped
    assert body["description"] == ""
    assert body["category"] == "Sci-Fi"
    assert body["error"] is None and body["duration"] is None
    assert body["thumbnail_url"] is None  # made by the transcoder later
    assert body["source_bytes"] == len(VIDEO) and body["rendition_bytes"] == {}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", body["created_at"])


@BOTH_DATABASES
async def test_upload_stores_the_row_the_source_and_emits_video_uploaded(
    catalog: Catalog,
) -> None:
    body = await catalog.uploaded(file=("My Holiday (final) ü.MP4", VIDEO, "video/mp4"))
    video_id = body["id"]

    (row,) = await rows(catalog)
    assert row.id == video_id and row.status == "processing"
    assert row.source_key == f"sources/{video_id}/My_Holiday_final_u.MP4"
    assert await catalog.all_keys() == [row.source_key]
    assert await catalog.store.get_bytes(row.source_key) == VIDEO
    assert (await catalog.store.stat(row.source_key)).content_type == "video/mp4"

    (job,) = await catalog.wait_for_jobs(1)
    assert job.video_id == video_id
    assert job.source_key == row.source_key
    assert job.has_custom_thumbnail is False


async def test_upload_with_a_thumbnail(catalog: Catalog) -> None:
    body = await catalog.uploaded(thumbnail=("cover.png", PNG, "image/jpeg"))  # type lies
    video_id = body["id"]
    url = body["thumbnail_url"]
    assert url.startswith(f"https://videoflix.example/api/thumbnails/{video_id}/")
    version = url.rsplit("/", 1)[1].removesuffix(".jpg")
    thumbnail_key = f"thumbnails/{video_id}.{version}.png"  # named by its real type
    assert sorted(await catalog.all_keys()) == sorted(
        [f"sources/{video_id}/clip.mp4", thumbnail_key]
    )
    assert (await catalog.store.stat(thumbnail_key)).content_type == "image/png"

    (job,) = await catalog.wait_for_jobs(1)
    assert job.has_custom_thumbnail is True

    # public: no identity headers at all
    response = await catalog.client.get(url.removeprefix("https://videoflix.example"))
    assert response.status_code == 200
    assert response.content == PNG
    assert response.headers["content-type"] == "image/png"


@pytest.mark.parametrize(("image", "content_type"), [(JPEG, "image/jpeg"), (WEBP, "image/webp")])
async def test_jpeg_and_webp_thumbnails_are_accepted(
    catalog: Catalog, image: bytes, content_type: str
) -> None:
    body = await catalog.uploaded(thumbnail=("t", image, "application/octet-stream"))
    response = await catalog.client.get(body["thumbnail_url"].removeprefix(catalog_origin()))
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type


def catalog_origin() -> str:
    return "https://videoflix.example"


async def test_file_part_before_the_text_fields(catalog: Catalog) -> None:
    body, content_type = multipart_body(
        [
            ("file", "late.mov", "video/quicktime", VIDEO),
            ("thumbnail", "t.jpg", "image/jpeg", JPEG),
            ("title", None, None, b"Order does not matter"),
            ("description", None, None, "Ünïcödé ✓".encode()),
            ("category", None, None, b"Docs"),
        ]
    )
    response = await catalog.client.post(
        "/api/admin/videos", content=body, headers={**ADMIN, "content-type": content_type}
    )
    assert response.status_code == 201, response.text
    assert response.json()["description"] == "Ünïcödé ✓"


async def test_an_empty_thumbnail_input_counts_as_none(catalog: Catalog) -> None:
    body = await catalog.uploaded(thumbnail=("", b"", "application/octet-stream"))
    assert body["thumbnail_url"] is None
    (job,) = await catalog.wait_for_jobs(1)
    assert job.has_custom_thumbnail is False


@BOTH_DATABASES
async def test_ids_are_never_reused(catalog: Catalog) -> None:
    first = await catalog.uploaded()
    assert (
        await catalog.client.delete(f"/api/admin/videos/{first['id']}/", headers=ADMIN)
    ).status_code == 204
    second = await catalog.uploaded()
    assert second["id"] > first["id"]


# ---------------------------------------------------------------------- who may upload


async def test_upload_needs_a_principal_and_an_admin(catalog: Catalog) -> None:
    assert_json_error(await catalog.upload(headers={}), 401)
    assert_json_error(await catalog.upload(headers=USER), 403)
    await assert_nothing_left(catalog)


# ---------------------------------------------------------------------- refusals


async def test_too_large_file_is_413_and_leaves_nothing(tmp_path: Path) -> None:
    async with running_catalog(tmp_path, max_upload_bytes=1000) as catalog:
        response = await catalog.upload(file=("big.mp4", b"v" * 5000, "video/mp4"))
        body = assert_json_error(response, 413)
        assert "detail" in body
        await assert_nothing_left(catalog)
        assert catalog.jobs == []

        # exactly at the limit is fine
        response = await catalog.upload(file=("ok.mp4", b"v" * 1000, "video/mp4"))
        assert response.status_code == 201, response.text


async def test_declared_content_length_over_the_limit_is_refused_before_reading(
    tmp_path: Path,
) -> None:
    async with running_catalog(tmp_path, max_upload_bytes=1000) as catalog:
        sent: list[int] = []

        async def body() -> AsyncIterator[bytes]:
            for _ in range(100):
                sent.append(1)
                yield b"x" * 65536

        response = await catalog.client.post(
            "/api/admin/videos/",
            content=body(),
            headers={
                **ADMIN,
                "content-type": "multipart/form-data; boundary=abc",
                "content-length": str(100 * 65536),
            },
        )
        assert_json_error(response, 413)
        assert len(sent) <= 1
        await assert_nothing_left(catalog)


async def test_too_large_thumbnail_is_413(tmp_path: Path) -> None:
    async with running_catalog(tmp_path, max_thumbnail_bytes=100) as catalog:
        response = await catalog.upload(thumbnail=("t.jpg", JPEG, "image/jpeg"))
        assert "thumbnail" in assert_json_error(response, 413)
        await assert_nothing_left(catalog)


async def test_thumbnail_that_is_not_an_image_is_415(catalog: Catalog) -> None:
    response = await catalog.upload(thumbnail=("t.jpg", b"GIF89a" + b"0" * 50, "image/jpeg"))
    assert "thumbnail" in assert_json_error(response, 415)
    await assert_nothing_left(catalog)


@pytest.mark.parametrize(
    ("fields", "bad_field"),
    [
        ({"title": "<script>alert(1)</script>"}, "title"),
        ({"title": "a > b"}, "title"),
        ({"description": "<b>bold</b>"}, "description"),
        ({"category": "<i>"}, "category"),
        ({"category": "newest"}, "category"),
        ({"category": " NeWeSt "}, "category"),
        ({"category": "   "}, "category"),
        ({"category": 'Ac"tion'}, "category"),
        ({"category": "Ac'tion"}, "category"),
        ({"category": "Ac`tion"}, "category"),
        ({"category": "c" * 51}, "category"),
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "t" * 201}, "title"),
        ({"title": "line\nbreak"}, "title"),
        ({"title": "nul\x00"}, "title"),
        ({"description": "d" * 5001}, "description"),
    ],
)
async def test_bad_metadata_is_400_and_leaves_nothing(
    catalog: Catalog, fields: dict[str, str], bad_field: str
) -> None:
    response = await catalog.upload(**fields)  # type: ignore[arg-type]
    body = assert_json_error(response, 400)
    assert bad_field in body
    # nothing echoed back
    for value in fields.values():
        if len(value.strip()) > 3:
            assert value not in response.text
    await assert_nothing_left(catalog)


async def test_boundary_lengths_are_accepted(catalog: Catalog) -> None:
    response = await catalog.upload(title="t" * 200, description="d" * 5000, category="c" * 50)
    assert response.status_code == 201, response.text


@BOTH_DATABASES
async def test_bad_metadata_after_the_file_still_leaves_nothing(catalog: Catalog) -> None:
    body, content_type = multipart_body(
        [
            ("file", "clip.mp4", "video/mp4", VIDEO),
            ("title", None, None, b"<h1>"),
            ("category", None, None, b"Drama"),
        ]
    )
    response = await catalog.client.post(
        "/api/admin/videos/", content=body, headers={**ADMIN, "content-type": content_type}
    )
    assert "title" in assert_json_error(response, 400)
    await assert_nothing_left(catalog)


async def test_missing_fields_are_reported_together(catalog: Catalog) -> None:
    body, content_type = multipart_body([("description", None, None, b"only this")])
    response = await catalog.client.post(
        "/api/admin/videos/", content=body, headers={**ADMIN, "content-type": content_type}
    )
    errors = assert_json_error(response, 400)
    assert set(errors) == {"title", "category", "file"}


async def test_missing_or_empty_file_is_400(catalog: Catalog) -> None:
    assert "file" in assert_json_error(await catalog.upload(file=None), 400)
    response = await catalog.upload(file=("", b"", "application/octet-stream"))
    assert "file" in assert_json_error(response, 400)
    await assert_nothing_left(catalog)


async def test_two_files_are_refused(catalog: Catalog) -> None:
    body, content_type = multipart_body(
        [
            ("title", None, None, b"T"),
            ("category", None, None, b"C"),
            ("file", "a.mp4", "video/mp4", VIDEO),
            ("file", "b.mp4", "video/mp4", VIDEO),
        ]
    )
    response = await catalog.client.post(
        "/api/admin/videos/", content=body, headers={**ADMIN, "content-type": content_type}
    )
    assert "file" in assert_json_error(response, 400)
    await assert_nothing_left(catalog)


async def test_not_multipart_is_415(catalog: Catalog) -> None:
    response = await catalog.client.post(
        "/api/admin/videos/", json={"title": "x", "category": "y"}, headers=ADMIN
    )
    assert_json_error(response, 415)
    await assert_nothing_left(catalog)


async def test_truncated_body_is_400_and_leaves_nothing(catalog: Catalog) -> None:
    body, content_type = multipart_body(
        [
            ("title", None, None, b"T"),
            ("category", None, None, b"C"),
            ("file", "a.mp4", "video/mp4", VIDEO),
        ]
    )
    response = await catalog.client.post(
        "/api/admin/videos/",
        content=body[: len(body) // 2],
        headers={**ADMIN, "content-type": content_type},
    )
    assert_json_error(response, 400)
    await assert_nothing_left(catalog)


async def test_garbage_body_is_400(catalog: Catalog) -> None:
    response = await catalog.client.post(
        "/api/admin/videos/",
        content=b"this is not multipart at all",
        headers={**ADMIN, "content-type": "multipart/form-data; boundary=zzz"},
    )
    assert_json_error(response, 400)
    response = await catalog.client.post(
        "/api/admin/videos/",
        content=b"--x--",
        headers={**ADMIN, "content-type": "multipart/form-data"},  # no boundary
    )
    assert_json_error(response, 400)
    await assert_nothing_left(catalog)


@BOTH_DATABASES
async def test_client_disconnect_mid_upload_leaves_nothing(catalog: Catalog) -> None:
    body, content_type = multipart_body(
        [
            ("title", None, None, b"T"),
            ("category", None, None, b"C"),
            ("file", "a.mp4", "video/mp4", VIDEO * 20),
        ]
    )
    chunks = [body[i : i + 8192] for i in range(0, len(body) // 2, 8192)]
    status, _headers, _body = await call_asgi(
        catalog.app,
        b"/api/admin/videos/",
        method="POST",
        headers={**ADMIN, "content-type": content_type},
        body_chunks=chunks,
        disconnect_after_body=True,
    )
    assert status == 400
    await assert_nothing_left(catalog)
    assert catalog.jobs == []


@BOTH_DATABASES
async def test_a_stale_upload_is_removed_at_start_up(tmp_path: Path, database_url: str) -> None:
    async with running_catalog(tmp_path, database_url=database_url) as catalog:
        database = Database(catalog.settings.database_url_for("catalog"))
        long_ago = datetime.now(UTC) - timedelta(hours=2)
        async with database.sessionmaker() as db:
            stale = Video(
                status="uploading",
                thumbnail_version="v" * 22,
                created_at=long_ago,
                updated_at=long_ago,
            )
            fresh = Video(status="uploading", thumbnail_version="w" * 22)
            db.add_all([stale, fresh])
            await db.commit()
        await database.dispose()
        await catalog.store.put_bytes(f"sources/{stale.id}/x.mp4", b"partial", "video/mp4")
        await catalog.store.put_bytes(f"sources/{fresh.id}/y.mp4", b"partial", "video/mp4")
        # uploads in progress are never listed
        assert (await catalog.client.get("/api/admin/videos/", headers=ADMIN)).json() == []
        assert_json_error(
            await catalog.client.get(f"/api/admin/videos/{fresh.id}", headers=ADMIN), 404
        )

    async with running_catalog(tmp_path, database_url=database_url) as restarted:
        assert [r.id for r in await rows(restarted)] == [fresh.id]
        assert await restarted.all_keys() == [f"sources/{fresh.id}/y.mp4"]


# ---------------------------------------------------------------------- constant memory


async def test_upload_streams_in_constant_memory(tmp_path: Path) -> None:
    size = 30 * 1024 * 1024
    chunk_size = 64 * 1024
    boundary = "memoryboundary1234"
    head, _ = multipart_body(
        [("title", None, None, b"Big"), ("category", None, None, b"Large")], boundary
    )
    head = head[: -len(f"--{boundary}--\r\n")]
    head += (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="file"; filename="big.mp4"\r\n'
        "Content-Type: video/mp4\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()

    async def body() -> AsyncIterator[bytes]:
        yield head
        for n in range(size // chunk_size):
            yield bytes([n % 251]) * chunk_size  # a new object each time, like off a socket
        yield tail

    async with running_catalog(tmp_path) as catalog:
        tracemalloc.start()
        try:
            tracemalloc.reset_peak()
            response = await catalog.client.post(
                "/api/admin/videos/",
                content=body(),
                headers={
                    **ADMIN,
                    "content-type": f"multipart/form-data; boundary={boundary}",
                    "content-length": str(len(head) + size + len(tail)),
                },
                timeout=httpx.Timeout(120),
            )
            _current, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert response.status_code == 201, response.text
        info = await catalog.store.stat(f"sources/{response.json()['id']}/big.mp4")
        assert info.size == size
        assert peak < 8 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB for a 30 MiB upload"


async def test_a_failure_after_the_commit_does_not_undo_the_upload(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once the video is `processing` (and its job is in the outbox) it must keep its source."""
    uploads = catalog.app.state.uploads

    def broken_notify() -> None:
        raise RuntimeError("boom after commit")

    monkeypatch.setattr(uploads, "on_outbox_commit", broken_notify)
    response = await catalog.upload()
    assert_json_error(response, 500)
    (row,) = await rows(catalog)
    assert row.status == "processing"
    assert await catalog.all_keys() == [row.source_key]
    (job,) = await catalog.wait_for_jobs(1)
    assert job.video_id == row.id
