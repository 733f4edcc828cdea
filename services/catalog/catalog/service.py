"""The catalog's use cases: upload, list, edit, delete, deliver, and the transcoder's results.

No HTTP here: a use case that refuses raises a `Refusal`, which the router answers with its
status in the contract's error shape. State changes are single conditional UPDATEs where
several writers can meet (the consumers, an admin's edit, a delete), so no read-modify-write
can lose an update.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import case, delete, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from catalog import media
from catalog.cache import VideoListCache
from catalog.config import CatalogSettings
from catalog.formstream import FormPart, FormStream, MalformedForm, PartTooLarge
from catalog.models import Video, VideoStatus
from catalog.schemas import (
    AdminVideo,
    PublicVideo,
    VideoCreateIn,
    VideoPatchIn,
    field_errors,
)
from common.config import Settings
from common.db import utcnow
from common.events import VideoFailed, VideoProgress, VideoTranscoded, VideoUploaded
from common.outbox import add_to_outbox
from common.storage import ObjectStore
from common.storage.port import ObjectInfo, ObjectTooLarge

log = logging.getLogger(__name__)

TEXT_FIELDS = ("title", "description", "category")
MAX_TEXT_FIELD_BYTES = 32 * 1024
"""Far above what the longest valid field (5000 characters of UTF-8) needs."""
MAX_ERROR_LENGTH = 2000
CAS_ATTEMPTS = 5

_PUBLIC_LIST = TypeAdapter(list[PublicVideo])
_VIDEO_CONTENT_TYPE = re.compile(r"video/[A-Za-z0-9.+-]{1,64}")
_UPLOADING = VideoStatus.UPLOADING.value
_PROCESSING = VideoStatus.PROCESSING.value
_READY = VideoStatus.READY.value
_FAILED = VideoStatus.FAILED.value


class Refusal(Exception):
    """Why a use case refused: a message, or messages per field."""

    def __init__(
        self, detail: str | None = None, *, fields: dict[str, list[str]] | None = None
    ) -> None:
        super().__init__(detail or "")
        self.detail = detail
        self.fields = fields


class InvalidInput(Refusal):
    pass


class NotFound(Refusal):
    pass


class VideoNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("Video not found.")


class TooLarge(Refusal):
    pass


class UnsupportedMedia(Refusal):
    pass


def invalid(fields: dict[str, list[str]]) -> InvalidInput:
    if list(fields) == ["detail"]:
        return InvalidInput(" ".join(fields["detail"]))
    return InvalidInput(fields=fields)


MALFORMED_FORM = "The request body is not valid multipart/form-data."


@dataclass(frozen=True)
class ThumbnailUpload:
    data: bytes
    kind: media.ImageKind


@dataclass(frozen=True)
class PatchForm:
    changes: VideoPatchIn
    thumbnail: ThumbnailUpload | None


class VideoService:
    def __init__(
        self,
        settings: Settings,
        config: CatalogSettings,
        sessionmaker: async_sessionmaker[AsyncSession],
        store: ObjectStore,
        cache: VideoListCache,
        *,
        on_outbox_commit: Callable[[], None] = lambda: None,
    ) -> None:
        self.settings = settings
        self.config = config
        self.sessionmaker = sessionmaker
        self.store = store
        self.cache = cache
        self.on_outbox_commit = on_outbox_commit

    # ------------------------------------------------------------------ views

    def thumbnail_url(self, video: Video) -> str | None:
        if not video.thumbnail_key:
            return None
        return (
            f"{self.settings.public_base_url}/api/thumbnails/"
            f"{video.id}/{video.thumbnail_version}.jpg"
        )

    def admin_view(self, video: Video) -> AdminVideo:
        return AdminVideo(
            id=video.id,
            title=video.title,
            description=video.description,
            category=video.category,
            created_at=video.created_at,
            thumbnail_url=self.thumbnail_url(video),
            status=video.status,  # type: ignore[arg-type]
            progress=video.progress,
            renditions=media.sorted_renditions(video.renditions or []),
            duration=video.duration,
            error=video.error,
            width=video.width,
            height=video.height,
        )

    # ------------------------------------------------------------------ reads

    async def public_list_json(self) -> str:
        """The body of `GET /api/video/`, from the cache when it is current."""
        return await self.cache.get_or_build(self._build_public_list)

    async def _build_public_list(self) -> str:
        async with self.sessionmaker() as db:
            rows = (
                await db.scalars(
                    select(Video)
                    # a listed video needs a thumbnail (no field may be null)
                    .where(Video.status == _READY, Video.thumbnail_key.is_not(None))
                    .order_by(Video.created_at.desc(), Video.id.desc())
                )
            ).all()
        items = [
            PublicVideo(
                id=v.id,
                created_at=v.created_at,
                title=v.title,
                description=v.description,
                category=v.category,
                thumbnail_url=self.thumbnail_url(v) or "",
            )
            for v in rows
        ]
        return _PUBLIC_LIST.dump_json(items).decode()

    async def list_admin(self) -> list[AdminVideo]:
        async with self.sessionmaker() as db:
            rows = (
                await db.scalars(
                    select(Video)
                    .where(Video.status != _UPLOADING)
                    .order_by(Video.created_at.desc(), Video.id.desc())
                )
            ).all()
        return [self.admin_view(v) for v in rows]

    async def get_admin(self, video_id: int) -> AdminVideo:
        return self.admin_view(await self.visible(video_id))

    async def visible(self, video_id: int) -> Video:
        """A video the admin can see (every state but the internal `uploading`)."""
        async with self.sessionmaker() as db:
            video = await db.get(Video, video_id)
        if video is None or video.status == _UPLOADING:
            raise VideoNotFound
        return video

    async def playable(self, video_id: int) -> Video:
        async with self.sessionmaker() as db:
            video = await db.get(Video, video_id)
        if video is None or video.status != _READY or not video.renditions:
            raise VideoNotFound
        return video

    async def thumbnail(self, video_id: int, version: str) -> str:
        """The object key of the thumbnail whose public URL carries `version`."""
        async with self.sessionmaker() as db:
            video = await db.get(Video, video_id)
        if (
            video is None
            or video.status == _UPLOADING
            or not video.thumbnail_key
            or not hmac.compare_digest(version.encode(), video.thumbnail_version.encode())
        ):
            raise NotFound
        return video.thumbnail_key

    # ------------------------------------------------------------------ upload

    async def create(self, form: FormStream) -> AdminVideo:
        """Take the upload form part by part.

        Text fields are checked as they arrive, so a bad title sent before the file refuses
        the upload before any of it is stored. The file part gets a row (state `uploading`,
        for its id) and streams into `sources/<id>/<name>`; the thumbnail (bounded) is kept in
        memory until the end. Any failure, a disconnect or a cancellation included, removes the
        row and every object written: no partial video is ever left behind.
        """
        texts: dict[str, str] = {}
        thumbnail: ThumbnailUpload | None = None
        seen_thumbnail = False
        video_id: int | None = None
        source: ObjectInfo | None = None
        try:
            async for part in form.parts():
                if part.name in TEXT_FIELDS:
                    await _take_text(texts, part)
                    _check_partial(texts)
                elif part.name == "thumbnail":
                    if seen_thumbnail:
                        raise invalid({"thumbnail": ["Send only one thumbnail."]})
                    seen_thumbnail = True
                    thumbnail = await self._read_thumbnail(part)
                elif part.name == "file":
                    if video_id is not None:
                        raise invalid({"file": ["Send only one file."]})
                    first = await _first_chunk(part)
                    if first is None:
                        continue  # an empty file input: reported as missing below
                    video_id = await self._begin_upload()
                    source = await self._store_source(video_id, part, first)
            problems: dict[str, list[str]] = {}
            metadata: VideoCreateIn | None = None
            try:
                metadata = VideoCreateIn.model_validate(texts)
            except ValidationError as exc:
                problems.update(field_errors(exc))
            if source is None:
                problems["file"] = ["This field is required."]
            if problems:
                raise invalid(problems)
            assert metadata is not None and source is not None and video_id is not None
            video = await self._finish_upload(video_id, metadata, source, thumbnail)
        except MalformedForm:
            await self._abort_upload(video_id)
            raise InvalidInput(MALFORMED_FORM) from None
        except BaseException:
            await self._abort_upload(video_id)
            raise
        log.info("video uploaded", extra={"video_id": video.id, "bytes": source.size})
        return self.admin_view(video)

    async def _begin_upload(self) -> int:
        now = utcnow()
        async with self.sessionmaker() as db:
            video = Video(
                status=_UPLOADING,
                title="",
                description="",
                category="",
                progress=0,
                renditions=[],
                thumbnail_custom=False,
                thumbnail_version=media.new_thumbnail_version(),
                created_at=now,
                updated_at=now,
            )
            db.add(video)
            await db.commit()
        return video.id

    async def _store_source(self, video_id: int, part: FormPart, first: bytes) -> ObjectInfo:
        content_type = part.content_type
        if not _VIDEO_CONTENT_TYPE.fullmatch(content_type):
            content_type = "application/octet-stream"
        try:
            return await self.store.put_stream(
                media.source_key(video_id, part.filename),
                self._heartbeat(video_id, _prepend(first, part.chunks())),
                content_type,
                max_size=self.config.max_upload_bytes,
            )
        except ObjectTooLarge:
            raise TooLarge(self.upload_too_large_message()) from None

    def upload_too_large_message(self) -> str:
        return f"The video file is larger than {_size(self.config.max_upload_bytes)}."

    async def _heartbeat(self, video_id: int, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """Pass the chunks on, touching the row now and then: start-up clean-up takes an
        upload nobody touched for `stale_upload_seconds` for abandoned."""
        every = self.config.upload_heartbeat_seconds
        last = time.monotonic()
        async for chunk in chunks:
            yield chunk
            if time.monotonic() - last >= every:
                async with self.sessionmaker() as db:
                    await db.execute(
                        update(Video)
                        .where(Video.id == video_id, Video.status == _UPLOADING)
                        .values(updated_at=utcnow())
                    )
                    await db.commit()
                last = time.monotonic()

    async def _finish_upload(
        self,
        video_id: int,
        metadata: VideoCreateIn,
        source: ObjectInfo,
        thumbnail: ThumbnailUpload | None,
    ) -> Video:
        version = media.new_thumbnail_version()
        thumbnail_key: str | None = None
        if thumbnail is not None:
            thumbnail_key = media.custom_thumbnail_key(video_id, version, thumbnail.kind.extension)
            await self.store.put_bytes(thumbnail_key, thumbnail.data, thumbnail.kind.content_type)
        async with self.sessionmaker() as db:
            result = await db.execute(
                update(Video)
                .where(Video.id == video_id, Video.status == _UPLOADING)
                .values(
                    title=metadata.title,
                    description=metadata.description,
                    category=metadata.category,
                    status=_PROCESSING,
                    source_key=source.key,
                    thumbnail_key=thumbnail_key,
                    thumbnail_custom=thumbnail is not None,
                    thumbnail_version=version,
                    updated_at=utcnow(),
                )
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                raise RuntimeError(f"upload {video_id} vanished before it was complete")
            # the job is published if and only if the video exists as `processing`
            add_to_outbox(db, _job(video_id, source.key, custom_thumbnail=thumbnail is not None))
            await db.commit()
            video = await db.get(Video, video_id, populate_existing=True)
        self.on_outbox_commit()
        await self.cache.invalidate()
        assert video is not None
        return video

    async def _abort_upload(self, video_id: int | None) -> None:
        """Undo a failed upload; shielded so that a cancelled request still cleans up."""
        if video_id is None:
            return
        try:
            await asyncio.shield(self._remove_upload(video_id))
        except Exception:
            log.exception("could not clean up the failed upload %s", video_id)

    async def _remove_upload(self, video_id: int) -> None:
        async with self.sessionmaker() as db:
            status = await db.scalar(select(Video.status).where(Video.id == video_id))
        if status not in (None, _UPLOADING):
            return  # the upload was committed before the failure: the video is real now
        await self._delete_objects(video_id)
        async with self.sessionmaker() as db:
            await db.execute(delete(Video).where(Video.id == video_id, Video.status == _UPLOADING))
            await db.commit()

    async def _read_thumbnail(self, part: FormPart) -> ThumbnailUpload | None:
        limit = self.config.max_thumbnail_bytes
        try:
            data = await part.read(limit)
        except PartTooLarge:
            raise TooLarge(
                fields={"thumbnail": [f"The thumbnail is larger than {_size(limit)}."]}
            ) from None
        if not data:
            return None  # an empty file input
        kind = media.sniff_image(data[:16])
        if kind is None:
            raise UnsupportedMedia(
                fields={"thumbnail": ["The thumbnail must be a JPEG, PNG or WebP image."]}
            )
        return ThumbnailUpload(data, kind)

    async def read_patch_form(self, form: FormStream) -> PatchForm:
        """The multipart flavour of PATCH: text fields and/or a new thumbnail."""
        texts: dict[str, str] = {}
        thumbnail: ThumbnailUpload | None = None
        try:
            async for part in form.parts():
                if part.name in TEXT_FIELDS:
                    await _take_text(texts, part)
                elif part.name == "thumbnail":
                    if thumbnail is not None:
                        raise invalid({"thumbnail": ["Send only one thumbnail."]})
                    thumbnail = await self._read_thumbnail(part)
                elif part.name == "file":
                    raise invalid({"file": ["The video itself cannot be replaced."]})
        except MalformedForm:
            raise InvalidInput(MALFORMED_FORM) from None
        try:
            changes = VideoPatchIn.model_validate(texts)
        except ValidationError as exc:
            raise invalid(field_errors(exc)) from None
        return PatchForm(changes, thumbnail)

    # ------------------------------------------------------------------ edit, delete

    async def update(
        self, video_id: int, changes: VideoPatchIn, thumbnail: ThumbnailUpload | None = None
    ) -> AdminVideo:
        values: dict[str, object] = dict(changes.model_dump(exclude_none=True))
        if thumbnail is None:
            if values:
                async with self.sessionmaker() as db:
                    result = await db.execute(
                        update(Video)
                        .where(Video.id == video_id, Video.status != _UPLOADING)
                        .values(**values, updated_at=utcnow())
                    )
                    await db.commit()
                if result.rowcount != 1:  # type: ignore[attr-defined]
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
                    result = await db.execute(
                        update(Video)
                        .where(
                            Video.id == video_id,
                            Video.status != _UPLOADING,
                            Video.thumbnail_key.is_not_distinct_from(old),
                        )
                        .values(
                            **values,
                            thumbnail_key=key,
                            thumbnail_custom=True,
                            thumbnail_version=version,
                            updated_at=utcnow(),
                        )
                    )
                    await db.commit()
                if result.rowcount == 1:  # type: ignore[attr-defined]
                    if old and old != key:
                        await self._delete_quietly(old)
                    return
            raise RuntimeError(f"thumbnail of video {video_id} kept changing")
        except BaseException:
            await asyncio.shield(self._delete_quietly(key))
            raise

    async def delete(self, video_id: int) -> None:
        """Objects first, then the row: if the store fails, the video is still there and a
        second DELETE finishes the job, instead of objects nobody knows about any more."""
        await self.visible(video_id)
        await self._delete_objects(video_id)
        async with self.sessionmaker() as db:
            result = await db.execute(
                delete(Video).where(Video.id == video_id, Video.status != _UPLOADING)
            )
            await db.commit()
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise VideoNotFound  # deleted concurrently
        await self.cache.invalidate()
        log.info("video deleted", extra={"video_id": video_id})

    async def _delete_objects(self, video_id: int) -> None:
        for prefix in (
            media.source_prefix(video_id),
            media.hls_prefix(video_id),
            *media.thumbnail_prefixes(video_id),
        ):
            await self.store.delete_prefix(prefix)

    async def _delete_quietly(self, key: str) -> None:
        try:
            await self.store.delete(key)
        except Exception:
            log.warning("could not delete %s", key, exc_info=True)

    # ------------------------------------------------------------------ transcoder results

    async def record_progress(self, event: VideoProgress) -> None:
        """Only forward, only while processing: late or duplicate messages change nothing."""
        async with self.sessionmaker() as db:
            await db.execute(
                update(Video)
                .where(
                    Video.id == event.video_id,
                    Video.status == _PROCESSING,
                    Video.progress < event.percent,
                )
                .values(progress=event.percent, updated_at=utcnow())
            )
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
        version = media.new_thumbnail_version()
        async with self.sessionmaker() as db:
            custom = Video.thumbnail_custom.is_(True)
            result = await db.execute(
                update(Video)
                # a failed video can still turn ready (a redelivered job that then succeeded);
                # a ready one never changes again
                .where(Video.id == video_id, Video.status.in_([_PROCESSING, _FAILED]))
                .values(
                    status=_READY,
                    progress=100,
                    error=None,
                    renditions=renditions,
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
                    updated_at=utcnow(),
                )
            )
            await db.commit()
            video = await db.get(Video, video_id, populate_existing=True)
        if video is None:
            await self._remove_orphan(video_id)
            return
        if key and video.thumbnail_key != key:
            await self._delete_quietly(key)  # the admin's own thumbnail wins
        if result.rowcount == 1:  # type: ignore[attr-defined]
            await self.cache.invalidate()
            log.info("video ready", extra={"video_id": video_id, "renditions": renditions})

    async def record_failed(self, event: VideoFailed) -> None:
        reason = " ".join(event.reason.split())[:MAX_ERROR_LENGTH] or "Transcoding failed."
        async with self.sessionmaker() as db:
            result = await db.execute(
                update(Video)
                .where(Video.id == event.video_id, Video.status == _PROCESSING)
                .values(status=_FAILED, error=reason, updated_at=utcnow())
            )
            await db.commit()
            exists = result.rowcount == 1 or await db.get(Video, event.video_id) is not None  # type: ignore[attr-defined]
        if not exists:
            await self._remove_orphan(event.video_id)
        elif result.rowcount == 1:  # type: ignore[attr-defined]
            await self.cache.invalidate()
            log.info("video failed", extra={"video_id": event.video_id, "reason": reason})

    async def _remove_orphan(self, video_id: int) -> None:
        """A result for a deleted video: drop whatever the transcoder left. Ids are never
        reused, so everything under the id's prefixes is garbage."""
        log.info("result for unknown video %s: removing its leftovers", video_id)
        await self._delete_objects(video_id)

    # ------------------------------------------------------------------ maintenance

    async def resume_processing(self) -> int:
        """Issue the transcode job of every video still `processing` again. For start-up over
        a bus that kept nothing (all-in-one): those jobs died with the last process. The
        transcoder treats a repeated job as harmless, and results are idempotent here."""
        async with self.sessionmaker() as db:
            videos = (await db.scalars(select(Video).where(Video.status == _PROCESSING))).all()
            for video in videos:
                if video.source_key:  # always set once processing; the type allows None
                    custom = video.thumbnail_custom
                    add_to_outbox(db, _job(video.id, video.source_key, custom_thumbnail=custom))
            await db.commit()
        if videos:
            self.on_outbox_commit()
            log.info("re-issued %d interrupted transcode jobs", len(videos))
        return len(videos)

    async def remove_stale_uploads(self) -> int:
        """Remove uploads abandoned by a crash (rows still `uploading`, untouched for long)."""
        cutoff = utcnow() - timedelta(seconds=self.config.stale_upload_seconds)
        async with self.sessionmaker() as db:
            ids = (
                await db.scalars(
                    select(Video.id).where(Video.status == _UPLOADING, Video.updated_at < cutoff)
                )
            ).all()
        for video_id in ids:
            await self._delete_objects(video_id)
            async with self.sessionmaker() as db:
                await db.execute(
                    delete(Video).where(
                        Video.id == video_id,
                        Video.status == _UPLOADING,
                        Video.updated_at < cutoff,
                    )
                )
                await db.commit()
        if ids:
            log.info("removed %d abandoned uploads", len(ids))
        return len(ids)


# ---------------------------------------------------------------------- helpers


def _job(video_id: int, source_key: str, *, custom_thumbnail: bool) -> VideoUploaded:
    return VideoUploaded(
        video_id=video_id, source_key=source_key, has_custom_thumbnail=custom_thumbnail
    )


async def _take_text(texts: dict[str, str], part: FormPart) -> None:
    """Read one text field into `texts`; each may come only once."""
    if part.name in texts:
        raise invalid({part.name: ["Send this field only once."]})
    texts[part.name] = await _read_text(part)


async def _read_text(part: FormPart) -> str:
    try:
        raw = await part.read(MAX_TEXT_FIELD_BYTES)
    except PartTooLarge:
        raise invalid({part.name: ["This value is too long."]}) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise invalid({part.name: ["Expected UTF-8 text."]}) from None


def _check_partial(texts: dict[str, str]) -> None:
    """Validate the text fields received so far (missing ones are checked at the end)."""
    try:
        VideoCreateIn.model_validate(texts)
    except ValidationError as exc:
        fields = {name: messages for name, messages in field_errors(exc).items() if name in texts}
        if fields:
            raise invalid(fields) from None


async def _first_chunk(part: FormPart) -> bytes | None:
    """The first non-empty chunk of a part, None when the part is empty."""
    async for chunk in part.chunks():
        if chunk:
            return chunk
    return None


async def _prepend(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield first
    async for chunk in rest:
        yield chunk


def _size(limit: int) -> str:
    for unit, factor in (("GiB", 1024**3), ("MiB", 1024**2), ("MB", 1000**2), ("KiB", 1024)):
        if limit >= factor and limit % factor == 0:
            return f"{limit // factor} {unit}"
    return f"{limit} bytes"
