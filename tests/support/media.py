"""Small FFmpeg helpers for tests: make clips, look inside outputs."""

from __future__ import annotations

import itertools
import json
import shutil
import statistics
import subprocess
from pathlib import Path
from typing import Any

from tests.support.services import unavailable

FFMPEG = shutil.which("ffmpeg") or "ffmpeg"
FFPROBE = shutil.which("ffprobe") or "ffprobe"


def require_system_ffmpeg() -> None:
    """Tests check outputs with the system's tools: skipped without them on a developer
    machine, a failure in CI (VIDEOFLIX_REQUIRE_SERVICES=1)."""
    if shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None:
        unavailable("FFmpeg and ffprobe on PATH (apt-get install ffmpeg)")


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
    if args and args[0] in (FFMPEG, FFPROBE):
        require_system_ffmpeg()
    return subprocess.run(args, capture_output=True, timeout=timeout, check=False)


def ffmpeg(*args: str) -> None:
    done = run(FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args)
    assert done.returncode == 0, done.stderr.decode()


def make_clip(
    dest: Path,
    *,
    size: str,
    seconds: float = 2.0,
    rate: int = 25,
    audio: bool = True,
    pix_fmt: str = "yuv420p",
    video_filter: str = "",
    extra: tuple[str, ...] = (),
) -> Path:
    """A testsrc2 clip (moving picture) with an optional sine tone, encoded fast."""
    source = f"testsrc2=size={size}:rate={rate}:duration={seconds}"
    if video_filter:
        source += f",{video_filter}"
    args = ["-f", "lavfi", "-i", source]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=44100:duration={seconds}"]
    args += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", pix_fmt]
    if audio:
        args += ["-c:a", "aac", "-b:a", "64k"]
    args += [*extra, str(dest)]
    ffmpeg(*args)
    return dest


def probe_json(path: Path, *args: str) -> dict[str, Any]:
    done = run(FFPROBE, "-v", "error", "-print_format", "json", *args, str(path))
    assert done.returncode == 0, done.stderr.decode()
    return json.loads(done.stdout)


def streams(path: Path) -> list[dict[str, Any]]:
    return probe_json(path, "-show_streams")["streams"]


def video_stream(path: Path) -> dict[str, Any]:
    return next(s for s in streams(path) if s["codec_type"] == "video")


def keyframe_times(path: Path) -> list[float]:
    """Presentation times of the keyframes of the first video stream of `path`."""
    data = probe_json(
        path,
        "-select_streams",
        "v:0",
        "-skip_frame",
        "nokey",
        "-show_entries",
        "frame=pts_time,key_frame",
    )
    return [round(float(f["pts_time"]), 3) for f in data["frames"] if f.get("key_frame") == 1]


def first_frame_is_key(path: Path) -> bool:
    data = probe_json(
        path,
        "-select_streams",
        "v:0",
        "-read_intervals",
        "%+#1",
        "-show_entries",
        "frame=key_frame,pict_type",
    )
    frame = data["frames"][0]
    return frame["key_frame"] == 1 and frame["pict_type"] == "I"


def decode_errors(path: Path) -> str:
    """Decode every stream of `path` to nothing; FFmpeg's error output (empty when clean)."""
    done = run(
        FFMPEG,
        "-hide_banner",
        "-nostdin",
        "-v",
        "error",
        "-i",
        str(path),
        "-map",
        "0",
        "-f",
        "null",
        "-",
    )
    assert done.returncode == 0, done.stderr.decode()
    return done.stderr.decode()


def mean_luma(image: Path) -> float:
    """Average luma (0..255) of a picture, decoded to raw grey by FFmpeg."""
    done = run(FFMPEG, "-v", "error", "-i", str(image), "-f", "rawvideo", "-pix_fmt", "gray", "-")
    assert done.returncode == 0, done.stderr.decode()
    return statistics.fmean(done.stdout)


def parse_master(text: str) -> dict[str, dict[str, str]]:
    """URI -> the attributes of its #EXT-X-STREAM-INF line."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    variants: dict[str, dict[str, str]] = {}
    for line, uri in itertools.pairwise(lines):
        if line.startswith("#EXT-X-STREAM-INF:"):
            variants[uri] = _attributes(line.split(":", 1)[1])
    return variants


def _attributes(text: str) -> dict[str, str]:
    attrs: dict[str, str] = {}
    key, value, quoted, reading_key = "", "", False, True
    for ch in text + ",":
        if reading_key:
            if ch == "=":
                reading_key = False
            else:
                key += ch
        elif ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            attrs[key.strip()] = value
            key, value, reading_key = "", "", True
        else:
            value += ch
    return attrs


def media_segments(playlist: Path) -> list[tuple[str, float]]:
    """(uri, duration) of every segment of a media playlist."""
    out: list[tuple[str, float]] = []
    duration = None
    for line in playlist.read_text().splitlines():
        if line.startswith("#EXTINF:"):
            duration = float(line[8:].split(",")[0])
        elif line and not line.startswith("#"):
            assert duration is not None
            out.append((line, duration))
            duration = None
    return out


def pattern(size: int, seed: int = 0) -> bytes:
    """Bytes where every offset differs from its neighbours, so an off-by-one range or a
    shifted byte shows."""
    return bytes((i * 7 + seed + i // 251) % 256 for i in range(size))
