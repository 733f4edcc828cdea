"""A journey through the all-in-one (sign-up, upload, transcode, playback) moves every metric
of issue 14, scraped from the metrics listener; the public gateway never serves them."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest

from common import metrics
from common.events import Envelope
from tests.support import media
from tests.support.accounts import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.support.allinone import allinone_with_login_limit
from tests.support.http import free_port
from tests.support.metrics import Samples, names, scrape, total
from tests.support.platform import BASE_URL, ORIGIN, Platform
from tests.support.waiting import eventually

PASSWORD = "a long enough passphrase 42"
DURATION_COUNT = "http_server_request_duration_seconds_count"
MOVED = [
    "http_server_request_duration_seconds_count",
    "videoflix_transcode_jobs_total",
    "videoflix_transcode_duration_seconds_count",
    "videoflix_transcode_realtime_factor_count",
    "videoflix_upload_bytes_total",
    "videoflix_segment_bytes_total",
    "videoflix_bus_dead_letters_total",
    "videoflix_mail_sent_total",
    "videoflix_login_attempts_total",
]
"""Every counter or histogram the journey must move (the gauges are checked on their own)."""


@contextlib.contextmanager
def listener() -> Iterator[str]:
    served = metrics.start_listener("127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{served.port}/metrics"
    finally:
        served.stop()


def client_of(platform: Platform, **headers: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=platform.client._transport,
        base_url=BASE_URL,
        headers={"Origin": ORIGIN, **headers},
        timeout=60,
    )


async def sign_up(platform: Platform, email: str) -> httpx.AsyncClient:
    body = {
        "email": email,
        "password": PASSWORD,
        "confirmed_password": PASSWORD,
        "privacy_policy": "on",
    }
    assert (await platform.client.post("/api/register/", json=body)).status_code == 201
    (mail,) = await platform.outbox.wait_for(email)
    uid, token = mail.uid_and_token()
    assert (await platform.client.get(f"/api/activate/{uid}/{token}/")).status_code == 200
    wrong = {"email": email, "password": "not the passphrase"}
    assert (await platform.client.post("/api/login/", json=wrong)).status_code == 401
    return await logged_in(platform, email, PASSWORD)


async def logged_in(platform: Platform, email: str, password: str) -> httpx.AsyncClient:
    client = client_of(platform)
    answer = await client.post("/api/login/", json={"email": email, "password": password})
    assert answer.status_code == 200, answer.text
    client.headers["X-CSRFToken"] = client.cookies["csrftoken"]
    return client


async def upload_and_wait(admin: httpx.AsyncClient, source: Path) -> int:
    with source.open("rb") as file:
        created = await admin.post(
            "/api/admin/videos/",
            data={"title": "Metrics", "description": "A clip.", "category": "Drama"},
            files={"file": (source.name, file, "video/mp4")},
        )
    assert created.status_code == 201, created.text
    video_id: int = created.json()["id"]

    async def status() -> str:
        return str((await admin.get(f"/api/admin/videos/{video_id}/")).json()["status"])

    await eventually(status, lambda s: s in {"ready", "failed"}, within=120, interval=0.2)
    assert await status() == "ready"
    return video_id


async def play(user: httpx.AsyncClient, video_id: int) -> None:
    master = await user.get(f"/api/video/{video_id}/master.m3u8")
    assert master.status_code == 200, master.text
    playlist_url = f"/api/video/{video_id}/480p/index.m3u8"
    playlist = await user.get(playlist_url)
    assert playlist.status_code == 200, playlist.text
    first = next(line for line in playlist.text.splitlines() if line and line[0] != "#")
    segment = await user.get(urljoin(playlist_url, first))
    assert segment.status_code == 200 and segment.content


async def test_a_journey_moves_every_metric(
    platform: Platform, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    media.require_system_ffmpeg()
    source = media.make_clip(tmp_path / "clip.mp4", size="320x240", seconds=2)
    with listener() as url:
        before = await scrape(url)
        user = await sign_up(platform, "viewer@example.com")
        admin = await logged_in(platform, ADMIN_EMAIL, ADMIN_PASSWORD)
        video_id = await upload_and_wait(admin, source)
        await play(user, video_id)
        # a job no transcoder can take is parked at once (and so counted)
        bus = platform.client._transport.app.state.ports.bus  # type: ignore[attr-defined]
        await bus.publish(Envelope(routing_key="video.uploaded", payload={"not": "a job"}))

        async def scraped() -> Samples:
            return await scrape(url)

        after = await eventually(
            scraped,
            lambda s: (
                total(s, "videoflix_bus_dead_letters_total")
                > total(before, "videoflix_bus_dead_letters_total")
            ),
            within=10,
            interval=0.1,
        )

    unmoved = [name for name in MOVED if total(after, name) <= total(before, name)]
    assert not unmoved, unmoved

    def moved(name: str, **labels: str) -> float:
        return total(after, name, labels) - total(before, name, labels)

    assert moved("videoflix_transcode_jobs_total", outcome="succeeded") == 1
    assert moved("videoflix_mail_sent_total", kind="activation", outcome="sent") == 1
    assert moved("videoflix_login_attempts_total", outcome="invalid_credentials") == 1
    assert moved("videoflix_login_attempts_total", outcome="succeeded") == 2
    assert moved("videoflix_upload_bytes_total") == source.stat().st_size
    assert moved("videoflix_bus_dead_letters_total", queue="transcoder.jobs") == 1
    assert moved(DURATION_COUNT, service="gateway") >= 10
    routes = {dict(labels).get("http_route") for _, labels in after}
    assert not [route for route in routes if route and str(video_id) in route], routes
    segment_route = "/api/video/{video_id}/{resolution}/{segment}"  # or its slashed twin
    served = [
        moved(DURATION_COUNT, service="catalog", http_route=route)
        for route in (segment_route, segment_route + "/")
    ]
    assert sum(served) == 1, served
    assert {"videoflix_outbox_pending", "videoflix_outbox_oldest_age_seconds"} <= names(after)
    for database in ("identity", "catalog"):
        assert total(after, "videoflix_outbox_pending", {"database": database}) >= 0
        assert ("videoflix_outbox_pending", frozenset({("database", database)})) in after

    # the public gateway knows no /metrics
    for path in ("/metrics", "/api/metrics", "/metrics/"):
        assert (await platform.client.get(path)).status_code == 404


def test_python_m_allinone_serves_metrics_on_a_port_of_their_own(tmp_path: Path) -> None:
    port = free_port()
    with allinone_with_login_limit(tmp_path, METRICS_PORT=str(port)) as url:
        assert httpx.get(f"{url}/healthz", timeout=10).status_code == 200
        assert httpx.get(f"{url}/api/video/", timeout=10).status_code in {401, 403}
        assert httpx.get(f"{url}/metrics", timeout=10).status_code == 404
        scraped = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
        assert scraped.status_code == 200
        assert 'http_route="/healthz"' in scraped.text and 'service="gateway"' in scraped.text
        assert "videoflix_outbox_pending{" in scraped.text
        assert "process_cpu_seconds_total" in scraped.text
