"""The admin's upload, streamed: begin, store, heartbeat, finish, or abort; and the start-up
clean-up of uploads a crash abandoned. No partial video is ever left behind.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from catalog import forms, lifecycle, media
from catalog.cache import VideoListCache
from catalog.config import CatalogSettings
from catalog.formstream import FormPart, FormStream, MalformedForm
from catalog.models import Video
from catalog.objects import delete_video_objects
from catalog.refusals import MalformedBody, UploadTooLarge
from catalog.schemas import AdminVideo, VideoCreateIn, admin_video
from common.config import Settings
from common.db import utcnow
from common.metrics import upload_stored
from common.refusals import invalid
from common.storage import ObjectStore
from common.storage.port import DEFAULT_CONTENT_TYPE, ObjectInfo, ObjectTooLarge

log = logging.getLogger(__name__)

_VIDEO_CONTENT_TYPE = re.compile(r"video/[A-Za-z0-9.+-]{1,64}")
InTransaction = Callable[[AsyncSession, int], Awaitable[None]]
"""Work of a caller done in `finish_upload`'s transaction, given the video id."""


def source_content_type(declared: str) -> str:
    """The content type a source is stored with: the client's when it names a video type."""
    return declared if _VIDEO_CONTENT_TYPE.fullmatch(declared) else DEFAULT_CONTENT_TYPE


@dataclass(eq=False)
class Uploads:
    settings: Settings
    config: CatalogSettings
    sessionmaker: async_sessionmaker[AsyncSession]
    store: ObjectStore
    cache: VideoListCache
    on_outbox_commit: Callable[[], None]
    """Wakes the outbox relay once a job is committed."""

    async def create(self, form: FormStream) -> AdminVideo:
        """Take the upload form part by part.

        Text fields are checked as they arrive. The file part gets a row (state `uploading`,
        for its id) and streams into `sources/<id>/<name>`; the thumbnail (bounded) is kept in
        memory until the end. Any failure, a disconnect or a cancellation included, removes the
        row and every object written.
        """
        texts: dict[str, str] = {}
        thumbnail: forms.ThumbnailUpload | None = None
        seen_thumbnail = False
        video_id: int | None = None
        source: ObjectInfo | None = None
        try:
            async for part in form.parts():
                if part.name in forms.TEXT_FIELDS:
                    await forms.take_text(texts, part)
                    forms.check_partial(texts)
                elif part.name == "thumbnail":
                    if seen_thumbnail:
                        raise invalid({"thumbnail": ["Send only one thumbnail."]})
                    seen_thumbnail = True
                    thumbnail = await forms.read_thumbnail(part, self.config.max_thumbnail_bytes)
                elif part.name == "file":
                    if video_id is not None:
                        raise invalid({"file": ["Send only one file."]})
                    first = await forms.first_chunk(part)
                    if first is None:
                        continue  # an empty file input: reported as missing below
                    video_id = await self._begin()
                    source = await self._store_source(video_id, part, first)
            metadata = forms.upload_metadata(texts, has_file=source is not None)
            assert source is not None and video_id is not None
            video = await self._finish(video_id, metadata, source, thumbnail)
        except MalformedForm:
            await self._abort(video_id)
            raise MalformedBody from None
        except BaseException:
            await self._abort(video_id)
            raise
        return self._uploaded(video, source)

    async def adopt(
        self,
        metadata: VideoCreateIn,
        store_source: Callable[[int], Awaitable[ObjectInfo]],
        *,
        also: InTransaction | None = None,
    ) -> AdminVideo:
        """A video from a source stored another way (a resumable upload's parts): the same
        row, thumbnail rule, transcode job and clean-up on failure as `create`.
        `store_source(video_id)` stores the source (under `media.source_key`); `also` runs
        in the transaction that makes the video `processing`, and refuses by raising."""
        video_id: int | None = None
        try:
            video_id = await self._begin()
            source = await store_source(video_id)
            video = await self._finish(video_id, metadata, source, None, also=also)
        except BaseException:
            await self._abort(video_id)
            raise
        return self._uploaded(video, source)

    def _uploaded(self, video: Video, source: ObjectInfo) -> AdminVideo:
        log.info("video uploaded", extra={"video_id": video.id, "bytes": source.size})
        upload_stored(source.size)
        return admin_video(video, self.settings.public_base_url)

    async def _begin(self) -> int:
        async with self.sessionmaker() as db:
            video = lifecycle.begin_upload(db)
            await db.commit()
        return video.id

    async def _store_source(self, video_id: int, part: FormPart, first: bytes) -> ObjectInfo:
        try:
            return await self.store.put_stream(
                media.source_key(video_id, part.filename),
                self._heartbeat(video_id, _prepend(first, part.chunks())),
                source_content_type(part.content_type),
                max_size=self.config.max_upload_bytes,
            )
        except ObjectTooLarge:
            raise UploadTooLarge(self.config.max_upload_bytes) from None

    async def _heartbeat(self, video_id: int, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """Pass the chunks on, touching the row now and then: start-up clean-up takes an
        upload nobody touched for `stale_upload_seconds` for abandoned."""
        every = self.config.upload_heartbeat_seconds
        last = time.monotonic()
        async for chunk in chunks:
            yield chunk
            if time.monotonic() - last >= every:
                async with self.sessionmaker() as db:
                    await lifecycle.touch_upload(db, video_id)
                    await db.commit()
                last = time.monotonic()

    async def _finish(
        self,
        video_id: int,
        metadata: VideoCreateIn,
        source: ObjectInfo,
        thumbnail: forms.ThumbnailUpload | None,
        *,
        also: InTransaction | None = None,
    ) -> Video:
        version = media.new_thumbnail_version()
        thumbnail_key: str | None = None
        if thumbnail is not None:
            thumbnail_key = media.custom_thumbnail_key(video_id, version, thumbnail.kind.extension)
            await self.store.put_bytes(thumbnail_key, thumbnail.data, thumbnail.kind.content_type)
        async with self.sessionmaker() as db:
            finished = await lifecycle.finish_upload(
                db,
                video_id,
                source_key=source.key,
                source_bytes=source.size,
                thumbnail_custom=thumbnail is not None,
                title=metadata.title,
                description=metadata.description,
                category=metadata.category,
                thumbnail_key=thumbnail_key,
                thumbnail_version=version,
            )
            if not finished:
                raise RuntimeError(f"upload {video_id} vanished before it was complete")
            if also is not None:
                await also(db, video_id)
            await db.commit()
            video = await db.get(Video, video_id, populate_existing=True)
        self.on_outbox_commit()
        await self.cache.invalidate()
        assert video is not None
        return video

    async def _abort(self, video_id: int | None) -> None:
        """Undo a failed upload; shielded so that a cancelled request still cleans up."""
        if video_id is None:
            return
        try:
            await asyncio.shield(self._remove(video_id))
        except Exception:
            log.exception("could not clean up the failed upload %s", video_id)

    async def _remove(self, video_id: int) -> None:
        async with self.sessionmaker() as db:
            if not await lifecycle.is_uploading_or_gone(db, video_id):
                return  # the upload was committed before the failure: the video is real now
        await delete_video_objects(self.store, video_id)
        async with self.sessionmaker() as db:
            await lifecycle.discard_upload(db, video_id)
            await db.commit()

    async def remove_stale_uploads(self) -> int:
        """Remove uploads abandoned by a crash (rows still `uploading`, untouched for long)."""
        cutoff = utcnow() - timedelta(seconds=self.config.stale_upload_seconds)
        async with self.sessionmaker() as db:
            ids = await lifecycle.stale_uploads(db, cutoff)
        for video_id in ids:
            await delete_video_objects(self.store, video_id)
            async with self.sessionmaker() as db:
                await lifecycle.discard_upload(db, video_id, untouched_since=cutoff)
                await db.commit()
        # and what the crashed writes left in the store (temp files, open multipart uploads)
        await self.store.abort_stale_writes(timedelta(seconds=self.config.stale_upload_seconds))
        if ids:
            log.info("removed %d abandoned uploads", len(ids))
        return len(ids)


async def _prepend(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield first
    async for chunk in rest:
        yield chunk
