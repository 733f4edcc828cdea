"""Which renditions a source gets: a pure function of its displayed size and frame rate.

Naming convention: a rung's "p" is the SHORT side of the picture, as players and YouTube
label portrait video (a 1080x1920 phone clip is "1080p"). For landscape that is the height;
for portrait the width, so a 720x1280 portrait source gets 480p = 480x854 and
720p = 720x1280. That keeps every rung inside the source on both axes ("never upscale"), and
a rung costs the same pixels, hence the same bitrate, in either orientation.

Every rung whose short side is at most the source's is made; a source smaller than 480p
still gets "480p", scaled up to 480 lines, so every video has one rendition. The long side
follows the display aspect ratio, rounded to an even number (H.264 4:2:0 needs even sizes).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from common.media import RENDITION_LINES

MAX_FRAME_RATE = Fraction(60)
DEFAULT_FRAME_RATE = Fraction(30)


@dataclass(frozen=True)
class Rung:
    name: str
    short_side: int
    maxrate_kbps: int
    """Video peak rate for 16:9 at up to 30 fps; scaled by pixel area and frame rate."""
    audio_kbps: int


_RATES_KBPS = ((1400, 96), (3000, 128), (6000, 128))
"""(video maxrate, audio rate) of each rendition of `common.media.RENDITION_LINES`, in order."""
RUNGS: tuple[Rung, ...] = tuple(
    Rung(name, lines, maxrate, audio)
    for (name, lines), (maxrate, audio) in zip(RENDITION_LINES.items(), _RATES_KBPS, strict=True)
)
BUFSIZE_SECONDS = 2.0
"""VBV buffer as seconds of maxrate: x264 may exceed maxrate locally by this much."""


@dataclass(frozen=True)
class Rendition:
    name: str
    width: int
    height: int
    maxrate_kbps: int
    bufsize_kbps: int
    audio_kbps: int


def even(value: float | Fraction) -> int:
    """Nearest even integer, at least 2."""
    return max(2, 2 * round(value / 2))


def output_frame_rate(source: Fraction | None) -> Fraction:
    """The source's rate, halved until it is at most 60 fps (120 -> 60, 100 -> 50)."""
    rate = source if source is not None and source > 0 else DEFAULT_FRAME_RATE
    while rate > MAX_FRAME_RATE:
        rate /= 2
    return rate


def rung_size(short_side: int, aspect: Fraction) -> tuple[int, int]:
    """(width, height) of a rung for a display aspect ratio (width / height)."""
    if aspect >= 1:  # landscape or square: the short side is the height
        return even(short_side * aspect), short_side
    return short_side, even(short_side / aspect)


def plan_ladder(
    display_width: int,
    display_height: int,
    frame_rate: Fraction | None = None,
    *,
    aspect: Fraction | None = None,
) -> list[Rendition]:
    """The renditions for a source displayed at `display_width` x `display_height`.

    `aspect` overrides width/height when the exact display aspect ratio is known (anamorphic
    sources whose displayed width is not an integer).
    """
    if display_width <= 0 or display_height <= 0:
        raise ValueError("display size must be positive")
    aspect = aspect or Fraction(display_width, display_height)
    short = min(display_width, display_height)
    rungs = [r for r in RUNGS if r.short_side <= short] or [RUNGS[0]]
    rate = output_frame_rate(frame_rate)
    motion = 1.5 if rate > 31 else 1.0  # 50/60 fps need more bits, not twice as many
    renditions = []
    for rung in rungs:
        width, height = rung_size(rung.short_side, aspect)
        reference = rung_size(rung.short_side, Fraction(16, 9))
        area = (width * height) / (reference[0] * reference[1])
        scale = min(2.0, max(0.5, area)) * motion
        maxrate = round(rung.maxrate_kbps * scale)
        renditions.append(
            Rendition(
                name=rung.name,
                width=width,
                height=height,
                maxrate_kbps=maxrate,
                bufsize_kbps=round(maxrate * BUFSIZE_SECONDS),
                audio_kbps=rung.audio_kbps,
            )
        )
    return renditions
