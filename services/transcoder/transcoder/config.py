"""The transcoder's own settings, read from the environment.

They live here rather than in `common.config.Settings` because only this worker uses them.
The defaults are tuned on a 2-core machine (see docs/benchmarks.md, "Transcode"): the x264
`veryfast` preset with superfast's motion search (`me=dia:subme=1`) encodes the three-rung
ladder of a noisy 1080p30 clip at about 1.6x real time with a 1080p SSIM of 0.980; plain
`veryfast` needs 50% more CPU (below real time on 2 cores) for +0.0002 SSIM.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

X264_PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
)


class TranscoderSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    ffmpeg_path: str | None = None
    """FFmpeg to run. Unset: `ffmpeg` on PATH, else imageio-ffmpeg's build (`tools.py`)."""
    ffprobe_path: str | None = None
    """ffprobe to probe sources with. Unset: `ffprobe` on PATH, else PyAV (`tools.py`)."""

    transcode_preset: str = "veryfast"
    transcode_x264_params: str = "me=dia:subme=1"
    """Extra `-x264-params` (key=value pairs joined by ':'), applied after the preset."""
    transcode_crf: float = Field(default=21, ge=0, le=51)
    """Quality target; every rendition is additionally capped by its maxrate/bufsize."""
    transcode_segment_seconds: int = Field(default=4, ge=1, le=30)
    transcode_threads: int = Field(default=0, ge=0, le=64)
    """0: let FFmpeg and x264 choose (one thread set per encoder, sized to the machine)."""
    transcode_timeout_seconds: float = Field(default=3 * 3600, gt=0)
    transcode_work_dir: Path | None = None
    """Where sources and outputs are staged; the system temp dir when unset."""
    transcode_upload_concurrency: int = Field(default=4, ge=1, le=64)

    @field_validator("transcode_preset")
    @classmethod
    def _known_preset(cls, value: str) -> str:
        value = value.strip().lower()
        if value not in X264_PRESETS:
            raise ValueError(f"unknown x264 preset {value!r}; one of {', '.join(X264_PRESETS)}")
        return value

    @field_validator("transcode_work_dir", "ffmpeg_path", "ffprobe_path", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value
