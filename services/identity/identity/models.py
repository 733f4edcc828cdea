"""Tables of the identity database."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, true
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from common.db import UTCDateTime, utcnow


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # stored stripped and lower-cased, so the unique index makes emails case-insensitive
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    activated: Mapped[bool] = mapped_column(Boolean, default=False)
    """The owner confirmed the address (the activation link, or a password reset's)."""
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    """False while an admin has deactivated the account: no login, no session."""
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class OneTimeToken(Base):
    """An activation or password-reset link's secret; only its SHA-256 is stored."""

    __tablename__ = "one_time_tokens"
    __table_args__ = (Index("ix_one_time_tokens_user_purpose", "user_id", "purpose"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(32))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class LoginSession(Base):
    """One login: its refresh token (hashed) and whether it was revoked."""

    __tablename__ = "login_sessions"
    __table_args__ = (Index("ix_login_sessions_user", "user_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    refresh_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_refreshed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class SpentRefreshToken(Base):
    """A refresh token that a refresh has replaced (hashed): if it ever comes back, someone
    holds a copy, and its whole session is revoked."""

    __tablename__ = "spent_refresh_tokens"
    __table_args__ = (Index("ix_spent_refresh_tokens_session", "session_id"),)

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("login_sessions.id", ondelete="CASCADE"))
    spent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
