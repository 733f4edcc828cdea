"""Settings only the catalog reads, from the environment like `common.config.Settings`."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from common.storage.port import COMPOSE_MIN_PART

GIB = 1024**3
MIB = 1024**2
MB = 1000**2


class CatalogSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    max_upload_bytes: int = Field(default=10 * GIB, ge=1)
    """MAX_UPLOAD_BYTES: the largest video file the admin endpoint takes (413 above)."""
    max_thumbnail_bytes: int = Field(default=5 * MB, ge=1)
    """MAX_THUMBNAIL_BYTES: the largest thumbnail image (413 above)."""
    video_list_cache_seconds: float = Field(default=300.0, gt=0)
    """How long a cached video list may live; every change invalidates it earlier."""
    stale_upload_seconds: float = Field(default=15 * 60, gt=0)
    """An upload whose row was not touched for this long is abandoned: its row and objects
    are removed at start-up. Uploads in progress touch their row every `upload_heartbeat_seconds`.
    """
    upload_heartbeat_seconds: float = Field(default=60.0, gt=0)
    admin_events_poll_seconds: float = Field(default=0.5, gt=0, le=1)
    """How often the admin's live event stream looks for changes (one query a process)."""
    admin_events_keepalive_seconds: float = Field(default=15.0, gt=0)
    """A comment on a quiet event stream this often; keep it under UPSTREAM_TIMEOUT_SECONDS."""
    admin_events_stream_seconds: float = Field(default=300.0, gt=0)
    """An event stream ends after this long; the browser reconnects to a fresh snapshot."""
    tus_expiry_seconds: float = Field(default=24 * 3600, gt=0)
    """A resumable (tus) upload that received no bytes for this long expires: 404, and the
    periodic clean-up removes its parts and row."""
    tus_part_bytes: int = Field(default=8 * MIB, ge=COMPOSE_MIN_PART)
    """Bytes of a resumable upload's part: the most one PATCH holds in memory. The store
    composes parts of at least `COMPOSE_MIN_PART` (S3's 5 MiB)."""
    tus_lease_seconds: float = Field(default=30.0, gt=0)
    """How long a PATCH owns its upload without storing anything (a dead catalog's lease
    runs out after this); a live PATCH renews it."""
    tus_cleanup_interval_seconds: float = Field(default=600.0, gt=0)
    """How often the catalog removes expired resumable uploads."""
