"""Which FFmpeg encodes and what probes: decided here, and only here.

* FFmpeg: `FFMPEG_PATH` if set; else `ffmpeg` on PATH; else the static build the
  imageio-ffmpeg package ships (libx264, AAC, the filters and the HLS muxer the ladder uses).
* Probing: `FFPROBE_PATH` if set; else `ffprobe` on PATH; else PyAV (`PyAVProber`), since
  imageio-ffmpeg ships no ffprobe.

A system FFmpeg wins when there is one: it gets the distribution's security updates, and the
transcoder image installs Debian's. The bundled build is what makes `make dev` work on a
machine with Python only. A path that is set is used as is, even if it does not exist: the
readiness check and the retried jobs then show the mistake instead of hiding it.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass

from transcoder.config import TranscoderSettings
from transcoder.probe import FfprobeProber, Prober, PyAVProber

log = logging.getLogger(__name__)

FROM_SETTING_FFMPEG = "FFMPEG_PATH"
FROM_SETTING_FFPROBE = "FFPROBE_PATH"
FROM_PATH = "PATH"
BUNDLED = "imageio-ffmpeg"
NOT_FOUND = "not found"
NO_FFPROBE = "no ffprobe on PATH"


@dataclass(frozen=True)
class Tools:
    ffmpeg: str
    """The FFmpeg executable (path, or a name looked up on PATH)."""
    ffmpeg_origin: str
    prober: Prober
    prober_origin: str

    def ready(self) -> bool:
        """Both can run: FFmpeg is an executable file and the prober is there."""
        return shutil.which(self.ffmpeg) is not None and self.prober.available()

    def describe(self) -> str:
        return (
            f"ffmpeg {self.ffmpeg} ({self.ffmpeg_origin}); "
            f"probing with {self.prober} ({self.prober_origin})"
        )


def bundled_ffmpeg() -> str | None:
    """imageio-ffmpeg's binary, or None where it has none (or is not installed)."""
    try:
        # imported here: a deployment that removes the package still has FFmpeg from PATH
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()  # runs it once (`-version`) to check it works
    except (ImportError, RuntimeError, OSError):
        return None


def find_ffmpeg(setting: str | None) -> tuple[str, str]:
    """(executable, where it came from), in the order above."""
    if setting:
        return setting, FROM_SETTING_FFMPEG
    on_path = shutil.which("ffmpeg")
    if on_path:
        return on_path, FROM_PATH
    bundled = bundled_ffmpeg()
    if bundled:
        return bundled, BUNDLED
    return "ffmpeg", NOT_FOUND


def find_prober(setting: str | None) -> tuple[Prober, str]:
    """(prober, where it came from), in the order above."""
    if setting:
        return FfprobeProber(setting), FROM_SETTING_FFPROBE
    on_path = shutil.which("ffprobe")
    if on_path:
        return FfprobeProber(on_path), FROM_PATH
    return PyAVProber(), NO_FFPROBE


def resolve_tools(settings: TranscoderSettings) -> Tools:
    ffmpeg, ffmpeg_origin = find_ffmpeg(settings.ffmpeg_path)
    prober, prober_origin = find_prober(settings.ffprobe_path)
    return Tools(ffmpeg, ffmpeg_origin, prober, prober_origin)


def log_tools(tools: Tools) -> None:
    if tools.ffmpeg_origin == NOT_FOUND:
        log.warning(
            "no FFmpeg: none on PATH and imageio-ffmpeg has no build for this machine; "
            "install FFmpeg or set FFMPEG_PATH (transcode jobs will be retried)"
        )
    log.info("transcoder tools: %s", tools.describe())
