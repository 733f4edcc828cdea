"""Login sessions and their refresh tokens: opened at login, rotated at every refresh.

A refresh replaces the session's refresh token and remembers the old one's hash as spent. A
spent token that comes back means two holders (the owner and a thief, in whichever order):
the whole session is revoked (OWASP's refresh-token rotation with reuse detection). But for
one case: the token the latest refresh spent, back within `REFRESH_REUSE_GRACE_SECONDS`, is
taken for two tabs of one browser refreshing at once (they share the cookies): it gets an
access token but no refresh token (`within_grace`), and the tab keeps the refresh token its
twin was given. A thief in that window gets one access token, and no way to refresh it.

A session past its lifetime refreshes nothing, so it and its spent tokens are pruned
(`prune_expired`); until then a spent token still revokes a live session.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from identity import links
from identity.models import LoginSession, SpentRefreshToken, utcnow

MAX_TOKEN_LENGTH = 128


@dataclass(frozen=True)
class Found:
    session: LoginSession
    spent_at: datetime | None = None  # when a refresh rotated this token away

    @property
    def spent(self) -> bool:
        return self.spent_at is not None


def open_session(user_id: int, lifetime: timedelta) -> tuple[LoginSession, str]:
    """A new session (to add to the database) and its refresh token."""
    refresh_token = links.new_secret()
    session = LoginSession(
        id=secrets.token_hex(16),
        user_id=user_id,
        refresh_hash=links.digest(refresh_token),
        expires_at=utcnow() + lifetime,
    )
    return session, refresh_token


async def find(db: AsyncSession, refresh_token: str) -> Found | None:
    """The session of a current or a spent refresh token."""
    if not refresh_token or len(refresh_token) > MAX_TOKEN_LENGTH:
        return None
    token_hash = links.digest(refresh_token)
    session = await db.scalar(select(LoginSession).where(LoginSession.refresh_hash == token_hash))
    if session is not None:
        return Found(session)
    spent = await db.get(SpentRefreshToken, token_hash)
    if spent is None:
        return None
    session = await db.get(LoginSession, spent.session_id)
    return None if session is None else Found(session, spent_at=spent.spent_at)


def within_grace(found: Found, grace: timedelta) -> bool:
    """A spent token that the session's latest refresh spent, less than `grace` ago."""
    spent_at, session = found.spent_at, found.session
    return (
        spent_at is not None
        and session.last_refreshed_at == spent_at
        and utcnow() - spent_at < grace
    )


def is_live(session: LoginSession) -> bool:
    return session.revoked_at is None and session.expires_at > utcnow()


def seconds_left(session: LoginSession) -> int:
    return max(0, int((session.expires_at - utcnow()).total_seconds()))


async def rotate(db: AsyncSession, session: LoginSession, refresh_token: str) -> str | None:
    """Replace the session's refresh token; None when another refresh with the same token got
    there first (the caller treats that as reuse)."""
    old_hash, new_token = links.digest(refresh_token), links.new_secret()
    now = utcnow()
    result = await db.execute(
        update(LoginSession)
        .where(
            LoginSession.id == session.id,
            LoginSession.refresh_hash == old_hash,
            LoginSession.revoked_at.is_(None),
        )
        .values(refresh_hash=links.digest(new_token), last_refreshed_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None
    db.add(SpentRefreshToken(token_hash=old_hash, session_id=session.id, spent_at=now))
    return new_token


async def revoke(db: AsyncSession, session_id: str) -> bool:
    """Mark the session revoked; False when it already was."""
    result = await db.execute(
        update(LoginSession)
        .where(LoginSession.id == session_id, LoginSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


async def prune_expired(db: AsyncSession, now: datetime) -> int:
    """Delete the sessions that expired before `now`, with their spent tokens (one refresh
    spends one, so an active user adds hundreds a day); how many sessions went."""
    expired = select(LoginSession.id).where(LoginSession.expires_at < now)
    await db.execute(
        delete(SpentRefreshToken)
        .where(SpentRefreshToken.session_id.in_(expired))
        .execution_options(synchronize_session=False)
    )
    result = await db.execute(
        delete(LoginSession)
        .where(LoginSession.expires_at < now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount  # type: ignore[attr-defined]
