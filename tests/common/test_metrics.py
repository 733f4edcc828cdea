"""common.metrics: the HTTP histogram by route template, the outbox gauges computed at scrape
time, the listener and the METRICS_PORT setting."""

from __future__ import annotations

import asyncio
import logging
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import generate_latest
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from starlette.responses import Response, StreamingResponse

from common import httpmetrics, metrics
from common.bus.memory import InMemoryBus
from common.config import Settings
from common.events import VideoUploaded
from common.outbox import OutboxBase, OutboxMessage, OutboxRelay, add_to_outbox
from tests.support.metrics import parse, scrape, total

DURATION = "http_server_request_duration_seconds_count"


def metrics_text() -> str:
    """The process registry, as the listener serves it."""
    return generate_latest().decode()


def requests(service: str, **labels: str) -> float:
    return total(parse(metrics_text()), DURATION, {"service": service, **labels})


def app_with_routes(service: str) -> FastAPI:
    app = FastAPI()

    @app.get("/api/video/{video_id}/")
    async def video(video_id: int) -> dict[str, int]:
        return {"id": video_id}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    httpmetrics.instrument(app, service)
    return app


async def test_requests_are_counted_by_route_template_method_and_status() -> None:
    service = "test-routes"
    app = app_with_routes(service)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        for video_id in (1, 2, 3):
            assert (await client.get(f"/api/video/{video_id}/")).status_code == 200
        assert (await client.get("/api/video/x/")).status_code == 422
        assert (await client.get("/nowhere/at/all")).status_code == 404
        assert (await client.post("/api/video/1/")).status_code == 405
        assert (await client.request("BREW", "/api/video/1/")).status_code == 405
        assert (await client.get("/boom")).status_code == 500

    route = {"http_route": "/api/video/{video_id}/"}
    assert requests(service, **route, http_response_status_code="200") == 3
    assert requests(service, **route, http_response_status_code="422") == 1
    assert requests(service, **route, http_request_method="POST") == 1
    assert requests(service, **route, http_request_method="_OTHER") == 1
    assert requests(service, http_route="", http_response_status_code="404") == 1
    assert requests(service, http_route="/boom", http_response_status_code="500") == 1
    exposed = metrics_text()
    assert "/api/video/1/" not in exposed and "/nowhere" not in exposed and "BREW" not in exposed


async def test_segment_bytes_are_counted_as_the_body_is_sent() -> None:
    async def body():  # type: ignore[no-untyped-def]
        yield b"x" * 1000
        yield b"y" * 24

    before = metrics.SEGMENT_BYTES._value.get()
    streamed = httpmetrics.segment_sent(StreamingResponse(body()))
    assert metrics.SEGMENT_BYTES._value.get() == before  # nothing sent yet
    assert b"".join([chunk async for chunk in streamed.body_iterator]) == b"x" * 1000 + b"y" * 24
    httpmetrics.segment_sent(Response(status_code=304))
    httpmetrics.segment_sent(Response(b"abc"))
    assert metrics.SEGMENT_BYTES._value.get() == before + 1024 + 3


async def test_outbox_backlog_is_read_at_scrape_time(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'gauges.sqlite3'}"
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(OutboxBase.metadata.create_all)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    relay = OutboxRelay(sessions, InMemoryBus())  # not started: nothing gets published
    unwatch = metrics.watch_outbox(url, relay.backlog)
    labels = {"database": "gauges"}
    try:
        scraped = parse(await asyncio.to_thread(metrics_text))
        assert total(scraped, metrics.OUTBOX_PENDING, labels) == 0
        assert total(scraped, metrics.OUTBOX_OLDEST_AGE, labels) == 0

        async with sessions() as session, session.begin():
            first = add_to_outbox(session, VideoUploaded(video_id=1, source_key="s/1"))
            add_to_outbox(session, VideoUploaded(video_id=2, source_key="s/2"))
        async with sessions() as session, session.begin():
            oldest = await session.get(OutboxMessage, str(first.id))
            assert oldest is not None
            oldest.created_at = datetime.now(UTC) - timedelta(minutes=7)

        scraped = parse(await asyncio.to_thread(metrics_text))
        assert total(scraped, metrics.OUTBOX_PENDING, labels) == 2
        assert 7 * 60 <= total(scraped, metrics.OUTBOX_OLDEST_AGE, labels) < 8 * 60
        # scraped from the loop's own thread it cannot wait for the loop: left out, no hang
        assert (metrics.OUTBOX_PENDING, frozenset(labels.items())) not in parse(metrics_text())
    finally:
        unwatch()
        await engine.dispose()
    assert (metrics.OUTBOX_PENDING, frozenset(labels.items())) not in parse(
        await asyncio.to_thread(metrics_text)
    )


async def test_the_listener_serves_every_metric_and_stops() -> None:
    listener = metrics.start_listener("127.0.0.1", 0)
    try:
        metrics.login_attempt("succeeded")
        scraped = await scrape(f"http://127.0.0.1:{listener.port}/metrics")
        assert total(scraped, "videoflix_login_attempts_total", {"outcome": "succeeded"}) >= 1
        assert set(metrics.metric_names()) >= {
            "http_server_request_duration_seconds",
            "videoflix_transcode_jobs_total",
            "videoflix_transcode_duration_seconds",
            "videoflix_transcode_realtime_factor",
            "videoflix_upload_bytes_total",
            "videoflix_segment_bytes_total",
            "videoflix_outbox_pending",
            "videoflix_outbox_oldest_age_seconds",
            "videoflix_bus_dead_letters_total",
            "videoflix_mail_sent_total",
            "videoflix_login_attempts_total",
        }
    finally:
        listener.stop()
    with pytest.raises(httpx.ConnectError):
        await scrape(f"http://127.0.0.1:{listener.port}/metrics")


def test_metrics_port_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("METRICS_PORT", raising=False)
    assert Settings().metrics_port is None
    for value, port in (("", 0), ("0", 0), ("9100", 9100)):
        monkeypatch.setenv("METRICS_PORT", value)
        assert Settings().metrics_port == port
    assert metrics.listener_port(None, allinone=True) == 9464
    assert metrics.listener_port(None, allinone=False) is None
    assert metrics.listener_port(0, allinone=True) is None
    assert metrics.listener_port(9100, allinone=False) == 9100


def test_a_busy_port_is_fatal_when_distributed_and_a_warning_all_in_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError):
            metrics.serve_metrics(port, "127.0.0.1", allinone=False)
        with caplog.at_level(logging.WARNING, logger="common.metrics"):
            assert metrics.serve_metrics(port, "127.0.0.1", allinone=True) is None
        assert "metrics are off" in caplog.text
    assert metrics.serve_metrics(0, "127.0.0.1", allinone=True) is None
