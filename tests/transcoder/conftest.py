"""Fixtures of the transcoder tests: generated clips (made once per session) and the ladder
of each clip transcoded once per session. Running a job is in tests/support/transcoder.py."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.media import ffmpeg, make_clip, require_system_ffmpeg
from tests.support.transcoder import (
    BUNDLED,
    SYSTEM,
    JobRun,
    bundled_settings,
    bundled_tools,
    run_job,
)

# ---------------------------------------------------------------------- clips

CLIPS: dict[str, dict[str, Any]] = {
    "1080p": {"size": "1920x1080"},
    "720p": {"size": "1280x720"},
    "portrait": {"size": "720x1280"},
    # testsrc2 makes even sizes only; 4:4:4 H.264 can store odd ones
    "odd": {
        "size": "1280x720",
        "pix_fmt": "yuv444p",
        "video_filter": "format=yuv444p,scale=1281:721,setsar=1",
    },
    "small_odd": {
        "size": "854x480",
        "pix_fmt": "yuv444p",
        "video_filter": "format=yuv444p,scale=853:479,setsar=1",
    },
    "tiny": {"size": "320x240"},
    "no_audio": {"size": "640x360", "audio": False},
    "anamorphic": {"size": "720x576", "video_filter": "setsar=64/45"},
}
"""Name -> `make_clip` arguments; every clip is 2 s at 25 fps."""


@pytest.fixture(scope="session")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("clips")


@pytest.fixture(scope="session")
def clip(clip_dir: Path) -> Callable[[str], Path]:
    """Make (once per session) and return the named clip."""
    made: dict[str, Path] = {}

    def get(name: str) -> Path:
        require_system_ffmpeg()  # every clip's outcome is checked with the system's tools
        if name not in made:
            made[name] = _make(name, clip_dir)
        return made[name]

    return get


def _make(name: str, where: Path) -> Path:
    if name in CLIPS:
        return make_clip(where / f"{name}.mp4", **CLIPS[name])
    if name == "rotated":  # stored landscape, displayed portrait (phone footage)
        plain = make_clip(where / "rotated-plain.mp4", size="1280x720")
        dest = where / "rotated.mp4"
        ffmpeg("-i", str(plain), "-c", "copy", "-metadata:s:v:0", "rotate=90", str(dest))
        return dest
    if name == "black_start":  # 1.5 s of black, then picture
        return make_clip(
            where / "black_start.mp4",
            size="640x360",
            seconds=3,
            video_filter="fade=type=in:start_time=1.5:duration=0.1",
        )
    if name == "faststart_half":  # index first, data cut off half-way
        full = make_clip(
            where / "faststart.mp4", size="320x240", seconds=3, extra=("-movflags", "+faststart")
        )
        return _half(full, where / "faststart_half.mp4")
    if name == "faststart_tail_cut":  # only the last few frames lost
        full = make_clip(
            where / "faststart_tail.mp4",
            size="320x240",
            seconds=3,
            extra=("-movflags", "+faststart"),
        )
        data = full.read_bytes()
        dest = where / "faststart_tail_cut.mp4"
        dest.write_bytes(data[: len(data) * 97 // 100])
        return dest
    if name == "moov_end_half":  # index at the end, never written
        full = make_clip(where / "moov_end.mp4", size="320x240", seconds=3)
        return _half(full, where / "moov_end_half.mp4")
    if name == "text":
        dest = where / "notes.mp4"
        dest.write_text("This is a shopping list, not a video.\nmilk\neggs\n")
        return dest
    if name == "audio_only":
        dest = where / "tone.m4a"
        ffmpeg("-f", "lavfi", "-i", "sine=duration=2", "-c:a", "aac", str(dest))
        return dest
    raise KeyError(name)


def _half(full: Path, dest: Path) -> Path:
    data = full.read_bytes()
    dest.write_bytes(data[: len(data) // 2])
    return dest


@pytest.fixture(scope="session")
def ladder_run(
    clip: Callable[[str], Path], tmp_path_factory: pytest.TempPathFactory
) -> Callable[..., JobRun]:
    """Transcode the named clip once per session with the SYSTEM or BUNDLED tool set (sync:
    use it from plain test functions)."""
    done: dict[tuple[str, str], JobRun] = {}

    def get(name: str, toolset: str = SYSTEM) -> JobRun:
        if (name, toolset) not in done:
            base = tmp_path_factory.mktemp(f"job-{name}-{toolset}")
            if toolset == BUNDLED:
                job = run_job(
                    clip(name),
                    base,
                    settings=bundled_settings(base / "work"),
                    tools=bundled_tools(),
                )
            else:
                job = run_job(clip(name), base)
            done[name, toolset] = asyncio.run(job)
        return done[name, toolset]

    return get
