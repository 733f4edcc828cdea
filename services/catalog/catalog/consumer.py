"""The catalog's bus consumer: the transcoder's results on `catalog.video-results`.

(It publishes `video.uploaded` through the outbox, see `catalog.lifecycle.finish_upload`.)
Every handler (`catalog.results`) is idempotent and order-tolerant, so redeliveries and
reordering (prefetch > 1) are harmless.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel, ValidationError

from catalog import media
from catalog.results import TranscoderResults
from common.bus import PermanentError
from common.events import (
    VIDEO_FAILED,
    VIDEO_PROGRESS,
    VIDEO_TRANSCODED,
    Envelope,
    VideoFailed,
    VideoProgress,
    VideoTranscoded,
)

log = logging.getLogger(__name__)


class VideoResultConsumer:
    def __init__(self, results: TranscoderResults) -> None:
        self._handlers: dict[str, tuple[type[BaseModel], Callable[[Any], Awaitable[None]]]] = {
            VIDEO_PROGRESS: (VideoProgress, results.record_progress),
            VIDEO_TRANSCODED: (VideoTranscoded, results.record_transcoded),
            VIDEO_FAILED: (VideoFailed, results.record_failed),
        }

    async def __call__(self, envelope: Envelope) -> None:
        handler = self._handlers.get(envelope.routing_key)
        if handler is None:
            log.warning("ignoring %s on the catalog's queue", envelope.routing_key)
            return
        model, handle = handler
        try:
            event = envelope.parse(model)
        except ValidationError as exc:
            # retrying cannot fix a malformed message: park it for an operator
            raise PermanentError(f"invalid {envelope.routing_key} payload: {exc}") from exc
        video_id = getattr(event, "video_id", 0)
        if not 1 <= video_id <= media.MAX_VIDEO_ID:
            log.warning("ignoring %s for impossible video id %s", envelope.routing_key, video_id)
            return
        await handle(event)
