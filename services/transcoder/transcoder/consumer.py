"""The transcoder's bus consumer: `video.uploaded` in; `video.progress`, then
`video.transcoded` or `video.failed` out. The work itself is `transcoder.pipeline`.

The file's fault (`MediaError`) -> `video.failed` with its reason, message acknowledged. A
payload that is not a job is parked at once (`PermanentError`). Anything else propagates, so
the bus retries the job (and finally parks it).
"""

from __future__ import annotations

import asyncio
import logging
import time

from pydantic import ValidationError

from common.bus import Bus, PermanentError
from common.events import Envelope, VideoFailed, VideoProgress, VideoUploaded
from common.metrics import TRANSCODES_IN_PROGRESS, in_progress, transcode_finished
from common.storage import ObjectStore
from transcoder.config import TranscoderSettings
from transcoder.encode import PercentHandler
from transcoder.errors import MediaError
from transcoder.pipeline import Abandoned, Pipeline
from transcoder.progress import ProgressThrottle
from transcoder.tools import Tools, resolve_tools

log = logging.getLogger(__name__)

PROGRESS_PUBLISH_TIMEOUT = 5.0


class Transcoder:
    """`handle` is what the bus calls for each message of the transcoder's queue."""

    def __init__(
        self,
        store: ObjectStore,
        bus: Bus,
        settings: TranscoderSettings,
        *,
        tools: Tools | None = None,
        progress_interval: float = 1.0,
    ) -> None:
        self.bus = bus
        self.pipeline = Pipeline(store, settings, tools or resolve_tools(settings))
        self.progress_interval = progress_interval

    @in_progress(TRANSCODES_IN_PROGRESS)
    async def handle(self, envelope: Envelope) -> None:
        try:
            job = envelope.parse(VideoUploaded)
        except ValidationError as exc:
            raise PermanentError(f"malformed {envelope.routing_key} payload: {exc}") from exc
        started = time.monotonic()
        log.info("transcoding video %s from %s", job.video_id, job.source_key)
        try:
            event = await self.pipeline.transcode(job, self._progress_reporter(job.video_id))
        except MediaError as exc:
            log.warning("video %s failed: %s", job.video_id, exc.reason)
            await self.bus.publish(VideoFailed(video_id=job.video_id, reason=exc.reason).envelope())
            transcode_finished("failed")
            return
        except Abandoned:
            log.info("video %s was deleted during transcoding; dropped the job", job.video_id)
            transcode_finished("abandoned")
            return
        except Exception:
            transcode_finished("error")
            raise
        await self.bus.publish(event.envelope())
        transcode_finished(
            "succeeded", seconds=time.monotonic() - started, media_seconds=event.duration
        )
        log.info(
            "video %s ready: %s, %.1f s of video in %.1f s",
            job.video_id,
            ", ".join(event.renditions),
            event.duration,
            time.monotonic() - started,
        )

    def sweep_work_dirs(self) -> int:
        """Remove work directories a killed process left behind (see `Pipeline`)."""
        return self.pipeline.sweep_work_dirs()

    def _progress_reporter(self, video_id: int) -> PercentHandler:
        """`video.progress`, at most one per `progress_interval` and never going back."""
        throttle = ProgressThrottle(self.progress_interval)

        async def report(percent: int) -> None:
            allowed = throttle.offer(percent)
            if allowed is None:
                return
            event = VideoProgress(video_id=video_id, percent=allowed)
            try:
                # best effort: a lost progress message must not cost the transcode
                async with asyncio.timeout(PROGRESS_PUBLISH_TIMEOUT):
                    await self.bus.publish(event.envelope())
            except Exception as exc:
                log.warning("could not publish progress of video %s: %r", video_id, exc)

        return report
