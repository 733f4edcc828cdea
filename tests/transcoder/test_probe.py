"""Probing: ffprobe JSON -> SourceInfo, and clear MediaErrors for what is not a video; the
PyAV prober (for machines without ffprobe) gives the same answers as ffprobe."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from tests.support.media import FFPROBE, ffmpeg, require_system_ffmpeg
from transcoder import avprobe, errors
from transcoder.errors import MediaError
from transcoder.probe import FfprobeProber, Prober, PyAVProber, parse_probe, probe


def video(**overrides: Any) -> dict[str, Any]:
    stream = {
        "index": 0,
        "codec_type": "video",
        "codec_name": "h264",
        "width": 1920,
        "height": 1080,
        "sample_aspect_ratio": "1:1",
        "avg_frame_rate": "30000/1001",
        "r_frame_rate": "30000/1001",
        "duration": "12.5",
        "field_order": "progressive",
    }
    stream.update(overrides)
    return stream


def audio(index: int = 1, **overrides: Any) -> dict[str, Any]:
    return {"index": index, "codec_type": "audio", "codec_name": "aac", "channels": 2, **overrides}


def doc(*streams: dict[str, Any], duration: str | None = "12.5") -> dict[str, Any]:
    fmt: dict[str, Any] = {"format_name": "mov,mp4,m4a,3gp,3g2,mj2"}
    if duration is not None:
        fmt["duration"] = duration
    return {"streams": list(streams), "format": fmt}


def test_a_plain_video() -> None:
    info = parse_probe(doc(video(), audio()))
    assert (info.width, info.height, info.rotation) == (1920, 1080, 0)
    assert (info.display_width, info.display_height) == (1920, 1080)
    assert info.duration == 12.5 and info.video_duration == 12.5
    assert info.frame_rate == Fraction(30000, 1001)
    assert info.has_audio and info.audio_index == 1 and info.video_index == 0
    assert info.codec == "h264" and not info.interlaced


def test_rotation_from_the_display_matrix_and_from_the_old_tag() -> None:
    side = video(width=1280, height=720, side_data_list=[{"rotation": -90}])
    info = parse_probe(doc(side))
    assert info.rotation == 90
    assert (info.display_width, info.display_height) == (720, 1280)
    assert info.display_aspect_ratio == Fraction(9, 16)
    tagged = parse_probe(doc(video(width=1280, height=720, tags={"rotate": "270"})))
    assert tagged.rotation == 270 and tagged.display_height == 1280
    upside_down = parse_probe(doc(video(side_data_list=[{"rotation": 180}])))
    assert upside_down.rotation == 180 and upside_down.display_width == 1920


def test_anamorphic_pixels_widen_the_display() -> None:
    info = parse_probe(doc(video(width=720, height=576, sample_aspect_ratio="64:45")))
    assert (info.display_width, info.display_height) == (1024, 576)
    assert info.display_aspect_ratio == Fraction(16, 9)


def test_cover_art_is_not_a_video_stream() -> None:
    cover = video(index=1, codec_name="mjpeg", disposition={"attached_pic": 1})
    with pytest.raises(MediaError) as caught:
        parse_probe(doc(audio(index=0), cover))
    assert caught.value.reason == errors.NO_VIDEO_STREAM


def test_the_largest_video_stream_wins() -> None:
    info = parse_probe(doc(video(index=0, width=320, height=180), video(index=1), audio(2)))
    assert info.video_index == 1


def test_interlaced_and_odd_rates() -> None:
    info = parse_probe(doc(video(field_order="tt", avg_frame_rate="0/0", r_frame_rate="25/1")))
    assert info.interlaced and info.frame_rate == 25
    assert parse_probe(doc(video(avg_frame_rate="0/0", r_frame_rate="0/0"))).frame_rate is None


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"streams": [], "format": {}}, errors.NOT_MEDIA),
        (doc(audio(index=0)), errors.NO_VIDEO_STREAM),
        (doc(video(width=0, height=0)), errors.NOT_MEDIA),
        (doc(video(duration="0"), duration="0"), errors.EMPTY),
        (doc(video(duration=None), duration=None), errors.EMPTY),
        ({"streams": "nonsense"}, errors.NOT_MEDIA),
    ],
)
def test_unusable_sources(data: dict[str, Any], reason: str) -> None:
    with pytest.raises(MediaError) as caught:
        parse_probe(data)
    assert caught.value.reason == reason


def test_a_measured_duration_stands_in_for_a_missing_one() -> None:
    info = parse_probe(doc(video(duration=None), duration=None), measured_duration=3.2)
    assert info.duration == 3.2


# ---------------------------------------------------------------------- real probers

PYAV = PyAVProber()


@pytest.fixture(params=["ffprobe", "pyav"])
def prober(request: pytest.FixtureRequest) -> Prober:
    """Every behaviour below holds for both: ffprobe, and PyAV where no ffprobe exists."""
    require_system_ffmpeg()
    return FfprobeProber(FFPROBE) if request.param == "ffprobe" else PYAV


async def test_probing_real_clips(clip: Callable[[str], Path], prober: Prober) -> None:
    info = await probe(clip("720p"), prober=prober)
    assert (info.display_width, info.display_height) == (1280, 720)
    assert info.duration == pytest.approx(2.0, abs=0.1)
    assert info.has_audio and info.frame_rate == 25
    silent = await probe(clip("no_audio"), prober=prober)
    assert not silent.has_audio


async def test_probing_a_rotated_phone_clip(clip: Callable[[str], Path], prober: Prober) -> None:
    info = await probe(clip("rotated"), prober=prober)
    assert (info.width, info.height) == (1280, 720)
    assert info.rotation in (90, 270)
    assert (info.display_width, info.display_height) == (720, 1280)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("text", errors.NOT_MEDIA),
        ("audio_only", errors.NO_VIDEO_STREAM),
        ("moov_end_half", errors.TRUNCATED),
    ],
)
async def test_probing_files_that_are_not_videos(
    clip: Callable[[str], Path], prober: Prober, name: str, reason: str
) -> None:
    with pytest.raises(MediaError) as caught:
        await probe(clip(name), prober=prober)
    assert caught.value.reason == reason


async def test_a_raw_stream_without_a_stated_duration_is_measured(
    clip: Callable[[str], Path], prober: Prober, tmp_path: Path
) -> None:
    raw = tmp_path / "camera.h264"
    ffmpeg("-i", str(clip("tiny")), "-map", "0:v", "-c", "copy", "-f", "h264", str(raw))
    info = await probe(raw, prober=prober)
    assert info.duration == pytest.approx(2.0, abs=0.15)
    assert not info.has_audio


async def test_playlists_and_other_indirections_are_refused(prober: Prober, tmp_path: Path) -> None:
    # an HLS playlist or concat list pointing at a local file: it must never be followed
    secret = tmp_path / "secret.ts"
    secret.write_bytes(b"\x47" * 188)
    playlist = tmp_path / "evil.mp4"
    playlist.write_text(f"#EXTM3U\n#EXTINF:1,\nfile:{secret}\n#EXT-X-ENDLIST\n")
    concat = tmp_path / "evil2.mp4"
    concat.write_text(f"ffconcat version 1.0\nfile '{secret}'\n")
    for path in (playlist, concat):
        with pytest.raises(MediaError) as caught:
            await probe(path, prober=prober)
        assert caught.value.reason == errors.NOT_MEDIA


async def test_a_missing_ffprobe_is_not_the_files_fault(clip: Callable[[str], Path]) -> None:
    with pytest.raises(FileNotFoundError):
        await probe(clip("tiny"), ffprobe="/nonexistent/ffprobe")


@pytest.mark.parametrize(
    "name", ["1080p", "portrait", "rotated", "odd", "small_odd", "no_audio", "anamorphic"]
)
async def test_pyav_gives_the_same_source_info_as_ffprobe(
    clip: Callable[[str], Path], name: str
) -> None:
    by_ffprobe = await probe(clip(name), prober=FfprobeProber(FFPROBE))
    by_pyav = await probe(clip(name), prober=PYAV)
    assert by_pyav == by_ffprobe
    # the properties the ladder is planned from, spelled out
    assert (by_pyav.display_width, by_pyav.display_height) == (
        by_ffprobe.display_width,
        by_ffprobe.display_height,
    )
    assert by_pyav.display_aspect_ratio == by_ffprobe.display_aspect_ratio


async def test_pyav_measures_a_raw_stream_as_ffprobe_does(
    clip: Callable[[str], Path], tmp_path: Path
) -> None:
    raw = tmp_path / "camera.h264"
    ffmpeg("-i", str(clip("tiny")), "-map", "0:v", "-c", "copy", "-f", "h264", str(raw))
    assert await probe(raw, prober=PYAV) == await probe(raw, prober=FfprobeProber(FFPROBE))


async def test_a_broken_pyav_prober_is_not_the_files_fault(clip: Callable[[str], Path]) -> None:
    with pytest.raises(FileNotFoundError):
        await probe(clip("tiny"), prober=PyAVProber(python="/nonexistent/python"))
    # a Python that fails on its own (exit status 1: PyAV missing, a bug) -> retried
    with pytest.raises(RuntimeError):
        await probe(clip("tiny"), prober=PyAVProber(python="false"))


def test_avprobe_refuses_to_run_without_the_safety_options(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        avprobe.main(["streams", "file:/dev/null"])
    assert "protocol_whitelist" in capsys.readouterr().err
