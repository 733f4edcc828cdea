"""Failures that are the uploaded file's fault, with reasons an admin can read.

A `MediaError` ends the job as `video.failed`; anything else (store or bus unreachable,
FFmpeg missing, disk full) is an infrastructure failure and is raised so the bus retries.
"""

from __future__ import annotations

import re

NOT_MEDIA = "The file is not a video FFmpeg can read."
NO_VIDEO_STREAM = "The file has no video stream."
TRUNCATED = "The video ended unexpectedly (truncated file)."
EMPTY = "The video has no playable frames (zero duration)."
SOURCE_MISSING = "The uploaded file could not be found in storage."


def timed_out(seconds: float) -> str:
    value: float
    if seconds >= 60:
        value, unit = round(seconds / 60), "minute"
    else:
        value, unit = float(f"{seconds:.3g}"), "second"
    return f"Transcoding took longer than {value:g} {unit}{'' if value == 1 else 's'}."


def decode_failed(detail: str) -> str:
    # "[h264 @ 0x55d0c1a2b3c0] error while decoding" -> "h264: error while decoding";
    # FFmpeg 6.1+ also names inputs and outputs: "[in#0/mov,mp4,m4a @ 0x...]" -> "in#0/mov,..."
    detail = re.sub(r"\[([\w:.,/#-]+) @ 0x[0-9a-f]+\]\s*", r"\1: ", detail)
    detail = " ".join(detail.split())[:300]
    if not detail:
        return "FFmpeg could not convert the video."
    return f"FFmpeg could not convert the video: {detail}"


class MediaError(Exception):
    """The source cannot be made into a ladder; `reason` is shown to the admin."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
