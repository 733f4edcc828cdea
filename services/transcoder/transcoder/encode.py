"""Running the ladder command: progress out, FFmpeg's verdict in, failures sorted.

A failure that is the file's fault becomes a `MediaError`; one that is the machine's (disk
full, FFmpeg killed by a signal it did not get from us, FFmpeg missing) is raised as is, so
the job is retried rather than the video marked failed.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from transcoder import errors
from transcoder.command import LadderJob, ladder_command
from transcoder.config import TranscoderSettings
from transcoder.errors import MediaError
from transcoder.process import ProcessTimeout, run_process
from transcoder.progress import ProgressParser, percent_of

log = logging.getLogger(__name__)

PercentHandler = Callable[[int], Awaitable[None]]

TRUNCATION_MARKERS = ("partial file",)
"""What the MP4 demuxer logs when the data ends before the index says it should."""
DISK_FULL = "No space left on device"
_NOISE = {"Conversion failed!", "Exiting normally, received signal 2."}


class EncoderCrashed(RuntimeError):
    """FFmpeg died from a signal (out of memory, killed by the system): retry the job."""


@dataclass(frozen=True)
class LadderRun:
    out_time: float | None
    """Seconds of output FFmpeg reported at the end."""
    truncated_input: bool
    """FFmpeg met the end of the file before the data the container announced."""
    warnings: list[str]


def _reason(lines: list[str]) -> str:
    useful = [line for line in lines if line.strip() and line.strip() not in _NOISE]
    return errors.decode_failed(useful[-1] if useful else "")


async def run_ladder(
    job: LadderJob,
    settings: TranscoderSettings,
    on_percent: PercentHandler,
    *,
    ffmpeg: str | None = None,
) -> LadderRun:
    """Run FFmpeg (`ffmpeg`, see `ladder_command`) for `job`, calling `on_percent` (0..99)
    as `-progress` blocks arrive."""
    duration = job.info.video_duration or job.info.duration
    parser = ProgressParser()

    async def on_line(line: str) -> None:
        snapshot = parser.feed(line)
        if snapshot is not None and snapshot.out_time is not None:
            await on_percent(percent_of(snapshot.out_time, duration))

    args = ladder_command(job, settings, ffmpeg=ffmpeg)
    log.debug("running %s", " ".join(args))
    try:
        result = await run_process(
            args,
            timeout=settings.transcode_timeout_seconds,
            on_stdout_line=on_line,
            watch=(*TRUNCATION_MARKERS, DISK_FULL),
        )
    except ProcessTimeout:
        raise MediaError(errors.timed_out(settings.transcode_timeout_seconds)) from None
    seen = result.stderr_text_seen
    if DISK_FULL in seen:
        raise OSError(f"FFmpeg ran out of disk space in {job.out_dir}")
    if result.returncode < 0:
        raise EncoderCrashed(f"FFmpeg was killed by signal {-result.returncode}")
    truncated = any(marker in seen for marker in TRUNCATION_MARKERS)
    if result.returncode != 0:
        if truncated:
            raise MediaError(errors.TRUNCATED)
        raise MediaError(_reason(result.stderr_tail))
    return LadderRun(
        out_time=parser.last_out_time, truncated_input=truncated, warnings=result.stderr_tail
    )
