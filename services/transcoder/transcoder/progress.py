"""FFmpeg's `-progress` output -> percent done, and the throttle for `video.progress`.

`-progress pipe:1` writes blocks of `key=value` lines, each ended by `progress=continue`
(or `progress=end` for the last). The position is `out_time_us`; `out_time_ms` carries the
same microseconds (a long-standing FFmpeg misnomer) and `out_time` is `HH:MM:SS.micro`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class ProgressSnapshot:
    out_time: float | None
    """Seconds of output written, None while FFmpeg reports N/A."""
    ended: bool


def _clock_seconds(text: str) -> float | None:
    try:
        hours, minutes, seconds = text.strip().split(":")
        value = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


def _micros(text: str) -> float | None:
    try:
        value = int(text.strip())
    except ValueError:
        return None
    return value / 1_000_000 if value >= 0 else None


@dataclass
class ProgressParser:
    """Feed it lines; it returns a snapshot at the end of every block."""

    _block: dict[str, str] = field(default_factory=dict)
    last_out_time: float | None = None

    def feed(self, line: str) -> ProgressSnapshot | None:
        key, sep, value = line.strip().partition("=")
        if not sep:
            return None
        if key != "progress":
            self._block[key] = value
            return None
        block, self._block = self._block, {}
        out_time = None
        if "out_time_us" in block:
            out_time = _micros(block["out_time_us"])
        if out_time is None and "out_time" in block:
            out_time = _clock_seconds(block["out_time"])
        if out_time is None and "out_time_ms" in block:
            out_time = _micros(block["out_time_ms"])
        if out_time is not None:
            self.last_out_time = out_time
        return ProgressSnapshot(out_time=out_time, ended=value.strip() == "end")


def percent_of(out_time: float, duration: float) -> int:
    """0..99: 100 is only ever implied by `video.transcoded`."""
    if duration <= 0 or not math.isfinite(out_time):
        return 0
    return max(0, min(99, math.floor(100 * out_time / duration)))


class ProgressThrottle:
    """Lets through a percent that is higher than the last one let through and comes at
    least `interval` seconds after it: monotonic, at most one message per interval."""

    def __init__(self, interval: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self._clock = clock
        self._last_percent = -1
        self._last_time = -math.inf

    def offer(self, percent: int) -> int | None:
        now = self._clock()
        if percent <= self._last_percent or now - self._last_time < self.interval:
            return None
        self._last_percent, self._last_time = percent, now
        return percent
