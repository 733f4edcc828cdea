"""A 640x360 JPEG from a representative frame of the video.

Frames are taken from the lowest rendition just made, not from the source: it is small,
upright, square-pixelled and has a keyframe every segment, so each sample decodes a few
hundred kilobytes instead of seeking through a large source.

A few candidate frames spread over the first two thirds of the video are decoded at
64x36 in grey; the one with the most contrast (luma standard deviation) wins, and frames
that are nearly black or white never do unless nothing else exists. So fades from black,
black title cards and blank first frames are skipped. The chosen frame is fitted into 16:9:
portrait or square pictures sit on a blurred, zoomed copy of themselves instead of black bars.
"""

from __future__ import annotations

import asyncio
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from transcoder.input_safety import SAFE_INPUT_OPTIONS, input_url
from transcoder.process import ProcessTimeout, run_process

WIDTH, HEIGHT = 640, 360
SAMPLE_W, SAMPLE_H = 64, 36
CANDIDATE_POSITIONS = (0.1, 0.2, 0.3, 0.45, 0.6)
TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True)
class SegmentFile:
    path: Path
    duration: float


@dataclass(frozen=True)
class Candidate:
    time: float
    mean: float
    stddev: float

    @property
    def score(self) -> float:
        washed_out = self.mean < 24 or self.mean > 235
        return self.stddev - (1000 if washed_out else 0)


def candidate_times(duration: float) -> list[float]:
    return [round(duration * p, 3) for p in CANDIDATE_POSITIONS]


def luma_stats(gray: bytes) -> tuple[float, float]:
    if not gray:
        return 0.0, 0.0
    return statistics.fmean(gray), statistics.pstdev(gray)


def locate(segments: Sequence[SegmentFile], at: float) -> tuple[Path, float]:
    """The segment file holding time `at`, and the offset into it."""
    start = 0.0
    for segment in segments:
        if at < start + segment.duration or segment is segments[-1]:
            return segment.path, max(0.0, min(at - start, segment.duration - 0.001))
        start += segment.duration
    raise ValueError("no segments")


def _seek_args(ffmpeg: str, segment: Path, offset: float) -> list[str]:
    return [
        ffmpeg,
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "error",
        *SAFE_INPUT_OPTIONS,
        "-i",
        input_url(segment),
        # after -i: decode from the segment's first (key)frame and drop frames up to the
        # offset; seeking inside MPEG-TS lands past the only keyframe and yields nothing
        "-ss",
        f"{offset:.3f}",
        "-map",
        "0:v:0",
        "-frames:v",
        "1",
    ]


async def _sample(ffmpeg: str, segments: Sequence[SegmentFile], at: float) -> Candidate | None:
    path, offset = locate(segments, at)
    args = [
        *_seek_args(ffmpeg, path, offset),
        "-vf",
        f"scale={SAMPLE_W}:{SAMPLE_H}:flags=area,format=gray",
        "-f",
        "rawvideo",
        "pipe:1",
    ]
    try:
        result = await run_process(args, timeout=TIMEOUT_SECONDS)
    except ProcessTimeout:
        return None
    if result.returncode != 0 or len(result.stdout) < SAMPLE_W * SAMPLE_H:
        return None
    mean, stddev = luma_stats(result.stdout[: SAMPLE_W * SAMPLE_H])
    return Candidate(at, mean, stddev)


async def choose_time(ffmpeg: str, segments: Sequence[SegmentFile]) -> float:
    """The candidate time with the most contrast (the first candidate if none decodes)."""
    times = candidate_times(sum(s.duration for s in segments))
    slots = asyncio.Semaphore(2)

    async def sample(at: float) -> Candidate | None:
        async with slots:
            return await _sample(ffmpeg, segments, at)

    samples = await asyncio.gather(*(sample(t) for t in times))
    found = [c for c in samples if c is not None]
    if not found:
        return times[0]
    return max(found, key=lambda c: c.score).time


def fit_filter() -> str:
    """Square pixels, then fit into WIDTHxHEIGHT over a blurred fill of the same frame."""
    return (
        "scale=trunc(iw*sar/2)*2:ih,setsar=1,split[a][b];"
        f"[a]scale={WIDTH}:{HEIGHT}:force_original_aspect_ratio=increase,"
        f"crop={WIDTH}:{HEIGHT},boxblur=20:2[bg];"
        f"[b]scale={WIDTH}:{HEIGHT}:force_original_aspect_ratio=decrease:force_divisible_by=2[fg];"
        "[bg][fg]overlay=(W-w)/2:(H-h)/2,setsar=1,format=yuvj420p"
    )


async def render(ffmpeg: str, segments: Sequence[SegmentFile], at: float, dest: Path) -> bool:
    path, offset = locate(segments, at)
    args = [
        *_seek_args(ffmpeg, path, offset),
        "-vf",
        fit_filter(),
        "-q:v",
        "3",
        "-f",
        "image2",
        "-update",
        "1",
        "-y",
        str(dest),
    ]
    try:
        result = await run_process(args, timeout=TIMEOUT_SECONDS)
    except ProcessTimeout:
        return False
    if result.returncode != 0:
        return False
    return await asyncio.to_thread(lambda: dest.is_file() and dest.stat().st_size > 0)


async def make_thumbnail(ffmpeg: str, segments: Sequence[SegmentFile], dest: Path) -> bool:
    """Write the JPEG to `dest` from a rendition's segments (path, duration) in order;
    False if no frame could be rendered at all."""
    if not segments:
        return False
    at = await choose_time(ffmpeg, segments)
    if await render(ffmpeg, segments, at, dest):
        return True
    return not math.isclose(at, 0.0) and await render(ffmpeg, segments, 0.0, dest)
