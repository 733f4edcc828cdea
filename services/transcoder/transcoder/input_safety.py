"""How every FFmpeg tool opens an uploaded file: the input-safety policy.

Uploaded files are untrusted input to FFmpeg, ffprobe and the PyAV prober. Each opens them
with `SAFE_INPUT_OPTIONS` (before `-i`) and the URL `input_url` gives:

* only the `file` protocol, so nothing a file says can make FFmpeg open a URL;
* only real container demuxers (`VIDEO_DEMUXERS`), so a "video" that is really an HLS
  playlist, a concat list or an image sequence pattern cannot make FFmpeg read other files;
* a `file:` URL with an absolute path, so the name is never read as an option, a protocol or
  a pattern.
"""

from __future__ import annotations

from pathlib import Path

VIDEO_DEMUXERS = (
    "mov",  # mp4, m4v, mov, 3gp
    "matroska",  # mkv, webm
    "avi",
    "flv",
    "mpegts",
    "mpeg",
    "mpegvideo",
    "asf",
    "ogg",
    "mxf",
    "nut",
    "dv",
    "rm",
    "wtv",
    "ivf",
    "obu",
    "av1",
    "h264",
    "hevc",
    "m4v",
    "vc1",
    "gif",
    "yuv4mpegpipe",
    # audio-only containers: allowed so they end as "no video stream", not "not a video"
    "mp3",
    "wav",
    "aac",
    "flac",
)
SAFE_INPUT_OPTIONS = (
    "-protocol_whitelist",
    "file",
    "-format_whitelist",
    ",".join(VIDEO_DEMUXERS),
)


def input_url(path: Path) -> str:
    """`file:` + absolute path: never read as an option, a protocol or a pattern."""
    return f"file:{Path(path).resolve()}"
