"""The app: its lifespan consumes transcode jobs (prefetch 1); /healthz and /readyz."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from common.bus.memory import InMemoryBus
from common.bus.topology import CATALOG
from common.config import Settings
from common.events import Envelope, VideoUploaded
from common.kv.memory import InMemoryKeyValueStore
from common.ports import Ports
from common.storage.local import LocalObjectStore
from tests.support.transcoder import bundled_settings, bundled_tools, fast_settings
from transcoder.app import create_app


async def test_the_app_transcodes_what_the_bus_brings(
    clip: Callable[[str], Path], tmp_path: Path
) -> None:
    bus = InMemoryBus(retry_delays_ms=[10])
    store = LocalObjectStore(tmp_path / "objects")
    ports = Ports(bus=bus, kv=InMemoryKeyValueStore(), store=store)
    await ports.start()
    stale = tmp_path / "work" / "vf-transcode-1-old"
    stale.mkdir(parents=True)
    os.utime(stale, (0, 0))  # left by a killed process long ago
    app = create_app(
        Settings(data_dir=tmp_path, environment="test"),
        ports,
        options=fast_settings(tmp_path / "work"),
    )
    results: list[Envelope] = []

    async def collect(envelope: Envelope) -> None:
        results.append(envelope)

    try:
        async with app.router.lifespan_context(app):
            assert not stale.exists()
            await bus.consume(CATALOG.name, collect)
            await store.put_file("sources/1/clip.mp4", clip("tiny"), "video/mp4")
            await bus.publish(VideoUploaded(video_id=1, source_key="sources/1/clip.mp4").envelope())
            await bus.drain(timeout=60)
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://transcoder"
            ) as client:
                assert (await client.get("/healthz")).json() == {"status": "ok"}
                ready = await client.get("/readyz")
                assert ready.status_code == 200, ready.text
                assert ready.json()["checks"] == {
                    "bus": "ok",
                    "object_store": "ok",
                    "ffmpeg": "ok",
                }
    finally:
        await ports.close()
    assert [e.routing_key for e in results][-1] == "video.transcoded"
    assert (tmp_path / "objects/hls/1/master.m3u8").is_file()


async def test_readiness_fails_without_ffmpeg(tmp_path: Path) -> None:
    bus = InMemoryBus()
    ports = Ports(bus=bus, kv=InMemoryKeyValueStore(), store=LocalObjectStore(tmp_path))
    await ports.start()
    app = create_app(
        Settings(data_dir=tmp_path, environment="test"),
        ports,
        options=fast_settings(tmp_path / "work", ffmpeg_path="/nonexistent/ffmpeg"),
    )
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://transcoder"
            ) as client,
        ):
            ready = await client.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["checks"]["ffmpeg"] == "failing"
    finally:
        await ports.close()


async def test_the_bundled_tools_make_it_ready_and_are_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ports = Ports(bus=InMemoryBus(), kv=InMemoryKeyValueStore(), store=LocalObjectStore(tmp_path))
    await ports.start()
    tools = bundled_tools()
    app = create_app(
        Settings(data_dir=tmp_path, environment="test"),
        ports,
        options=bundled_settings(tmp_path / "work"),
        tools=tools,
    )
    try:
        with caplog.at_level(logging.INFO, logger="transcoder.tools"):
            async with (
                app.router.lifespan_context(app),
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app), base_url="http://transcoder"
                ) as client,
            ):
                ready = await client.get("/readyz")
                assert ready.status_code == 200, ready.text
                assert ready.json()["checks"]["ffmpeg"] == "ok"
                await client.get("/readyz")
    finally:
        await ports.close()
    lines = [r.getMessage() for r in caplog.records if r.name == "transcoder.tools"]
    assert lines == [f"transcoder tools: {tools.describe()}"]
    assert "probing with PyAV" in lines[0]
