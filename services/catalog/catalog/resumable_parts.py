"""A resumable upload's bytes in the store (`catalog.resumable`), under `resumable/<id>/`:
full parts of the row's `part_size` as `part-<n>`, and what a PATCH leaves over (less than a
part: it ended, or its connection was cut) as `tail-<offset>`, the bytes from the last full
part up to `offset`.

The row's `offset` moves only after the objects holding those bytes are stored, so it is
exactly what the server holds; a tail is named after the offset it completes, so a writer
that died before its move left an object nobody reads. The next PATCH reads that tail back
(less than a part) and fills the next part with it. When the last byte arrives, the parts are
composed (`ObjectStore.compose`, server-side on S3) into the video's source through
`Uploads.adopt`, the multipart POST's own path, and the row records the video in that very
transaction. Memory: one part per PATCH, whatever the size of the upload.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from catalog import media
from catalog import resumable_rows as rows
from catalog.checksums import Checksum, ChecksumMismatch
from catalog.models import ResumableUpload
from catalog.objects import delete_quietly
from catalog.schemas import VideoCreateIn
from catalog.uploads import source_content_type
from common.refusals import Conflict, Invalid, NotFound
from common.storage.port import DEFAULT_CONTENT_TYPE, ObjectInfo

if TYPE_CHECKING:
    from catalog.resumable import ResumableUploads

log = logging.getLogger(__name__)

PREFIX = "resumable/"


class UploadNotFound(NotFound):
    default_message = "Upload not found (it never existed, expired or was terminated)."


class OffsetMismatch(Conflict):
    def __init__(self, offset: int) -> None:
        super().__init__(f"Upload-Offset does not match the upload's offset, {offset}.")


class UploadBusy(Conflict):
    default_message = "Another request is writing to this upload; try again shortly."


class TooManyBytes(Invalid):
    default_message = "The body goes past Upload-Length."


def upload_prefix(upload_id: str) -> str:
    return f"{PREFIX}{upload_id}/"


def part_key(upload_id: str, index: int) -> str:
    return f"{PREFIX}{upload_id}/part-{index:05d}"


def tail_key(upload_id: str, offset: int) -> str:
    return f"{PREFIX}{upload_id}/tail-{offset}"


def parse_metadata(header: str) -> dict[str, str]:
    """`Upload-Metadata`: comma-separated `key base64value` (or a bare key), keys unique;
    values are UTF-8 text here."""
    pairs: dict[str, str] = {}
    if not header.strip():
        return pairs
    for item in header.split(","):
        words = item.strip().split(" ")
        key = words[0]
        if not item.strip() or not key.isascii() or not key.isprintable() or len(words) > 2:
            raise Invalid("Upload-Metadata is malformed.")
        if key in pairs:
            raise Invalid(f"Upload-Metadata names {key} twice.")
        try:
            raw = base64.b64decode(words[1], validate=True) if len(words) == 2 else b""
            pairs[key] = raw.decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise Invalid(f"Upload-Metadata: {key} is not base64 of UTF-8 text.") from None
    return pairs


@dataclass(frozen=True)
class UploadState:
    id: str
    length: int
    offset: int
    expires_at: datetime
    metadata: str
    video_id: int | None


def state_of(row: ResumableUpload) -> UploadState:
    return UploadState(
        row.id, row.length, row.offset, row.expires_at, row.metadata_header, row.video_id
    )


class PartWriter:
    """One PATCH's bytes: at most one part in `buffer`, which begins at `base`."""

    def __init__(
        self,
        owner: ResumableUploads,
        row: ResumableUpload,
        token: str,
        checksum: Checksum | None = None,
    ) -> None:
        self.owner, self.row, self.token = owner, row, token
        self.checksum = checksum
        """With one, nothing of this PATCH counts until its digest matched (none if cut)."""
        self.hasher: Any = checksum.hasher() if checksum is not None else None
        self.id, self.length, self.part_size = row.id, row.length, row.part_size
        self.durable = row.offset
        self.base = row.offset - row.offset % row.part_size
        self.buffer = bytearray()
        self.renewed = time.monotonic()

    @property
    def received(self) -> int:
        return self.base + len(self.buffer)

    async def run(self, chunks: AsyncIterator[bytes]) -> UploadState:
        if self.durable > self.base:  # the tail of earlier PATCHes starts the next part
            async for piece in self.owner.store.iter_range(
                tail_key(self.id, self.durable), 0, self.durable - self.base - 1
            ):
                self.buffer += piece
        try:
            async for chunk in chunks:
                if self.received + len(chunk) > self.length:
                    raise TooManyBytes
                if self.hasher is not None:
                    self.hasher.update(chunk)
                await self._take(memoryview(chunk))
            if self.checksum is not None and self.hasher.digest() != self.checksum.digest:
                raise ChecksumMismatch
        except BaseException:
            # keep what arrived, unless it was all of it (then the client sends the last
            # part again: no offset is ever at the end without a video)
            if self.checksum is None and self.durable < self.received < self.length:
                try:
                    await asyncio.shield(self._store_tail())
                except Exception:
                    log.warning("could not keep the tail of upload %s", self.id, exc_info=True)
            raise
        if self.received < self.length:
            if self.received > self.durable:
                await self._store_tail()
            return UploadState(
                self.id,
                self.length,
                self.durable,
                self.owner.clock() + self.owner.ttl,
                self.row.metadata_header,
                None,
            )
        return await self._finish()

    async def _take(self, data: memoryview) -> None:
        while data:
            room = self.part_size - len(self.buffer)
            self.buffer += data[:room]
            data = data[room:]
            if len(self.buffer) == self.part_size and self.received < self.length:
                index = self.base // self.part_size
                await self.owner.store.put_bytes(
                    part_key(self.id, index), bytes(self.buffer), DEFAULT_CONTENT_TYPE
                )
                self.base += self.part_size
                self.buffer.clear()
                if self.checksum is None:
                    await self._advance(self.base)
        if time.monotonic() - self.renewed > self.owner.config.tus_lease_seconds / 3:
            await self._advance(self.durable)  # a slow sender keeps its lease

    async def _store_tail(self) -> None:
        received = self.received
        if self.buffer:
            await self.owner.store.put_bytes(
                tail_key(self.id, received), bytes(self.buffer), DEFAULT_CONTENT_TYPE
            )
        await self._advance(received)

    async def _advance(self, new: int) -> None:
        old, now = self.durable, self.owner.clock()
        async with self.owner.sessionmaker() as db:
            moved = await rows.advance(
                db,
                self.id,
                self.token,
                old=old,
                new=new,
                lease_until=now + self.owner.lease,
                expires_at=now + self.owner.ttl,
            )
            await db.commit()
        if not moved:
            raise UploadBusy  # the lease ran out and another request took the upload over
        self.durable, self.renewed = new, time.monotonic()
        if old != new and old % self.part_size:
            await delete_quietly(self.owner.store, tail_key(self.id, old))

    async def _keep_lease(self) -> None:
        """Renew the lease while the parts are composed (a large upload's copy may outlast
        it), until cancelled; a renewal that fails (finished meanwhile) changes nothing."""
        while True:
            await asyncio.sleep(self.owner.config.tus_lease_seconds / 3)
            with contextlib.suppress(Exception):
                await self._advance(self.durable)

    async def _finish(self) -> UploadState:
        store, row = self.owner.store, self.row
        parts = self.base // self.part_size
        if self.buffer:
            await store.put_bytes(
                part_key(self.id, parts), bytes(self.buffer), DEFAULT_CONTENT_TYPE
            )
            parts += 1
        self.buffer = bytearray()
        content_type = source_content_type(parse_metadata(row.metadata_header).get("filetype", ""))
        keys = [part_key(self.id, n) for n in range(parts)]
        expires_at = self.owner.clock() + self.owner.ttl

        async def store_source(video_id: int) -> ObjectInfo:
            return await store.compose(media.source_key(video_id, row.filename), keys, content_type)

        async def record(db: AsyncSession, video_id: int) -> None:
            if not await rows.finish(
                db, self.id, self.token, video_id=video_id, expires_at=expires_at
            ):
                raise UploadBusy

        metadata = VideoCreateIn(
            title=row.title, description=row.description, category=row.category
        )
        keeper = asyncio.create_task(self._keep_lease())
        try:
            video = await self.owner.uploads.adopt(metadata, store_source, also=record)
        finally:
            keeper.cancel()
        try:
            await store.delete_prefix(upload_prefix(self.id))
        except Exception:  # garbage only: the expiry of the finished row removes it again
            log.warning("could not remove the parts of upload %s", self.id, exc_info=True)
        return UploadState(
            self.id, self.length, self.length, expires_at, row.metadata_header, video.id
        )
