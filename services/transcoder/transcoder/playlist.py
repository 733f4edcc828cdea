"""Reading the media playlists FFmpeg wrote, and writing the master playlist ourselves.

The master states, per rendition: BANDWIDTH = the peak segment bit rate as RFC 8216bis
defines it (the highest rate of any run of consecutive segments lasting 0.5 to 1.5 target
durations), AVERAGE-BANDWIDTH, CODECS (the H.264 profile/level read from the rendition's own
SPS, plus AAC-LC), RESOLUTION and FRAME-RATE. All are measured from the files, so the
BANDWIDTH line is what the rendition really peaks at, never a guess.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

TS_PACKET = 188
AAC_LC = "mp4a.40.2"


@dataclass(frozen=True)
class Segment:
    uri: str
    duration: float
    size: int


@dataclass(frozen=True)
class MediaPlaylist:
    target_duration: float
    segments: list[Segment]

    @property
    def duration(self) -> float:
        return sum(s.duration for s in self.segments)


@dataclass(frozen=True)
class VariantInfo:
    uri: str
    bandwidth: int
    average_bandwidth: int
    width: int
    height: int
    frame_rate: Fraction
    codecs: str


def read_media_playlist(path: Path) -> MediaPlaylist:
    """Parse `path` (an FFmpeg VOD playlist); segment sizes come from the files beside it."""
    target = 0.0
    duration: float | None = None
    segments: list[Segment] = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line.startswith("#EXT-X-TARGETDURATION:"):
            target = float(line.split(":", 1)[1])
        elif line.startswith("#EXTINF:"):
            duration = float(line.split(":", 1)[1].split(",", 1)[0])
        elif line and not line.startswith("#"):
            if duration is None:
                raise ValueError(f"{path}: segment {line!r} has no #EXTINF")
            size = (path.parent / line).stat().st_size
            segments.append(Segment(line, duration, size))
            duration = None
    return MediaPlaylist(target_duration=target, segments=segments)


def peak_bitrate(playlist: MediaPlaylist) -> int:
    """Bits per second: RFC 8216bis 'peak segment bit rate'; the average when the whole
    playlist is shorter than half a target duration."""
    segments = playlist.segments
    if not segments:
        return 0
    target = playlist.target_duration or max(s.duration for s in segments)
    low, high = 0.5 * target, 1.5 * target
    peak = 0.0
    for start in range(len(segments)):
        size = 0
        duration = 0.0
        for seg in segments[start:]:
            size += seg.size
            duration += seg.duration
            if duration > high + 1e-6:
                break
            if duration >= low - 1e-6 and duration > 0:
                peak = max(peak, size * 8 / duration)
    return math.ceil(peak) if peak else average_bitrate(playlist)


def average_bitrate(playlist: MediaPlaylist) -> int:
    duration = playlist.duration
    if duration <= 0:
        return 0
    return math.ceil(sum(s.size for s in playlist.segments) * 8 / duration)


def h264_codec(ts: bytes) -> str | None:
    """`avc1.PPCCLL` from the first SPS of the video PES stream in MPEG-TS bytes."""
    video_pid: int | None = None
    es = bytearray()
    for offset in range(0, len(ts) - TS_PACKET + 1, TS_PACKET):
        packet = ts[offset : offset + TS_PACKET]
        if packet[0] != 0x47:
            continue
        pid = ((packet[1] & 0x1F) << 8) | packet[2]
        adaptation = (packet[3] >> 4) & 0x3
        start = 4 + (1 + packet[4] if adaptation & 0x2 else 0)
        if not adaptation & 0x1 or start >= TS_PACKET:
            continue
        payload = packet[start:]
        if video_pid is None:
            unit_start = packet[1] & 0x40
            # a PES packet of a video stream: 00 00 01, stream_id 0xE0..0xEF
            if unit_start and payload[:3] == b"\x00\x00\x01" and 0xE0 <= payload[3] <= 0xEF:
                video_pid = pid
            else:
                continue
        if pid != video_pid:
            continue
        es += payload
        found = _find_sps(es)
        if found is not None:
            return found
        if len(es) > 1 << 20:
            break
    return None


def _find_sps(es: bytearray) -> str | None:
    index = es.find(b"\x00\x00\x01")
    while index != -1 and index + 6 < len(es):
        header = es[index + 3]
        if header & 0x80 == 0 and header & 0x1F == 7:  # nal_unit_type 7: sequence parameter set
            profile, constraints, level = es[index + 4], es[index + 5], es[index + 6]
            return f"avc1.{profile:02x}{constraints:02x}{level:02x}"
        index = es.find(b"\x00\x00\x01", index + 3)
    return None


def describe_variant(
    playlist_path: Path, uri: str, width: int, height: int, frame_rate: Fraction, audio: bool
) -> VariantInfo:
    playlist = read_media_playlist(playlist_path)
    if not playlist.segments:
        raise ValueError(f"{playlist_path} lists no segments")
    with open(playlist_path.parent / playlist.segments[0].uri, "rb") as f:
        codec = h264_codec(f.read(1 << 20)) or "avc1.640028"
    codecs = f"{codec},{AAC_LC}" if audio else codec
    return VariantInfo(
        uri=uri,
        bandwidth=peak_bitrate(playlist),
        average_bandwidth=average_bitrate(playlist),
        width=width,
        height=height,
        frame_rate=frame_rate,
        codecs=codecs,
    )


def master_playlist(variants: list[VariantInfo]) -> str:
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for v in sorted(variants, key=lambda v: v.bandwidth):
        lines.append(
            f"#EXT-X-STREAM-INF:BANDWIDTH={v.bandwidth},AVERAGE-BANDWIDTH={v.average_bandwidth},"
            f'CODECS="{v.codecs}",RESOLUTION={v.width}x{v.height},'
            f"FRAME-RATE={float(v.frame_rate):.3f}"
        )
        lines.append(v.uri)
    return "\n".join(lines) + "\n"
