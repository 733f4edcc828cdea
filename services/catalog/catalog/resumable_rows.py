"""The statements on `resumable_uploads` rows (`catalog.resumable`).

Whoever changes an upload's bytes holds its lease: a random token in the row, valid until
`lease_until`, taken by one conditional UPDATE (so of two PATCHes, one gets it) and named in
the WHERE of every later move, so a writer whose lease ran out and was taken over can no
longer move the offset. The functions run in the caller's transaction; the caller commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.models import ResumableUpload as Row


def _lease_free(now: datetime) -> Any:
    return or_(Row.lease_until.is_(None), Row.lease_until < now)


async def _update(db: AsyncSession, upload_id: str, *where: Any, **values: Any) -> bool:
    result = await db.execute(update(Row).where(Row.id == upload_id, *where).values(**values))
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


async def get(db: AsyncSession, upload_id: str) -> Row | None:
    return await db.get(Row, upload_id, populate_existing=True)


async def take_lease(
    db: AsyncSession, upload_id: str, token: str, *, offset: int, now: datetime, until: datetime
) -> bool:
    """Lease an unfinished, unexpired upload whose offset is `offset` and which nobody else
    holds; False when one of those does not hold (the caller reads the row to say which)."""
    return await _update(
        db,
        upload_id,
        Row.expires_at > now,
        Row.video_id.is_(None),
        Row.offset == offset,
        _lease_free(now),
        lease_token=token,
        lease_until=until,
    )


async def take_expired(db: AsyncSession, upload_id: str, token: str, *, now: datetime) -> bool:
    """Lease an expired upload for its removal."""
    return await _update(
        db,
        upload_id,
        Row.expires_at <= now,
        _lease_free(now),
        lease_token=token,
        lease_until=now,
    )


async def take_any(db: AsyncSession, upload_id: str, token: str, *, now: datetime) -> bool:
    """Lease an upload nobody holds, finished or not, for its termination."""
    return await _update(
        db, upload_id, Row.expires_at > now, _lease_free(now), lease_token=token, lease_until=now
    )


async def advance(
    db: AsyncSession,
    upload_id: str,
    token: str,
    *,
    old: int,
    new: int,
    lease_until: datetime,
    expires_at: datetime,
) -> bool:
    """`old` -> `new` bytes held, renewing the lease and pushing the expiry back."""
    return await _update(
        db,
        upload_id,
        Row.lease_token == token,
        Row.offset == old,
        offset=new,
        lease_until=lease_until,
        expires_at=expires_at,
    )


async def finish(
    db: AsyncSession, upload_id: str, token: str, *, video_id: int, expires_at: datetime
) -> bool:
    """The last byte arrived and made `video_id`: in the transaction that makes the video."""
    return await _update(
        db,
        upload_id,
        Row.lease_token == token,
        Row.video_id.is_(None),
        offset=Row.length,
        video_id=video_id,
        expires_at=expires_at,
        lease_token=None,
        lease_until=None,
    )


async def release(db: AsyncSession, upload_id: str, token: str) -> None:
    await _update(db, upload_id, Row.lease_token == token, lease_token=None, lease_until=None)


async def remove(db: AsyncSession, upload_id: str, token: str) -> bool:
    result = await db.execute(delete(Row).where(Row.id == upload_id, Row.lease_token == token))
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


async def expired(db: AsyncSession, now: datetime) -> Sequence[str]:
    return (await db.scalars(select(Row.id).where(Row.expires_at <= now, _lease_free(now)))).all()
