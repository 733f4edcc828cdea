"""Removing a video's objects from the store: all of them, or one that may already be gone."""

from __future__ import annotations

import logging

from catalog import media
from common.storage import ObjectStore

log = logging.getLogger(__name__)


async def delete_video_objects(store: ObjectStore, video_id: int) -> None:
    """Everything under the id's prefixes: source, HLS ladder, thumbnails."""
    for prefix in (
        media.source_prefix(video_id),
        media.hls_prefix(video_id),
        *media.thumbnail_prefixes(video_id),
    ):
        await store.delete_prefix(prefix)


async def delete_quietly(store: ObjectStore, key: str) -> None:
    """Delete one object; a failure is logged, not raised (it only leaves garbage behind)."""
    try:
        await store.delete(key)
    except Exception:
        log.warning("could not delete %s", key, exc_info=True)
