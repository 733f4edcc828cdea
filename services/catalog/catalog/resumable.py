"""Resumable uploads (tus 1.0; `catalog.tus` is the HTTP side): create, write at an offset,
terminate, expire. How the bytes are kept, and how the last one makes a video, is
`catalog.resumable_parts`'s. An upload expires `tus_expiry_seconds` after it last received
bytes; `remove_expired` removes expired ones (parts and row), every
`tus_cleanup_interval_seconds` (`catalog.app`).
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from catalog import forms, media
from catalog import resumable_rows as rows
from catalog.checksums import Checksum
from catalog.config import CatalogSettings
from catalog.models import ResumableUpload
from catalog.refusals import UploadTooLarge
from catalog.resumable_parts import (
    OffsetMismatch,
    PartWriter,
    TooManyBytes,
    UploadBusy,
    UploadNotFound,
    UploadState,
    parse_metadata,
    state_of,
    upload_prefix,
)
from catalog.uploads import Uploads
from common.db import utcnow
from common.refusals import Invalid
from common.storage import ObjectStore
from common.storage.port import COMPOSE_MAX_SOURCES

log = logging.getLogger(__name__)


@dataclass(eq=False)
class ResumableUploads:
    config: CatalogSettings
    sessionmaker: async_sessionmaker[AsyncSession]
    store: ObjectStore
    uploads: Uploads
    clock: Callable[[], datetime] = utcnow
    """Now, for expiries and leases (tests move it)."""

    @property
    def ttl(self) -> timedelta:
        return timedelta(seconds=self.config.tus_expiry_seconds)

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.config.tus_lease_seconds)

    async def create(self, length: int, metadata_header: str) -> UploadState:
        if length > self.config.max_upload_bytes:
            raise UploadTooLarge(self.config.max_upload_bytes)
        if length < 1:
            raise Invalid("Upload-Length must be at least 1: an empty file is no video.")
        metadata = parse_metadata(metadata_header)
        texts = {k: v for k, v in metadata.items() if k in forms.TEXT_FIELDS}
        fields = forms.upload_metadata(texts, has_file=True)  # 400 per field, like the form
        now = self.clock()
        row = ResumableUpload(
            id=secrets.token_hex(16),
            length=length,
            offset=0,
            part_size=max(self.config.tus_part_bytes, math.ceil(length / COMPOSE_MAX_SOURCES)),
            filename=media.sanitize_filename(metadata.get("filename") or metadata.get("name")),
            metadata_header=metadata_header.strip(),
            title=fields.title,
            description=fields.description,
            category=fields.category,
            created_at=now,
            expires_at=now + self.ttl,
        )
        async with self.sessionmaker() as db:
            db.add(row)
            await db.commit()
        return state_of(row)

    async def status(self, upload_id: str) -> UploadState:
        async with self.sessionmaker() as db:
            row = await rows.get(db, upload_id)
        if row is None or row.expires_at <= self.clock():
            raise UploadNotFound
        return state_of(row)

    async def write(
        self,
        upload_id: str,
        offset: int,
        chunks: AsyncIterator[bytes],
        checksum: Checksum | None = None,
    ) -> UploadState:
        """Take the bytes from `offset` on; refused unless `offset` is the upload's. A body
        that stops early (a cut connection) keeps what arrived, up to the last byte stored;
        with a `checksum`, the body counts only whole and matching."""
        token = secrets.token_hex(16)
        now = self.clock()
        async with self.sessionmaker() as db:
            leased = await rows.take_lease(
                db, upload_id, token, offset=offset, now=now, until=now + self.lease
            )
            await db.commit()
            row = await rows.get(db, upload_id)
        if row is None or row.expires_at <= now:
            raise UploadNotFound
        if not leased:
            if row.offset != offset:
                raise OffsetMismatch(row.offset)
            if row.video_id is not None:  # finished; an empty PATCH at its end asks again
                async for chunk in chunks:
                    if chunk:
                        raise TooManyBytes
                return state_of(row)
            raise UploadBusy
        try:
            return await PartWriter(self, row, token, checksum).run(chunks)
        finally:
            await asyncio.shield(self._release(upload_id, token))

    async def _release(self, upload_id: str, token: str) -> None:
        async with self.sessionmaker() as db:
            await rows.release(db, upload_id, token)
            await db.commit()

    async def terminate(self, upload_id: str) -> None:
        """Remove the upload and every byte of it (a finished one's video stays)."""
        token = secrets.token_hex(16)
        async with self.sessionmaker() as db:
            taken = await rows.take_any(db, upload_id, token, now=self.clock())
            await db.commit()
        if not taken:
            await self.status(upload_id)  # 404 when gone or expired
            raise UploadBusy
        await self._remove(upload_id, token)

    async def _remove(self, upload_id: str, token: str) -> None:
        await self.store.delete_prefix(upload_prefix(upload_id))
        async with self.sessionmaker() as db:
            await rows.remove(db, upload_id, token)
            await db.commit()

    async def remove_expired(self) -> int:
        """Remove every expired upload's parts and row; returns how many."""
        now = self.clock()
        async with self.sessionmaker() as db:
            ids = await rows.expired(db, now)
        removed = 0
        for upload_id in ids:
            token = secrets.token_hex(16)
            async with self.sessionmaker() as db:
                taken = await rows.take_expired(db, upload_id, token, now=now)
                await db.commit()
            if taken:  # else another replica is at it, or a PATCH came just in time
                await self._remove(upload_id, token)
                removed += 1
        if removed:
            log.info("removed %d expired resumable uploads", removed)
        return removed
