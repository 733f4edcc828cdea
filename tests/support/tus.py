"""tus 1.0 for tests: requests of a tus client over any httpx client, and the catalog on either
object store (local directory or S3), called over ASGI like `tests.support.catalog`."""

from __future__ import annotations

import base64
import contextlib
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from fastapi import FastAPI
from starlette.requests import ClientDisconnect

from catalog.resumable import ResumableUploads
from common.events import VideoUploaded
from common.storage import ObjectStore
from tests.support.catalog import ADMIN, running_catalog

TUS = {"Tus-Resumable": "1.0.0"}
OFFSET_TYPE = "application/offset+octet-stream"
MiB = 1024 * 1024
PART = 5 * MiB
"""The smallest part size the catalog takes: tests cross part boundaries cheaply."""


def metadata(**fields: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in fields.items())


async def create(
    client: httpx.AsyncClient,
    length: int,
    *,
    headers: dict[str, str] | None = None,
    **fields: str,
) -> httpx.Response:
    fields = fields or {"filename": "clip.mp4", "title": "A clip", "category": "Drama"}
    return await client.post(
        "/api/admin/uploads/",
        headers={
            **TUS,
            "Upload-Length": str(length),
            "Upload-Metadata": metadata(**fields),
            **(headers or {}),
        },
    )


async def head(
    client: httpx.AsyncClient, url: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    return await client.head(url, headers={**TUS, **(headers or {})})


async def patch(
    client: httpx.AsyncClient,
    url: str,
    offset: int,
    body: bytes | AsyncIterable[bytes],
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    return await client.patch(
        url,
        content=body,
        headers={
            **TUS,
            "Content-Type": OFFSET_TYPE,
            "Upload-Offset": str(offset),
            **(headers or {}),
        },
    )


async def pieces(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def cut_after(data: bytes, size: int) -> AsyncIterator[bytes]:
    """`data`, then the connection drops: what the server's request stream raises then."""
    async for piece in pieces(data, size):
        yield piece
    raise ClientDisconnect


@dataclass
class TusCatalog:
    client: httpx.AsyncClient
    app: FastAPI
    store: ObjectStore
    jobs: list[VideoUploaded] = field(default_factory=list)

    @property
    def resumable(self) -> ResumableUploads:
        return self.app.state.resumable  # type: ignore[no-any-return]

    async def create(self, length: int, **fields: str) -> str:
        """A new upload's URL (asserting the 201)."""
        response = await create(self.client, length, headers=ADMIN, **fields)
        assert response.status_code == 201, response.text
        return response.headers["location"]

    async def offset(self, url: str) -> int:
        response = await head(self.client, url, ADMIN)
        assert response.status_code == 200, response.headers
        return int(response.headers["upload-offset"])

    async def patch(
        self, url: str, offset: int, body: bytes | AsyncIterable[bytes], **headers: str
    ) -> httpx.Response:
        return await patch(self.client, url, offset, body, {**ADMIN, **headers})


@contextlib.asynccontextmanager
async def tus_catalog(
    tmp_path: Path, store: ObjectStore, *, database_url: str = "", **config: object
) -> AsyncIterator[TusCatalog]:
    """The catalog on `store` and `database_url` (empty: SQLite under `tmp_path`) with 5 MiB
    parts; the transcoder's queue recorded in `jobs`."""
    async with running_catalog(
        tmp_path, database_url=database_url, store=store, **{"tus_part_bytes": PART, **config}
    ) as running:
        yield TusCatalog(running.client, running.app, store, running.jobs)
