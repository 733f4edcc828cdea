"""What the source is: ffprobe's JSON turned into a `SourceInfo`, or a `MediaError`.

Two probers give that JSON: `FfprobeProber` runs an ffprobe executable; `PyAVProber` runs
`transcoder.avprobe` (PyAV in a child Python), which prints the same fields where there is
no ffprobe (imageio-ffmpeg ships none). Both go through `parse_probe`, so they give the
same `SourceInfo` and the same reasons. `transcoder.tools` chooses between them.

Uploaded files are untrusted input: every command here opens them as `transcoder.input_safety`
says.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import math
import shutil
import sys
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from transcoder import avprobe, errors
from transcoder.errors import MediaError
from transcoder.input_safety import SAFE_INPUT_OPTIONS, input_url
from transcoder.process import ProcessTimeout, run_process

_INTERLACED = {"tt", "bb", "tb", "bt"}
_NOT_VIDEO_CODECS = {"ansi", "bin_data", "none"}
PROBE_TIMEOUT_SECONDS = 120.0
MIN_DURATION_SECONDS = 0.04


# ---------------------------------------------------------------------- ffprobe's JSON


class _Side(BaseModel):
    model_config = ConfigDict(extra="ignore")
    rotation: float | None = None


class _Stream(BaseModel):
    model_config = ConfigDict(extra="ignore")
    index: int
    codec_type: str | None = None
    codec_name: str | None = None
    width: int | None = None
    height: int | None = None
    sample_aspect_ratio: str | None = None
    r_frame_rate: str | None = None
    avg_frame_rate: str | None = None
    duration: str | None = None
    field_order: str | None = None
    channels: int | None = None
    disposition: dict[str, int] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)
    side_data_list: list[_Side] = Field(default_factory=list)


class _Format(BaseModel):
    model_config = ConfigDict(extra="ignore")
    format_name: str = ""
    duration: str | None = None


class _Probe(BaseModel):
    model_config = ConfigDict(extra="ignore")
    streams: list[_Stream] = Field(default_factory=list)
    format: _Format = Field(default_factory=_Format)


# ---------------------------------------------------------------------- the result


class SourceInfo(BaseModel):
    """The source as the transcoder needs it. Sizes are in stored pixels; `display_*` are
    what a viewer sees (sample aspect ratio applied, then rotation)."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    duration: float = Field(gt=0)
    video_duration: float | None = None
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    sample_aspect_ratio: Fraction = Fraction(1)
    rotation: int = 0
    """Clockwise degrees a player turns the picture: 0, 90, 180 or 270."""
    codec: str
    frame_rate: Fraction | None = None
    interlaced: bool = False
    video_index: int
    audio_index: int | None = None
    format_name: str = ""

    @property
    def has_audio(self) -> bool:
        return self.audio_index is not None

    @property
    def display_aspect_ratio(self) -> Fraction:
        """Width over height as displayed."""
        ratio = Fraction(self.width, self.height) * self.sample_aspect_ratio
        return 1 / ratio if self.rotation in (90, 270) else ratio

    @property
    def display_width(self) -> int:
        width = round(self.width * self.sample_aspect_ratio)
        return self.height if self.rotation in (90, 270) else width

    @property
    def display_height(self) -> int:
        width = round(self.width * self.sample_aspect_ratio)
        return width if self.rotation in (90, 270) else self.height


def _fraction(text: str | None) -> Fraction | None:
    if not text:
        return None
    try:
        value = Fraction(text.replace(":", "/"))
    except (ValueError, ZeroDivisionError):
        return None
    return value if value > 0 else None


def _seconds(text: str | None) -> float | None:
    try:
        value = float(text) if text is not None else math.nan
    except ValueError:
        return None
    return value if math.isfinite(value) and value > 0 else None


def _rotation(stream: _Stream) -> int:
    """Clockwise rotation from the display matrix (counter-clockwise there) or the old tag."""
    degrees: float | None = None
    for side in stream.side_data_list:
        if side.rotation is not None:
            degrees = -side.rotation
            break
    if degrees is None and "rotate" in stream.tags:
        try:
            degrees = float(stream.tags["rotate"])
        except ValueError:
            degrees = None
    if degrees is None:
        return 0
    return (round(degrees / 90) * 90) % 360


def _frame_rate(stream: _Stream) -> Fraction | None:
    for text in (stream.avg_frame_rate, stream.r_frame_rate):
        rate = _fraction(text)
        if rate is not None and 1 <= rate <= 1000:
            return rate
    return None


def parse_probe(data: dict[str, Any], *, measured_duration: float | None = None) -> SourceInfo:
    """ffprobe's `-show_format -show_streams` JSON -> `SourceInfo`, or `MediaError`.

    `measured_duration` stands in when the container states no duration (raw streams).
    """
    try:
        probe = _Probe.model_validate(data)
    except ValidationError:
        raise MediaError(errors.NOT_MEDIA) from None
    if not probe.streams and not probe.format.format_name:
        raise MediaError(errors.NOT_MEDIA)
    videos = [
        s
        for s in probe.streams
        if s.codec_type == "video"
        and not s.disposition.get("attached_pic")  # cover art of an audio file
        and (s.codec_name or "none") not in _NOT_VIDEO_CODECS
    ]
    if not videos:
        raise MediaError(errors.NO_VIDEO_STREAM)
    sized = [s for s in videos if (s.width or 0) > 0 and (s.height or 0) > 0]
    if not sized:
        raise MediaError(errors.NOT_MEDIA)
    video = max(sized, key=lambda s: (s.width or 0) * (s.height or 0))
    audios = [s for s in probe.streams if s.codec_type == "audio" and (s.channels or 1) > 0]
    audio = next((s for s in audios if s.disposition.get("default")), audios[0] if audios else None)
    video_duration = _seconds(video.duration)
    duration = _seconds(probe.format.duration) or video_duration or measured_duration
    if duration is None or duration < MIN_DURATION_SECONDS:
        raise MediaError(errors.EMPTY)
    assert video.width is not None and video.height is not None
    return SourceInfo(
        duration=duration,
        video_duration=video_duration,
        width=video.width,
        height=video.height,
        sample_aspect_ratio=_fraction(video.sample_aspect_ratio) or Fraction(1),
        rotation=_rotation(video),
        codec=video.codec_name or "unknown",
        frame_rate=_frame_rate(video),
        interlaced=(video.field_order or "") in _INTERLACED,
        video_index=video.index,
        audio_index=audio.index if audio is not None else None,
        format_name=probe.format.format_name,
    )


def _looks_like_mp4(path: Path) -> bool:
    """An ISO-BMFF file starts with a box whose type is `ftyp` (or sometimes free/mdat)."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
    except OSError:
        return False
    return len(head) >= 8 and head[4:8] in (b"ftyp", b"mdat", b"free", b"wide", b"moov")


# ---------------------------------------------------------------------- the probers


@dataclass(frozen=True)
class FfprobeProber:
    """Probing with an ffprobe executable (a name on PATH or a path)."""

    path: str = "ffprobe"

    def streams_command(self, url: str) -> list[str]:
        return [
            self.path,
            "-hide_banner",
            "-loglevel",
            "error",
            *SAFE_INPUT_OPTIONS,
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
            url,
        ]

    def packets_command(self, url: str) -> list[str]:
        return [
            self.path,
            "-hide_banner",
            "-loglevel",
            "error",
            *SAFE_INPUT_OPTIONS,
            "-select_streams",
            "v:0",
            "-show_entries",
            "packet=pts_time,dts_time,duration_time",
            "-of",
            "csv=p=0",
            url,
        ]

    def blames_the_file(self, returncode: int) -> bool:
        """ffprobe fails with 1 for whatever it cannot read."""
        return returncode != 0

    def available(self) -> bool:
        return shutil.which(self.path) is not None

    def __str__(self) -> str:
        return f"ffprobe {self.path}"


@dataclass(frozen=True)
class PyAVProber:
    """Probing with PyAV through `python -m transcoder.avprobe`, in a child process."""

    python: str = field(default_factory=lambda: sys.executable)

    def _command(self, what: str, url: str) -> list[str]:
        # -P: the working directory is not put on sys.path, nothing there can shadow a module
        return [self.python, "-P", "-m", "transcoder.avprobe", *SAFE_INPUT_OPTIONS, what, url]

    def streams_command(self, url: str) -> list[str]:
        return self._command("streams", url)

    def packets_command(self, url: str) -> list[str]:
        return self._command("packets", url)

    def blames_the_file(self, returncode: int) -> bool:
        """`UNREADABLE`, or killed by a signal (a demuxer crash), as a crashing ffprobe would
        be; any other failure (PyAV missing, a bug) is the machine's and is retried."""
        return returncode == avprobe.UNREADABLE or returncode < 0

    def available(self) -> bool:
        return bool(self.python) and importlib.util.find_spec("av") is not None

    def __str__(self) -> str:
        return "PyAV"


Prober = FfprobeProber | PyAVProber


async def probe(
    path: Path,
    *,
    ffprobe: str = "ffprobe",
    prober: Prober | None = None,
    timeout: float = PROBE_TIMEOUT_SECONDS,
) -> SourceInfo:
    """Probe the file at `path` with `prober` (default: the ffprobe `ffprobe`). Raises
    `MediaError` for anything that is not a usable video; `FileNotFoundError` when the
    prober's program is missing, `RuntimeError` when it fails for its own reasons."""
    prober = prober or FfprobeProber(ffprobe)
    url = input_url(path)
    try:
        result = await run_process(
            prober.streams_command(url), timeout=timeout, watch=("moov atom not found",)
        )
    except ProcessTimeout:
        raise MediaError(errors.NOT_MEDIA) from None
    if result.returncode != 0:
        if not prober.blames_the_file(result.returncode):
            detail = " | ".join(result.stderr_tail[-3:])
            raise RuntimeError(f"{prober} failed with status {result.returncode}: {detail}")
        if "moov atom not found" in result.stderr_text_seen and _looks_like_mp4(path):
            # an MP4 whose index was to be written at the end, cut off before it was
            raise MediaError(errors.TRUNCATED)
        raise MediaError(errors.NOT_MEDIA)
    try:
        data = json.loads(result.stdout or b"{}")
    except ValueError:
        raise MediaError(errors.NOT_MEDIA) from None
    if not isinstance(data, dict):
        raise MediaError(errors.NOT_MEDIA)
    measured = None
    if not _states_duration(data):
        measured = await _measure_duration(url, prober=prober, timeout=timeout)
    return parse_probe(data, measured_duration=measured)


def _states_duration(data: dict[str, Any]) -> bool:
    texts = [data.get("format", {}).get("duration")]
    texts += [s.get("duration") for s in data.get("streams", []) if isinstance(s, dict)]
    return any(_seconds(t) for t in texts if isinstance(t, str))


async def _measure_duration(url: str, *, prober: Prober, timeout: float) -> float | None:
    """How long the video stream lasts, for files that do not say (raw H.264, some live
    captures): the end of the last packet, or the sum of packet durations when there are no
    timestamps. Demuxes the whole file, decodes nothing."""
    try:
        result = await run_process(prober.packets_command(url), timeout=timeout)
    except ProcessTimeout:
        return None
    # a line per packet (an hour: ~100k lines, ~0.2 s of CPU): off the event loop, which
    # serves segments too in the all-in-one
    return await asyncio.to_thread(_packets_end, result.stdout)


def _packets_end(stdout: bytes) -> float | None:
    end = total = 0.0
    for line in stdout.decode("ascii", errors="replace").splitlines():
        values = [_seconds(v) or 0.0 for v in line.split(",")[:3]]
        if len(values) == 3:
            # raw streams may carry no timestamps at all: then the durations add up
            end = max(end, max(values[0], values[1]) + values[2])
            total += values[2]
    return max(end, total) or None
