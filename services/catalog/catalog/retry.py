"""The admin's retry of a failed video: its transcode job issued again, from the file it was
uploaded with, exactly as the upload issued it (`catalog.lifecycle.retry`).

A failure never deletes the source (the transcoder only reads it), but the store is checked
anyway: a retry of a video whose file is gone (the store lost it, an operator removed it)
would only fail again, so it is refused with 409 and the video stays `failed`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from catalog import lifecycle
from catalog.models import Video
from catalog.refusals import NotFailed, SourceGone, VideoNotFound
from catalog.schemas import AdminVideo, admin_video
from common.config import Settings
from common.storage import ObjectNotFound, ObjectStore

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Retries:
    settings: Settings
    sessionmaker: async_sessionmaker[AsyncSession]
    store: ObjectStore
    on_outbox_commit: Callable[[], None]
    """Wakes the outbox relay once the job is committed."""

    async def retry(self, video_id: int) -> AdminVideo:
        """`failed` -> `processing`, progress 0, error cleared, the job in the outbox."""
        video = await self._failed(video_id)
        assert video.source_key is not None  # checked by `_failed`
        async with self.sessionmaker() as db:
            moved = await lifecycle.retry(
                db,
                video_id,
                source_key=video.source_key,
                thumbnail_custom=video.thumbnail_custom,
            )
            await db.commit()
            current = await db.get(Video, video_id, populate_existing=True)
        if current is None or not lifecycle.seen_by_admin(current):
            raise VideoNotFound  # deleted meanwhile
        if not moved:
            raise NotFailed  # another retry (or a late result) got there first
        self.on_outbox_commit()
        log.info("video retried", extra={"video_id": video_id})
        return admin_video(current, self.settings.public_base_url)

    async def _failed(self, video_id: int) -> Video:
        async with self.sessionmaker() as db:
            video = await db.get(Video, video_id)
        if video is None or not lifecycle.seen_by_admin(video):
            raise VideoNotFound
        if video.status != lifecycle.FAILED:
            raise NotFailed
        if not video.source_key:
            raise SourceGone
        try:
            await self.store.stat(video.source_key)
        except ObjectNotFound:
            raise SourceGone from None
        return video
