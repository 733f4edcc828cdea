"""Tables of the catalog database."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Float, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from common.db import UTCDateTime, utcnow


class Base(DeclarativeBase):
    pass


class VideoStatus(StrEnum):
    UPLOADING = "uploading"
    """Internal: the multipart upload is still streaming in. Never listed, never served."""
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"


class Video(Base):
    __tablename__ = "videos"
    __table_args__: Any = (
        Index("ix_videos_status_created", "status", "created_at"),
        # SQLite would otherwise hand out the id of the last deleted row again, and a new
        # video could inherit cached segments or stray objects of a deleted one
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(50), default="")
    status: Mapped[str] = mapped_column(String(16), default=VideoStatus.UPLOADING.value)
    progress: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    duration: Mapped[float | None] = mapped_column(Float, nullable=True)
    width: Mapped[int | None] = mapped_column(Integer, nullable=True)
    height: Mapped[int | None] = mapped_column(Integer, nullable=True)
    renditions: Mapped[list[str]] = mapped_column(JSON, default=list)
    rendition_bytes: Mapped[dict[str, int] | None] = mapped_column(JSON, nullable=True)
    """Bytes stored per rendition, as the transcoder reported them; null before it did."""
    source_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    """The uploaded source's size, once the upload finished."""
    source_key: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    thumbnail_key: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    thumbnail_custom: Mapped[bool] = mapped_column(Boolean, default=False)
    thumbnail_version: Mapped[str] = mapped_column(String(64))
    """Random, URL-safe; a new one whenever the thumbnail changes, so its public URL (which
    carries it) can be cached forever and cannot be guessed."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ResumableUpload(Base):
    """A tus upload (`catalog.resumable`): its bytes are in the store under its own prefix,
    `offset` of them durably; `video_id` once the last byte made it a video."""

    __tablename__ = "resumable_uploads"
    __table_args__: Any = (Index("ix_resumable_uploads_expires", "expires_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    length: Mapped[int] = mapped_column(BigInteger)
    offset: Mapped[int] = mapped_column(BigInteger)
    part_size: Mapped[int] = mapped_column(BigInteger)
    filename: Mapped[str] = mapped_column(String(255))
    metadata_header: Mapped[str] = mapped_column("metadata", Text)
    """`Upload-Metadata` as the client sent it, answered on HEAD."""
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(50))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    lease_token: Mapped[str | None] = mapped_column(String(32), nullable=True)
    """The PATCH (or clean-up) that owns the upload until `lease_until`."""
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    video_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
