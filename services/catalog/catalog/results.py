"""The transcoder's results (progress, transcoded, failed), and the start-up resume of the jobs
a bus that keeps nothing lost.

Every handler is idempotent and order-tolerant: the moves of `catalog.lifecycle` only happen
from the states they leave, so a redelivered or late message changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import case, literal
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from catalog import lifecycle, media
from catalog.cache import VideoListCache
from catalog.models import Video
from catalog.objects import delete_quietly, delete_video_objects
from common.events import VideoFailed, VideoProgress, VideoTranscoded
from common.outbox import add_to_outbox
from common.storage import ObjectStore

log = logging.getLogger(__name__)

MAX_ERROR_LENGTH = 2000


@dataclass(eq=False)
class TranscoderResults:
    sessionmaker: async_sessionmaker[AsyncSession]
    store: ObjectStore
    cache: VideoListCache
    on_outbox_commit: Callable[[], None]
    """Wakes the outbox relay once a re-issued job is committed."""

    async def record_progress(self, event: VideoProgress) -> None:
        async with self.sessionmaker() as db:
            await lifecycle.advance_progress(db, event.video_id, event.percent)
            await db.commit()

    async def record_transcoded(self, event: VideoTranscoded) -> None:
        video_id = event.video_id
        renditions = media.sorted_renditions(event.renditions)
        key = (
            event.thumbnail_key
            if media.is_thumbnail_key_of(video_id, event.thumbnail_key)
            else None
        )
        if event.thumbnail_key and key is None:
            log.warning("ignoring thumbnail key %r of video %s", event.thumbnail_key, video_id)
        if not renditions:
            await self.record_failed(
                VideoFailed(video_id=video_id, reason="The transcoder produced no rendition.")
            )
            return
        sizes = {n: event.rendition_bytes[n] for n in renditions if n in event.rendition_bytes}
        version = media.new_thumbnail_version()
        custom = Video.thumbnail_custom.is_(True)  # the admin's own thumbnail wins
        async with self.sessionmaker() as db:
            moved = await lifecycle.mark_ready(
                db,
                video_id,
                renditions=renditions,
                rendition_bytes=sizes,
                duration=event.duration,
                width=event.width,
                height=event.height,
                thumbnail_key=(
                    case((custom, Video.thumbnail_key), else_=literal(key))
                    if key
                    else Video.thumbnail_key
                ),
                thumbnail_version=(
                    case((custom, Video.thumbnail_version), else_=literal(version))
                    if key
                    else Video.thumbnail_version
                ),
            )
            await db.commit()
            video = await db.get(Video, video_id, populate_existing=True)
        if video is None:
            await self._remove_orphan(video_id)
            return
        if key and video.thumbnail_key != key:
            await delete_quietly(self.store, key)  # the admin's own thumbnail won
        if moved:
            await self.cache.invalidate()
            log.info("video ready", extra={"video_id": video_id, "renditions": renditions})

    async def record_failed(self, event: VideoFailed) -> None:
        reason = " ".join(event.reason.split())[:MAX_ERROR_LENGTH] or "Transcoding failed."
        async with self.sessionmaker() as db:
            moved = await lifecycle.mark_failed(db, event.video_id, reason)
            await db.commit()
            exists = moved or await db.get(Video, event.video_id) is not None
        if not exists:
            await self._remove_orphan(event.video_id)
        elif moved:
            await self.cache.invalidate()
            log.info("video failed", extra={"video_id": event.video_id, "reason": reason})

    async def _remove_orphan(self, video_id: int) -> None:
        """A result for a deleted video: drop whatever the transcoder left. Ids are never
        reused, so everything under the id's prefixes is garbage."""
        log.info("result for unknown video %s: removing its leftovers", video_id)
        await delete_video_objects(self.store, video_id)

    async def resume_processing(self) -> int:
        """Issue the transcode job of every video still `processing` again. For start-up over
        a bus that kept nothing (all-in-one): those jobs died with the last process. The
        transcoder treats a repeated job as harmless, and results are idempotent here."""
        async with self.sessionmaker() as db:
            videos = await lifecycle.processing(db)
            for video in videos:
                if video.source_key:  # always set once processing; the type allows None
                    job = lifecycle.transcode_job(
                        video.id, video.source_key, video.thumbnail_custom
                    )
                    add_to_outbox(db, job)
            await db.commit()
        if videos:
            self.on_outbox_commit()
            log.info("re-issued %d interrupted transcode jobs", len(videos))
        return len(videos)
