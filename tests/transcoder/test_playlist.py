"""Measured master-playlist values: peak and average bit rates, CODECS from the SPS."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import pytest

from tests.support.media import ffmpeg, video_stream
from transcoder.playlist import (
    MediaPlaylist,
    Segment,
    VariantInfo,
    average_bitrate,
    h264_codec,
    master_playlist,
    peak_bitrate,
    read_media_playlist,
)


def playlist(*segments: tuple[float, int], target: float = 4) -> MediaPlaylist:
    return MediaPlaylist(
        target, [Segment(f"segment_{i:05d}.ts", d, s) for i, (d, s) in enumerate(segments)]
    )


def test_peak_is_the_busiest_run_of_segments() -> None:
    p = playlist((4, 1_000_000), (4, 3_000_000), (4, 1_000_000))
    assert peak_bitrate(p) == 6_000_000  # the middle segment alone: 24 Mbit / 4 s
    assert average_bitrate(p) == 3_333_334


def test_a_tiny_last_segment_is_judged_with_its_neighbour() -> None:
    # a 0.04 s tail holding one big IDR frame would read as 20 Mbit/s on its own
    p = playlist((4, 2_000_000), (4, 2_000_000), (0.04, 100_000))
    assert peak_bitrate(p) == pytest.approx((2_100_000 * 8) / 4.04, abs=1)


def test_a_video_shorter_than_half_a_target_gets_its_average() -> None:
    p = playlist((1.0, 500_000))
    assert peak_bitrate(p) == average_bitrate(p) == 4_000_000
    assert peak_bitrate(playlist()) == 0


def test_the_master_lists_every_attribute() -> None:
    text = master_playlist(
        [
            VariantInfo(
                "720p/index.m3u8",
                3_000_000,
                2_500_000,
                1280,
                720,
                Fraction(30),
                "avc1.64001f,mp4a.40.2",
            ),
            VariantInfo(
                "480p/index.m3u8",
                1_500_000,
                1_200_000,
                854,
                480,
                Fraction(30000, 1001),
                "avc1.64001e,mp4a.40.2",
            ),
        ]
    )
    lines = text.splitlines()
    assert lines[0] == "#EXTM3U"
    assert lines[-1] == "720p/index.m3u8"  # ascending bandwidth
    assert (
        'BANDWIDTH=1500000,AVERAGE-BANDWIDTH=1200000,CODECS="avc1.64001e,mp4a.40.2",'
        "RESOLUTION=854x480,FRAME-RATE=29.970"
    ) in text


def test_codec_string_from_a_real_segment(clip: Callable[[str], Path], tmp_path: Path) -> None:
    out = tmp_path / "hls"
    out.mkdir()
    ffmpeg(
        "-i",
        str(clip("720p")),
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-profile:v",
        "high",
        "-bf",
        "2",
        "-c:a",
        "aac",
        "-f",
        "hls",
        "-hls_time",
        "1",
        "-hls_playlist_type",
        "vod",
        "-hls_segment_filename",
        str(out / "segment_%05d.ts"),
        str(out / "index.m3u8"),
    )
    media = read_media_playlist(out / "index.m3u8")
    assert media.segments and media.target_duration >= 1
    assert media.duration == pytest.approx(2.0, abs=0.1)
    first = out / media.segments[0].uri
    codec = h264_codec(first.read_bytes())
    stream = video_stream(first)
    assert stream["profile"] == "High"
    assert codec == f"avc1.6400{stream['level']:02x}"


def test_no_sps_no_codec() -> None:
    assert h264_codec(b"") is None
    assert h264_codec(b"\x47" + bytes(187)) is None
