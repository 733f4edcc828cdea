"""The admin's byte sizes with a real transcode (the all-in-one, in process): `source_bytes` is
the uploaded file's size, by the multipart POST and by tus alike, and `rendition_bytes` is, per
rendition, the sum of the stored objects under its folder (playlist and segments)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
import pytest
from alembic import command
from sqlalchemy import select

from catalog.app import MIGRATIONS
from catalog.models import Video
from catalog.schemas import admin_video
from common.db import Database, prepare_sqlite_file
from common.migrations import alembic_config, upgrade
from tests.support.accounts import admin_login
from tests.support.media import make_clip, require_system_ffmpeg
from tests.support.platform import BASE_URL, ORIGIN, Platform
from tests.support.tus import create, patch
from tests.support.waiting import eventually


@pytest.fixture
async def admin(platform: Platform) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the all-in-one's gateway with the admin's Bearer token."""
    require_system_ffmpeg()
    async with httpx.AsyncClient(
        transport=platform.client._transport, base_url=BASE_URL, headers={"Origin": ORIGIN}
    ) as client:
        login = await admin_login(client)
        client.headers["Authorization"] = f"Bearer {login.cookies['access_token']}"
        client.cookies.clear()  # a Bearer token needs no CSRF header; cookies would
        yield client


async def until_ready(client: httpx.AsyncClient, video_id: int) -> dict[str, Any]:
    async def view() -> dict[str, Any]:
        response = await client.get(f"/api/admin/videos/{video_id}/")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        assert body["status"] != "failed", body
        return body

    return await eventually(view, lambda v: v["status"] == "ready", within=120, interval=0.2)


def stored_bytes(objects: Path, video_id: int, rendition: str) -> int:
    folder = objects / "hls" / str(video_id) / rendition
    files = [p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".vf-")]
    assert any(p.name == "index.m3u8" for p in files) and len(files) > 1, files
    return sum(p.stat().st_size for p in files)


def assert_sizes(platform: Platform, video: dict[str, Any], source_size: int) -> None:
    objects = platform.settings.data_dir / "objects"
    assert video["source_bytes"] == source_size
    assert list(video["rendition_bytes"]) == video["renditions"] == ["480p"]
    for rendition, size in video["rendition_bytes"].items():
        assert size == stored_bytes(objects, video["id"], rendition)


async def test_sizes_of_a_multipart_upload(
    platform: Platform, admin: httpx.AsyncClient, tmp_path: Path
) -> None:
    clip = make_clip(tmp_path / "clip.mp4", size="160x120", seconds=1.0).read_bytes()
    created = await admin.post(
        "/api/admin/videos/",
        data={"title": "Posted", "category": "Sizes"},
        files={"file": ("clip.mp4", clip, "video/mp4")},
    )
    assert created.status_code == 201, created.text
    assert created.json()["source_bytes"] == len(clip)
    assert created.json()["rendition_bytes"] == {}  # nothing transcoded yet
    assert_sizes(platform, await until_ready(admin, created.json()["id"]), len(clip))


async def test_sizes_of_a_tus_upload(
    platform: Platform, admin: httpx.AsyncClient, tmp_path: Path
) -> None:
    clip = make_clip(tmp_path / "clip.mp4", size="160x120", seconds=1.0).read_bytes()
    fields = {"filename": "clip.mp4", "filetype": "video/mp4", "title": "Resumed"}
    created = await create(admin, len(clip), **fields, category="Sizes")
    assert created.status_code == 201, created.text
    url = urljoin(f"{BASE_URL}/api/admin/uploads/", created.headers["location"])
    half = len(clip) // 2
    assert (await patch(admin, url, 0, clip[:half])).status_code == 204
    last = await patch(admin, url, half, clip[half:])
    assert last.status_code == 204, last.text
    video_id = int(last.headers["videoflix-video-id"])
    listed = {v["id"]: v for v in (await admin.get("/api/admin/videos/")).json()}
    assert listed[video_id]["source_bytes"] == len(clip)
    assert_sizes(platform, await until_ready(admin, video_id), len(clip))


async def test_videos_from_before_the_sizes_show_null_and_no_rendition_bytes(
    tmp_path: Path,
) -> None:
    """Migration 0004 on a database with a ready video: its sizes are unknown, not zero."""
    url = f"sqlite:///{tmp_path / 'catalog.sqlite3'}"
    prepare_sqlite_file(url)
    await asyncio.to_thread(command.upgrade, alembic_config(MIGRATIONS, url), "0003")
    with sqlite3.connect(tmp_path / "catalog.sqlite3") as conn:
        conn.execute(
            "INSERT INTO videos (title, description, category, status, progress, renditions,"
            " thumbnail_custom, thumbnail_version, created_at, updated_at) VALUES"
            " ('Old', '', 'Drama', 'ready', 100, '[\"480p\"]', 0, 'v1', ?, ?)",
            ("2026-01-01 00:00:00.000000+00:00",) * 2,
        )
    await upgrade(MIGRATIONS, url)
    database = Database(url)
    try:
        async with database.sessionmaker() as db:
            (video,) = (await db.scalars(select(Video))).all()
    finally:
        await database.dispose()
    shown = admin_video(video, "https://videoflix.example").model_dump(mode="json")
    assert (shown["renditions"], shown["source_bytes"], shown["rendition_bytes"]) == (
        ["480p"],
        None,
        {},
    )
