"""The video lifecycle in one place: the states, which move each use case may make, and the
one conditional statement that makes it.

```
          begin_upload          finish_upload             mark_ready
   (new) ------------> uploading ------------> processing ------------> ready
                           |                     |    ^                   ^
            discard_upload |         mark_failed |    | retry             | mark_ready (a job
                           v                     v    |                   |  redelivered, then
                         (gone)                  failed ------------------+  done)
```

Besides: `touch_upload` keeps an upload alive; `advance_progress` works while processing;
`edit` and `remove` (the admin's) work in every state but `uploading`; `retry` (the admin's)
starts a failed video's transcode over.

`uploading` is internal: never listed, served, edited or deleted by the admin. A `ready`
video never changes state again. Every move is a single UPDATE (or DELETE) whose WHERE names
the states it may leave, so concurrent writers (the result consumers, an admin's edit, a
delete, the clean-ups) never lose an update: a move that comes too late matches no row, and
its caller learns so from the `False` it gets back. The functions run in the caller's
transaction; the caller commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from catalog import media
from catalog.models import Video, VideoStatus
from common.db import utcnow
from common.events import VideoUploaded
from common.outbox import add_to_outbox

UPLOADING = VideoStatus.UPLOADING.value
PROCESSING = VideoStatus.PROCESSING.value
READY = VideoStatus.READY.value
FAILED = VideoStatus.FAILED.value
SEEN_BY_ADMIN = (PROCESSING, READY, FAILED)
"""Every state but the internal `uploading`."""


@dataclass(frozen=True)
class Move:
    leaves: tuple[str, ...]
    """The states a video must be in for the move to happen."""
    enters: str | None = None
    """Its state afterwards; None: it keeps its state (or, for a removal, its row is gone)."""
    removes: bool = False


TOUCH_UPLOAD = Move((UPLOADING,))
FINISH_UPLOAD = Move((UPLOADING,), PROCESSING)
DISCARD_UPLOAD = Move((UPLOADING,), removes=True)
EDIT = Move(SEEN_BY_ADMIN)
DELETE = Move(SEEN_BY_ADMIN, removes=True)
PROGRESS = Move((PROCESSING,))
MARK_READY = Move((PROCESSING, FAILED), READY)
MARK_FAILED = Move((PROCESSING,), FAILED)
RETRY = Move((FAILED,), PROCESSING)


async def _move(
    db: AsyncSession, move: Move, video_id: int, *when: ColumnElement[bool], **values: Any
) -> bool:
    """Make `move` if the video is in a state it leaves (and `when` holds): True if it did."""
    where = (Video.id == video_id, Video.status.in_(move.leaves), *when)
    if move.removes:
        statement: Any = delete(Video).where(*where)
    else:
        if move.enters is not None:
            values["status"] = move.enters
        statement = update(Video).where(*where).values(**values, updated_at=utcnow())
    result = await db.execute(statement)
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


# ---------------------------------------------------------------------- upload


def begin_upload(db: AsyncSession) -> Video:
    """A new row in `uploading`, for its id; its fields are filled in when it is finished."""
    now = utcnow()
    video = Video(
        status=UPLOADING,
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
    return video


async def touch_upload(db: AsyncSession, video_id: int) -> bool:
    """Tell the stale-upload clean-up that this upload is still streaming in."""
    return await _move(db, TOUCH_UPLOAD, video_id)


async def finish_upload(
    db: AsyncSession, video_id: int, *, source_key: str, thumbnail_custom: bool, **values: Any
) -> bool:
    """`uploading` -> `processing`, with the transcode job in the outbox of the same
    transaction: the job is published if and only if the video exists as `processing`."""
    moved = await _move(
        db,
        FINISH_UPLOAD,
        video_id,
        source_key=source_key,
        thumbnail_custom=thumbnail_custom,
        **values,
    )
    if moved:
        add_to_outbox(db, transcode_job(video_id, source_key, thumbnail_custom))
    return moved


async def discard_upload(
    db: AsyncSession, video_id: int, *, untouched_since: datetime | None = None
) -> bool:
    """Remove the row of an upload that failed, or (with `untouched_since`) was abandoned."""
    when = () if untouched_since is None else (Video.updated_at < untouched_since,)
    return await _move(db, DISCARD_UPLOAD, video_id, *when)


async def is_uploading_or_gone(db: AsyncSession, video_id: int) -> bool:
    status = await db.scalar(select(Video.status).where(Video.id == video_id))
    return status in (None, UPLOADING)


async def stale_uploads(db: AsyncSession, untouched_since: datetime) -> Sequence[int]:
    return (
        await db.scalars(
            select(Video.id).where(Video.status == UPLOADING, Video.updated_at < untouched_since)
        )
    ).all()


# ---------------------------------------------------------------------- the admin


def seen_by_admin(video: Video) -> bool:
    return video.status in SEEN_BY_ADMIN


def is_playable(video: Video) -> bool:
    return video.status == READY and bool(video.renditions)


SEEN_BY_ADMIN_ROWS = Video.status.in_(SEEN_BY_ADMIN)
LISTED_ROWS = Video.status == READY
"""The public list; a listed video also needs a thumbnail (no field may be null)."""


async def edit(db: AsyncSession, video_id: int, **values: Any) -> bool:
    """Change fields of a video the admin sees."""
    return await _move(db, EDIT, video_id, **values)


async def replace_thumbnail(
    db: AsyncSession,
    video_id: int,
    *,
    old_key: str | None,
    new_key: str,
    version: str,
    **values: Any,
) -> bool:
    """`edit` with the admin's own thumbnail, only if the current one is still `old_key` (a
    compare-and-set: of two concurrent replacements, or a transcoder result, one loses)."""
    return await _move(
        db,
        EDIT,
        video_id,
        Video.thumbnail_key.is_not_distinct_from(old_key),
        **values,
        thumbnail_key=new_key,
        thumbnail_custom=True,
        thumbnail_version=version,
    )


async def remove(db: AsyncSession, video_id: int) -> bool:
    return await _move(db, DELETE, video_id)


# ---------------------------------------------------------------------- transcoder results


async def advance_progress(db: AsyncSession, video_id: int, percent: int) -> bool:
    """Only forward, only while processing: late or duplicate messages change nothing."""
    return await _move(db, PROGRESS, video_id, Video.progress < percent, progress=percent)


async def mark_ready(db: AsyncSession, video_id: int, **values: Any) -> bool:
    """A failed video can still turn ready (a redelivered job that then succeeded)."""
    return await _move(db, MARK_READY, video_id, progress=100, error=None, **values)


async def mark_failed(db: AsyncSession, video_id: int, reason: str) -> bool:
    return await _move(db, MARK_FAILED, video_id, error=reason)


async def retry(
    db: AsyncSession, video_id: int, *, source_key: str, thumbnail_custom: bool
) -> bool:
    """`failed` -> `processing` from the start (progress 0, no error), with the transcode job
    in the outbox of the same transaction, as `finish_upload` issues it."""
    moved = await _move(db, RETRY, video_id, progress=0, error=None)
    if moved:
        add_to_outbox(db, transcode_job(video_id, source_key, thumbnail_custom))
    return moved


async def processing(db: AsyncSession) -> Sequence[Video]:
    return (await db.scalars(select(Video).where(Video.status == PROCESSING))).all()


def transcode_job(video_id: int, source_key: str, custom_thumbnail: bool) -> VideoUploaded:
    return VideoUploaded(
        video_id=video_id, source_key=source_key, has_custom_thumbnail=custom_thumbnail
    )
