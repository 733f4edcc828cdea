"""The catalog's reads and the admin's edits: the public list, the admin's views, what may be
played or shown, editing, a new thumbnail, deleting.

The other use cases have modules of their own: `uploads` (the streamed upload), `results`
(the transcoder's results); `lifecycle` makes every change of a video's state. No HTTP here:
a use case that refuses raises a refusal (`catalog.refusals`), which `common.errors` answers.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from dataclasses import dataclass, field

from pydantic import TypeAdapter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from catalog import lifecycle, media
from catalog.cache import PlayableCache, Renditions, VideoListCache
from catalog.forms import ThumbnailUpload
from catalog.models import Video
from catalog.objects import delete_quietly, delete_video_objects
from catalog.refusals import VideoNotFound
from catalog.schemas import AdminVideo, PublicVideo, VideoPatchIn, admin_video, public_video
from common.config import Settings
from common.refusals import NotFound
from common.storage import ObjectStore

log = logging.getLogger(__name__)

CAS_ATTEMPTS = 5

_PUBLIC_LIST = TypeAdapter(list[PublicVideo])


@dataclass(eq=False)
class VideoService:
    settings: Settings
    sessionmaker: async_sessionmaker[AsyncSession]
    store: ObjectStore
    cache: VideoListCache
    playable_cache: PlayableCache = field(init=False)

    def __post_init__(self) -> None:
        self.playable_cache = PlayableCache(self.cache.generation)

    # ------------------------------------------------------------------ reads

    async def public_list_json(self) -> str:
        """The body of `GET /api/video/`, from the cache when it is current."""
        return await self.cache.get_or_build(self._build_public_list)

    async def _build_public_list(self) -> str:
        async with self.sessionmaker() as db:
            rows = (
                await db.scalars(
                    select(Video)
                    .where(lifecycle.LISTED_ROWS, Video.thumbnail_key.is_not(None))
                    .order_by(Video.created_at.desc(), Video.id.desc())
                )
            ).all()
        base = self.settings.public_base_url
        return _PUBLIC_LIST.dump_json([public_video(v, base) for v in rows]).decode()

    async def list_admin(self) -> list[AdminVideo]:
        async with self.sessionmaker() as db:
            rows = (
                await db.scalars(
                    select(Video)
                    .where(lifecycle.SEEN_BY_ADMIN_ROWS)
                    .order_by(Video.created_at.desc(), Video.id.desc())
                )
            ).all()
        return [admin_video(v, self.settings.public_base_url) for v in rows]

    async def get_admin(self, video_id: int) -> AdminVideo:
        return admin_video(await self.visible(video_id), self.settings.public_base_url)

    async def visible(self, video_id: int) -> Video:
        """A video the admin can see (every state but the internal `uploading`)."""
        async with self.sessionmaker() as db:
            video = await db.get(Video, video_id)
        if video is None or not lifecycle.seen_by_admin(video):
            raise VideoNotFound
        return video

    async def playable(self, video_id: int) -> Renditions:
        """The renditions of a playable video, from the per-process cache when it is current
        (`catalog.cache.PlayableCache`): the delivery hot path asks no database."""
        renditions = await self.playable_cache.get_or_load(
            video_id, lambda: self._load_playable(video_id)
        )
        if renditions is None:
            raise VideoNotFound
        return renditions

    async def _load_playable(self, video_id: int) -> Renditions | None:
        async with self.sessionmaker() as db:
            video = await db.get(Video, video_id)
        if video is None or not lifecycle.is_playable(video):
            return None
        return tuple(video.renditions)

    async def serving_rendition(self, video_id: int, requested: str) -> str:
        """The rendition that answers a request for `requested` of a playable video (the
        name is checked against the ladder first: no database trip for garbage)."""
        if not media.is_rendition(requested):
            raise NotFound
        renditions = await self.playable(video_id)
        rendition = media.serving_rendition(requested, list(renditions))
        if rendition is None:
            raise VideoNotFound
        return rendition

    async def thumbnail_key(self, video_id: int, version: str) -> str:
        """The object key of the thumbnail whose public URL carries `version`."""
        async with self.sessionmaker() as db:
            video = await db.get(Video, video_id)
        if (
            video is None
            or not lifecycle.seen_by_admin(video)
            or not video.thumbnail_key
            or not hmac.compare_digest(version.encode(), video.thumbnail_version.encode())
        ):
            raise NotFound
        return video.thumbnail_key

    # ------------------------------------------------------------------ edit, delete

    async def update(
        self, video_id: int, changes: VideoPatchIn, thumbnail: ThumbnailUpload | None = None
    ) -> AdminVideo:
        values: dict[str, object] = dict(changes.model_dump(exclude_none=True))
        if thumbnail is None:
            if values:
                async with self.sessionmaker() as db:
                    edited = await lifecycle.edit(db, video_id, **values)
                    await db.commit()
                if not edited:
                    raise VideoNotFound
                await self.cache.invalidate()
            return await self.get_admin(video_id)
        await self._replace_thumbnail(video_id, values, thumbnail)
        await self.cache.invalidate()
        return await self.get_admin(video_id)

    async def _replace_thumbnail(
        self, video_id: int, values: dict[str, object], thumbnail: ThumbnailUpload
    ) -> None:
        """Store the new image under a new version, then swap the row's key with a
        compare-and-set on the old key; whoever swaps deletes the object it replaced, so two
        concurrent replacements (or a transcoder result) never strand or delete a live one."""
        version = media.new_thumbnail_version()
        key = media.custom_thumbnail_key(video_id, version, thumbnail.kind.extension)
        await self.store.put_bytes(key, thumbnail.data, thumbnail.kind.content_type)
        try:
            for _ in range(CAS_ATTEMPTS):
                old = (await self.visible(video_id)).thumbnail_key
                async with self.sessionmaker() as db:
                    swapped = await lifecycle.replace_thumbnail(
                        db, video_id, old_key=old, new_key=key, version=version, **values
                    )
                    await db.commit()
                if swapped:
                    if old and old != key:
                        await delete_quietly(self.store, old)
                    return
            raise RuntimeError(f"thumbnail of video {video_id} kept changing")
        except BaseException:
            await asyncio.shield(delete_quietly(self.store, key))
            raise

    async def delete(self, video_id: int) -> None:
        """Objects first, then the row: if the store fails, the video is still there and a
        second DELETE finishes the job, instead of objects nobody knows about any more."""
        await self.visible(video_id)
        await delete_video_objects(self.store, video_id)
        async with self.sessionmaker() as db:
            removed = await lifecycle.remove(db, video_id)
            await db.commit()
        if not removed:
            raise VideoNotFound  # deleted concurrently
        await self.cache.invalidate()
        log.info("video deleted", extra={"video_id": video_id})
