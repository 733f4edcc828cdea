"""The video journey in the distributed wiring: an admin uploads through the gateway, the
transcoder process makes the ladder from S3 over RabbitMQ, the catalog marks it ready, and a
normal user lists it, fetches master, playlists and segments, and FFmpeg plays it over HTTP."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import httpx
import pytest
from minio import Minio

from tests.support.integration import ADMIN_EMAIL, ADMIN_PASSWORD, ORIGIN, Stack
from tests.support.media import make_clip
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration
PASSWORD = "viewer passphrase"


async def admin_client(stack: Stack) -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=stack.gateway_url, headers={"Origin": ORIGIN}, timeout=60)
    login = await client.post(
        "/api/login/", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    )
    assert login.status_code == 200, login.text
    client.headers["X-CSRFToken"] = client.cookies["csrftoken"]
    return client


async def viewer_client(stack: Stack, email: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(
        base_url=stack.gateway_url,
        headers={"Origin": ORIGIN, "Content-Type": "application/json"},
        timeout=60,
    )
    body = {"email": email, "password": PASSWORD, "confirmed_password": PASSWORD}
    assert (await client.post("/api/register/", json=body)).status_code == 201
    uid, token = (await stack.mails_to(email, 1))[0].uid_and_token()
    assert (await client.get(f"/api/activate/{uid}/{token}/")).status_code == 200
    login = await client.post("/api/login/", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    return client


async def wait_ready(admin: httpx.AsyncClient, video_id: int, timeout: float = 180) -> dict:  # type: ignore[type-arg]
    seen_progress: list[int] = []

    async def detail() -> dict:  # type: ignore[type-arg]
        body = (await admin.get(f"/api/admin/videos/{video_id}/")).json()
        assert body["status"] != "failed", body
        seen_progress.append(body["progress"])
        return body

    ready = await eventually(
        detail,
        lambda body: body["status"] == "ready",
        within=timeout,
        interval=0.5,
        failure=lambda body: f"video {video_id} not ready: {body}",
    )
    assert seen_progress == sorted(seen_progress)  # progress never went back
    return ready


def stored_keys(stack: Stack, prefix: str) -> list[str]:
    s3 = stack.s3
    client = Minio(s3.endpoint, access_key=s3.access_key, secret_key=s3.secret_key, secure=False)
    return [o.object_name for o in client.list_objects(s3.bucket, prefix=prefix, recursive=True)]


async def test_upload_transcode_list_and_stream(stack: Stack, tmp_path: Path) -> None:
    source = await asyncio.to_thread(
        make_clip, tmp_path / "holiday.mp4", size="1280x720", seconds=6
    )
    admin = await admin_client(stack)
    viewer = await viewer_client(stack, "viewer@example.com")
    try:
        with source.open("rb") as fh:
            created = await admin.post(
                "/api/admin/videos/",
                data={"title": "Holiday", "description": "At the sea", "category": "Family"},
                files={"file": ("holiday.mp4", fh, "video/mp4")},
            )
        assert created.status_code == 201, created.text
        video_id = created.json()["id"]
        assert created.json()["status"] == "processing"

        detail = await wait_ready(admin, video_id)
        assert detail["renditions"] == ["480p", "720p"]
        assert 5.5 <= detail["duration"] <= 6.5 and detail["error"] is None

        listed = (await viewer.get("/api/video/")).json()
        assert [v["id"] for v in listed] == [video_id]
        entry = listed[0]
        assert entry["created_at"].endswith("Z") and entry["category"] == "Family"
        assert entry["thumbnail_url"].startswith("http://127.0.0.1:8000/api/thumbnails/")
        thumb_path = entry["thumbnail_url"].removeprefix("http://127.0.0.1:8000")
        async with httpx.AsyncClient(base_url=stack.gateway_url) as anonymous:
            thumbnail = await anonymous.get(thumb_path)  # no credentials, like an <img>
        assert thumbnail.status_code == 200
        assert thumbnail.content[:3] == b"\xff\xd8\xff"

        master = await viewer.get(f"/api/video/{video_id}/master.m3u8")
        assert master.status_code == 200
        assert master.headers["content-type"].startswith("application/vnd.apple.mpegurl")
        assert "480p/index.m3u8" in master.text and "720p/index.m3u8" in master.text
        for resolution in ("480p", "720p", "1080p"):  # 1080p falls back to 720p
            playlist = await viewer.get(f"/api/video/{video_id}/{resolution}/index.m3u8")
            assert playlist.status_code == 200, playlist.text
            segments = [line for line in playlist.text.splitlines() if line.endswith(".ts")]
            assert segments
            for name in segments:
                segment = await viewer.get(f"/api/video/{video_id}/{resolution}/{name}/")
                assert segment.status_code == 200
                assert segment.headers["content-type"] == "video/MP2T"
                assert segment.content[0] == 0x47  # MPEG-TS sync byte
            ranged = await viewer.get(
                f"/api/video/{video_id}/{resolution}/{segments[0]}",
                headers={"Range": "bytes=0-187"},
            )
            assert ranged.status_code == 206 and len(ranged.content) == 188

        # a real player: FFmpeg decodes the master playlist over HTTP with the user's token
        access = viewer.cookies["access_token"]
        ffmpeg = shutil.which("ffmpeg")
        assert ffmpeg
        proc = await asyncio.create_subprocess_exec(
            ffmpeg, "-v", "error", "-headers", f"Authorization: Bearer {access}\r\n",
            "-i", f"{stack.gateway_url}/api/video/{video_id}/master.m3u8",
            "-map", "0:v:0", "-f", "null", "-",
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _, errors = await asyncio.wait_for(proc.communicate(), 120)
        assert proc.returncode == 0 and not errors.strip(), errors.decode()[-2000:]

        async with httpx.AsyncClient(base_url=stack.gateway_url) as anonymous:
            refused = await anonymous.get(f"/api/video/{video_id}/master.m3u8")
        assert refused.status_code == 401

        deleted = await admin.delete(f"/api/admin/videos/{video_id}/")
        assert deleted.status_code == 204
        assert (await viewer.get("/api/video/")).json() == []
        for prefix in (f"sources/{video_id}/", f"hls/{video_id}/", f"thumbnails/{video_id}"):
            assert await asyncio.to_thread(stored_keys, stack, prefix) == []
    finally:
        await admin.aclose()
        await viewer.aclose()
