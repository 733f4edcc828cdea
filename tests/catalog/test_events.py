"""GET /api/admin/events/: every video at connect, then each change as server-sent events.

First against the catalog alone (the result messages delivered by hand), then through the
gateway of a real all-in-one served over HTTP, with the real transcoder.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from allinone.app import build_app
from catalog.changes import VideoWatcher
from common.asgi_transport import StreamingASGITransport
from common.config import Settings
from common.events import VideoFailed, VideoProgress
from common.kv.memory import InMemoryKeyValueStore
from common.ports import Ports
from common.security.keys import generate_keypair
from gateway.app import create_app as create_gateway
from tests.support.catalog import ADMIN, BASE, USER, Catalog, running_catalog
from tests.support.gateway import Tokens, bearer
from tests.support.http import assert_json_error, serve
from tests.support.media import make_clip, require_system_ffmpeg
from tests.support.platform import make_settings
from tests.support.sse import EventReader, Frame
from tests.support.waiting import eventually

EVENTS = "/api/admin/events/"


@contextlib.asynccontextmanager
async def events(catalog: Catalog) -> AsyncIterator[EventReader]:
    """The stream as the gateway gets it: over the streaming in-process transport."""
    transport = StreamingASGITransport(catalog.app)
    async with (
        httpx.AsyncClient(transport=transport, base_url=BASE) as client,
        client.stream("GET", EVENTS, headers=ADMIN) as response,
    ):
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["x-accel-buffering"] == "no"
        yield EventReader(response)


def watcher(catalog: Catalog) -> VideoWatcher:
    found: VideoWatcher = catalog.app.state.video_watcher
    return found


async def admin_view(catalog: Catalog, video_id: int) -> dict[str, Any]:
    response = await catalog.client.get(f"/api/admin/videos/{video_id}/", headers=ADMIN)
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def about(video_id: int, **fields: Any) -> Any:
    def wanted(frame: Frame) -> bool:
        if frame.event != "video":
            return False
        data = frame.json()
        return bool(data["id"] == video_id and all(data[k] == v for k, v in fields.items()))

    return wanted


async def test_snapshot_then_every_change_then_gone(catalog: Catalog) -> None:
    older = await catalog.uploaded(title="Older")
    newer = await catalog.ready_video(title="Newer")

    async with events(catalog) as stream:
        first = await stream.frame()
        assert first is not None and first.retry == 1000
        snapshot = [await stream.event(), await stream.event()]
        assert [f.event for f in snapshot] == ["video", "video"]
        assert [f.json() for f in snapshot] == [
            await admin_view(catalog, newer["id"]),
            await admin_view(catalog, older["id"]),
        ]
        assert watcher(catalog).listening == 1

        await catalog.deliver(VideoProgress(video_id=older["id"], percent=42))
        progressed = await stream.event()
        assert progressed.json() == {**await admin_view(catalog, older["id"]), "progress": 42}

        await catalog.deliver(VideoFailed(video_id=older["id"], reason="Broken file."))
        failed = await stream.event()
        assert failed.json()["status"] == "failed" and failed.json()["error"] == "Broken file."

        retried = await catalog.client.post(
            f"/api/admin/videos/{older['id']}/retry/", headers=ADMIN
        )
        assert retried.status_code == 202
        again = await stream.event()
        assert again.json() == retried.json()
        assert (again.json()["status"], again.json()["progress"]) == ("processing", 0)

        edited = await catalog.client.patch(
            f"/api/admin/videos/{newer['id']}/", json={"title": "Renamed"}, headers=ADMIN
        )
        assert (await stream.event()).json() == edited.json()

        added = await catalog.uploaded(title="Brand new")
        assert (await stream.event()).json() == await admin_view(catalog, added["id"])

        deleted = await catalog.client.delete(f"/api/admin/videos/{newer['id']}/", headers=ADMIN)
        assert deleted.status_code == 204
        gone = await stream.event()
        assert (gone.event, gone.json()) == ("deleted", {"id": newer["id"]})

    # the client went away: its listener (and the watcher's polling) with it
    await eventually(lambda: watcher(catalog).listening == 0, within=5)


async def test_quiet_stream_keeps_alive_and_ends_after_its_lifetime(tmp_path: Path) -> None:
    async with (
        running_catalog(
            tmp_path, admin_events_keepalive_seconds=0.05, admin_events_stream_seconds=0.5
        ) as catalog,
        events(catalog) as stream,
    ):
        frames = []
        while (frame := await stream.frame()) is not None:
            frames.append(frame)
        assert frames[0].retry == 1000  # no video, so no snapshot event
        assert all(f.comments == ["keep-alive"] for f in frames[1:])
        assert len(frames) > 2
        await eventually(lambda: watcher(catalog).listening == 0, within=5)


async def test_admins_only(catalog: Catalog) -> None:
    for path in (EVENTS, EVENTS.rstrip("/")):
        assert_json_error(await catalog.client.get(path, headers=USER), 403, detail=True)
        assert_json_error(await catalog.client.get(path), 401, detail=True)
        head = await catalog.client.head(path, headers=ADMIN)
        assert head.status_code == 200 and head.content == b""
        assert head.headers["content-type"].startswith("text/event-stream")
    assert watcher(catalog).listening == 0


# ---------------------------------------------------------------- through the gateway


async def test_gateway_relays_the_stream_over_http_past_its_read_timeout(tmp_path: Path) -> None:
    """The distributed shape: gateway -> catalog over real HTTP, where the gateway's upstream
    read time-out (1 s here) applies; keep-alives every 0.2 s hold the quiet stream open, and
    the client leaving ends the catalog's stream too."""
    keys = generate_keypair()
    async with (
        running_catalog(tmp_path, admin_events_keepalive_seconds=0.2) as catalog,
        serve(catalog.app) as catalog_url,
    ):
        video = await catalog.uploaded(title="Seen")
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            jwt_public_key=keys.public_pem,
            identity_url="http://identity.invalid",
            catalog_url=catalog_url,
            upstream_timeout_seconds=1,
        )
        kv = InMemoryKeyValueStore()
        gateway = create_gateway(settings, Ports(bus=None, kv=kv, store=None))  # type: ignore[arg-type]
        token = Tokens(keys).admin()
        async with (
            gateway.router.lifespan_context(gateway),
            httpx.AsyncClient(
                transport=StreamingASGITransport(gateway), base_url="http://127.0.0.1:8000"
            ) as client,
            client.stream("GET", EVENTS, headers=bearer(token)) as response,
        ):
            stream = EventReader(response)
            assert (await stream.event()).json()["title"] == "Seen"
            keepalives = 0
            while keepalives < 8:
                frame = await stream.frame(timeout=5)
                assert frame is not None
                keepalives += frame.comments == ["keep-alive"]
            await catalog.deliver(VideoProgress(video_id=video["id"], percent=7))
            assert (await stream.event()).json()["progress"] == 7
            assert watcher(catalog).listening == 1
        await eventually(lambda: watcher(catalog).listening == 0, within=10)


@pytest.fixture
async def allinone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[str, Any]]:
    """The all-in-one on a real port (`make dev`), keep-alives every 0.2 s."""
    monkeypatch.setenv("ADMIN_EVENTS_KEEPALIVE_SECONDS", "0.2")
    app = build_app(make_settings(tmp_path))
    async with serve(app, lifespan="on") as url:
        yield url, app


async def test_live_events_through_the_gateway(allinone: tuple[str, Any], tmp_path: Path) -> None:
    require_system_ffmpeg()
    url, app = allinone
    catalog_app = app.state.services["catalog"]
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        login = await client.post(
            "/api/login/", json={"email": "admin@example.com", "password": "adminpassword"}
        )
        assert login.status_code == 200
        auth = {"Authorization": f"Bearer {login.cookies['access_token']}"}
        client.cookies.clear()  # a Bearer token needs no CSRF header; cookies would
        broken = await client.post(
            "/api/admin/videos/",
            headers=auth,
            data={"title": "Broken", "category": "Tests"},
            files={"file": ("broken.mp4", b"not a video at all" * 100, "video/mp4")},
        )
        assert broken.status_code == 201
        video_id = broken.json()["id"]

        async with client.stream("GET", EVENTS, headers=auth) as response:
            stream = EventReader(response)
            # the snapshot, and the transcoder failing the file, as they come
            await stream.until(about(video_id, status="failed"))
            # keep-alives come through the gateway's server as they are written
            keepalives = 0
            while keepalives < 3:
                frame = await stream.frame(timeout=5)
                assert frame is not None
                keepalives += frame.comments == ["keep-alive"]

            retried = await client.post(f"/api/admin/videos/{video_id}/retry/", headers=auth)
            assert retried.status_code == 202
            assert (retried.json()["status"], retried.json()["progress"]) == ("processing", 0)
            # the new run fails again: seen as `processing`, then `failed`, or (when both came
            # within one poll of the stream) as the latest state at once
            after = await stream.until(about(video_id))
            if after.json()["status"] == "processing":
                after = await stream.until(about(video_id, status="failed"))
            assert after.json()["status"] == "failed" and after.json()["error"]

            clip = make_clip(tmp_path / "clip.mp4", size="160x120", seconds=1.0)
            uploaded = await client.post(
                "/api/admin/videos/",
                headers=auth,
                data={"title": "Clip", "category": "Tests"},
                files={"file": ("clip.mp4", clip.read_bytes(), "video/mp4")},
            )
            clip_id = uploaded.json()["id"]
            ready = await stream.until(about(clip_id, status="ready"), timeout=120)
            assert ready.json()["renditions"] == ["480p"] and ready.json()["progress"] == 100

            assert (
                await client.delete(f"/api/admin/videos/{video_id}/", headers=auth)
            ).status_code == 204
            gone = await stream.until(lambda f: f.event == "deleted")
            assert gone.json() == {"id": video_id}

        watcher: VideoWatcher = catalog_app.state.video_watcher
        await eventually(lambda: watcher.listening == 0, within=10)

        # no admin, no stream
        assert_json_error(await client.get(EVENTS), 401, detail=True)
