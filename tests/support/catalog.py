"""The catalog app on in-memory ports, called the way the gateway calls it: over ASGI, with
the trusted identity headers the gateway adds after authenticating the caller. The fixtures
(`catalog`, `database_url`) are in tests/catalog/conftest.py."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event as sql_event

from catalog.app import create_app
from catalog.config import CatalogSettings
from common.bus.memory import InMemoryBus
from common.bus.topology import TRANSCODER
from common.config import Settings
from common.events import Envelope, Event, VideoTranscoded, VideoUploaded
from common.kv.memory import InMemoryKeyValueStore
from common.ports import Ports
from common.security.principal import Principal
from common.storage import ObjectStore
from tests.support.fakes import RecordingStore
from tests.support.waiting import eventually

BASE = "http://catalog.internal"
PUBLIC_BASE_URL = "https://videoflix.example"
ADMIN = Principal(user_id=1, email="admin@example.com", admin=True, session_id="s-admin").headers()
USER = Principal(user_id=2, email="user@example.com", admin=False, session_id="s-user").headers()

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x11" * 200
PNG = b"\x89PNG\r\n\x1a\n" + b"\x22" * 200
WEBP = b"RIFF\x00\x01\x00\x00WEBPVP8 " + b"\x33" * 200
VIDEO = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40


BOTH_DATABASES = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
"""Runs a test on SQLite and on PostgreSQL (the conditional UPDATEs must hold on both)."""


@dataclass
class Catalog:
    client: httpx.AsyncClient
    app: FastAPI
    bus: InMemoryBus
    kv: InMemoryKeyValueStore
    store: RecordingStore
    settings: Settings
    config: CatalogSettings
    jobs: list[VideoUploaded] = field(default_factory=list)

    # -------------------------------------------------------------- requests

    async def upload(
        self,
        *,
        title: str = "A clip",
        description: str = "Something happens.",
        category: str = "Drama",
        file: tuple[str, bytes, str] | None = ("clip.mp4", VIDEO, "video/mp4"),
        thumbnail: tuple[str, bytes, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        files: dict[str, Any] = {}
        if file is not None:
            files["file"] = file
        if thumbnail is not None:
            files["thumbnail"] = thumbnail
        data = {"title": title, "description": description, "category": category}
        return await self.client.post(
            "/api/admin/videos/",
            data=data,
            files=files or {"unused": ("x.bin", b"", "application/octet-stream")},
            headers=ADMIN if headers is None else headers,
        )

    async def uploaded(self, **kwargs: Any) -> dict[str, Any]:
        response = await self.upload(**kwargs)
        assert response.status_code == 201, response.text
        return response.json()

    # -------------------------------------------------------------- bus

    async def deliver(self, *events: Event | Envelope) -> None:
        """Publish to the catalog's queue and wait until it was handled."""
        for event in events:
            await self.bus.publish(event if isinstance(event, Envelope) else event.envelope())
        await self.bus.drain()

    async def wait_for_jobs(self, count: int, timeout: float = 5) -> list[VideoUploaded]:
        """Until the transcoder's queue got `count` jobs (the outbox relay sends them soon
        after the commit, not within the request)."""
        return await eventually(
            lambda: self.jobs,
            lambda jobs: len(jobs) >= count,
            within=timeout,
            failure=lambda jobs: f"{count} transcode job(s) expected, got {jobs}",
        )

    # -------------------------------------------------------------- playback data

    async def put_hls(
        self, video_id: int, renditions: Iterable[str] = ("480p", "720p"), segments: int = 2
    ) -> None:
        """Small fake playlists and segments, recognisable per rendition."""
        master = ["#EXTM3U"]
        for rendition in renditions:
            master += ["#EXT-X-STREAM-INF:BANDWIDTH=1000000", f"{rendition}/index.m3u8"]
            lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:4"]
            for n in range(segments):
                name = f"segment_{n:05d}.ts"
                lines += ["#EXTINF:4.0,", name]
                await self.store.put_bytes(
                    f"hls/{video_id}/{rendition}/{name}",
                    segment_bytes(rendition, n),
                    "video/MP2T",
                )
            lines.append("#EXT-X-ENDLIST")
            await self.store.put_bytes(
                f"hls/{video_id}/{rendition}/index.m3u8",
                ("\n".join(lines) + f"\n# {rendition}\n").encode(),
                "application/vnd.apple.mpegurl",
            )
        await self.store.put_bytes(
            f"hls/{video_id}/master.m3u8",
            ("\n".join(master) + "\n").encode(),
            "application/vnd.apple.mpegurl",
        )

    async def make_ready(
        self,
        video_id: int,
        renditions: Iterable[str] = ("480p", "720p"),
        *,
        thumbnail: bool = True,
    ) -> None:
        """What the transcoder does: outputs first, then the result message."""
        renditions = list(renditions)
        await self.put_hls(video_id, renditions)
        key = None
        if thumbnail:
            key = f"thumbnails/{video_id}.jpg"
            await self.store.put_bytes(key, JPEG, "image/jpeg")
        heights = {"480p": 480, "720p": 720, "1080p": 1080}
        height = max(heights[r] for r in renditions)
        await self.deliver(
            VideoTranscoded(
                video_id=video_id,
                renditions=renditions,
                duration=12.5,
                width=height * 16 // 9,
                height=height,
                thumbnail_key=key,
            )
        )

    async def ready_video(self, **kwargs: Any) -> dict[str, Any]:
        renditions = kwargs.pop("renditions", ("480p", "720p"))
        video = await self.uploaded(**kwargs)
        await self.make_ready(video["id"], renditions)
        return video

    async def all_keys(self) -> list[str]:
        return await self.store.list_keys("")


@contextlib.contextmanager
def counted_statements(catalog: Catalog) -> Iterator[list[str]]:
    """Every SQL statement the catalog's engine runs inside the block."""
    engine = catalog.app.state.videos.sessionmaker.kw["bind"]
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    sql_event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sql_event.remove(engine.sync_engine, "before_cursor_execute", record)


def segment_bytes(rendition: str, n: int) -> bytes:
    head = f"{rendition}-{n:05d}|".encode()
    return head + bytes(range(256)) * 8


@contextlib.asynccontextmanager
async def running_catalog(
    tmp_path: Path, *, database_url: str = "", store: ObjectStore | None = None, **config: Any
) -> AsyncIterator[Catalog]:
    """The catalog on `database_url` (empty: SQLite under `tmp_path`) and `store` (by default a
    `RecordingStore` under `tmp_path`, which `Catalog.store` is typed as: a test that passes
    another store reads it back from its own variable); `config` sets `CatalogSettings`."""
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "data",
        database_url=database_url,
        migrate_on_start=True,
        public_base_url=PUBLIC_BASE_URL + "/",
        log_json=False,
    )
    catalog_settings = CatalogSettings(
        **{"max_upload_bytes": 64 * 1024 * 1024, **config}  # type: ignore[arg-type]
    )
    bus = InMemoryBus(retry_delays_ms=[20, 40])
    kv = InMemoryKeyValueStore()
    if store is None:
        store = RecordingStore(tmp_path / "objects")
    ports = Ports(bus=bus, kv=kv, store=store)
    await ports.start()
    jobs: list[VideoUploaded] = []

    async def transcoder(envelope: Envelope) -> None:
        jobs.append(envelope.parse(VideoUploaded))

    await bus.consume(TRANSCODER.name, transcoder)
    app = create_app(settings, ports, catalog_settings=catalog_settings)
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client,
        ):
            yield Catalog(client, app, bus, kv, store, settings, catalog_settings, jobs)  # type: ignore[arg-type]
    finally:
        await ports.close()
