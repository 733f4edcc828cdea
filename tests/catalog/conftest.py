"""The catalog app on in-memory ports, called the way the gateway calls it: over ASGI, with
the trusted identity headers the gateway adds after authenticating the caller."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from catalog.app import create_app
from catalog.config import CatalogSettings
from common.bus.memory import InMemoryBus
from common.bus.topology import TRANSCODER
from common.config import Settings
from common.events import Envelope, Event, VideoTranscoded, VideoUploaded
from common.kv.memory import InMemoryKeyValueStore
from common.ports import Ports
from common.security.principal import Principal
from common.storage.local import LocalObjectStore

BASE = "http://catalog.internal"
PUBLIC_BASE_URL = "https://videoflix.example"
ADMIN = Principal(user_id=1, email="admin@example.com", admin=True, session_id="s-admin").headers()
USER = Principal(user_id=2, email="user@example.com", admin=False, session_id="s-user").headers()

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x11" * 200
PNG = b"\x89PNG\r\n\x1a\n" + b"\x22" * 200
WEBP = b"RIFF\x00\x01\x00\x00WEBPVP8 " + b"\x33" * 200
VIDEO = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40


class RecordingStore(LocalObjectStore):
    """A local store that remembers every key it was asked to read."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.read_keys: list[str] = []

    async def stat(self, key: str):  # type: ignore[no-untyped-def]
        self.read_keys.append(key)
        return await super().stat(key)

    def iter_range(self, key: str, start: int = 0, end: int | None = None):  # type: ignore[no-untyped-def]
        self.read_keys.append(key)
        return super().iter_range(key, start, end)


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
        async with asyncio.timeout(timeout):
            while len(self.jobs) < count:  # noqa: ASYNC110 - the outbox relay polls too
                await asyncio.sleep(0.01)
        return self.jobs

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


def segment_bytes(rendition: str, n: int) -> bytes:
    head = f"{rendition}-{n:05d}|".encode()
    return head + bytes(range(256)) * 8


@contextlib.asynccontextmanager
async def running_catalog(
    tmp_path: Path, *, database_url: str = "", **config: Any
) -> AsyncIterator[Catalog]:
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
            yield Catalog(client, app, bus, kv, store, settings, catalog_settings, jobs)
    finally:
        await ports.close()


BOTH_DATABASES = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
"""Runs a test on SQLite and on PostgreSQL (the conditional UPDATEs must hold on both)."""


@pytest.fixture
def database_url(request: pytest.FixtureRequest) -> str:
    """Empty for the default SQLite file under DATA_DIR, or a fresh PostgreSQL database."""
    if getattr(request, "param", "sqlite") == "postgresql":
        return request.getfixturevalue("postgres_url")
    return ""


@pytest.fixture
async def catalog(tmp_path: Path, database_url: str) -> AsyncIterator[Catalog]:
    async with running_catalog(tmp_path, database_url=database_url) as running:
        yield running


def assert_json_error(response: httpx.Response, status: int) -> dict[str, Any]:
    """The contract's error shape: JSON, `{"detail": str}` or `{field: [str, ...]}`."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert isinstance(body, dict) and body
    for key, value in body.items():
        if key == "detail":
            assert isinstance(value, str) and value
        else:
            assert isinstance(value, list) and value
            assert all(isinstance(m, str) and m for m in value)
    return body


def multipart_body(
    parts: list[tuple[str, str | None, str | None, bytes]], boundary: str | None = None
) -> tuple[bytes, str]:
    """A multipart/form-data body with its parts in exactly this order:
    (name, filename, content type, data)."""
    boundary = boundary or secrets.token_hex(12)
    out = bytearray()
    for name, filename, content_type, data in parts:
        out += f"--{boundary}\r\n".encode()
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        out += f"Content-Disposition: {disposition}\r\n".encode()
        if content_type:
            out += f"Content-Type: {content_type}\r\n".encode()
        out += b"\r\n" + data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


async def call_asgi(
    app: FastAPI,
    raw_path: bytes,
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    body_chunks: list[bytes] | None = None,
    disconnect_after_body: bool = False,
) -> tuple[int, dict[str, str], bytes]:
    """One request straight through ASGI, with the raw path exactly as given (no client
    normalises `..` or decodes anything), the way uvicorn hands it over."""
    from urllib.parse import unquote_to_bytes

    path = unquote_to_bytes(raw_path).decode("utf-8", errors="surrogateescape")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": raw_path,
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "client": ("127.0.0.1", 12345),
        "server": ("catalog.internal", 80),
        "state": {},
    }
    chunks = list(body_chunks or [])
    messages: list[dict[str, Any]] = []
    body_sent = False
    finished = asyncio.Event()

    async def receive() -> dict[str, Any]:
        nonlocal body_sent
        if chunks:
            chunk = chunks.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": True}
        if disconnect_after_body:
            return {"type": "http.disconnect"}
        if not body_sent:
            body_sent = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await finished.wait()  # like a server: nothing more until the client goes away
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body"):
            finished.set()

    await app(scope, receive, send)
    start = next(m for m in messages if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    response_headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    return start["status"], response_headers, body
