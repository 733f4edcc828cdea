"""End to end with real FFmpeg: a generated clip goes in as `video.uploaded`, and what lands
in the object store is checked with ffprobe/ffmpeg, independently of the transcoder's code.

Every clip runs with the system's FFmpeg; some also run with the bundled tools (imageio-ffmpeg
+ PyAV, what `make dev` uses on a machine without FFmpeg), checked by the same tests: the
full ladder with its split/scale cascade (1080p), a display-matrix rotation and the blurred
portrait thumbnail (rotated), odd sizes in 4:4:4 (odd), non-square pixels (anamorphic) and
no audio (no_audio)."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable

import pytest

from tests.support.media import (
    decode_errors,
    first_frame_is_key,
    keyframe_times,
    mean_luma,
    media_segments,
    parse_master,
    streams,
    video_stream,
)
from tests.support.transcoder import BUNDLED, SYSTEM, JobRun

SEGMENT = re.compile(r"^segment_\d{5}\.ts$")

# clip -> rendition -> (width, height); displayed size of the source -> event width/height
EXPECTED: dict[str, tuple[dict[str, tuple[int, int]], tuple[int, int], bool]] = {
    "1080p": ({"480p": (854, 480), "720p": (1280, 720), "1080p": (1920, 1080)}, (1920, 1080), True),
    "720p": ({"480p": (854, 480), "720p": (1280, 720)}, (1280, 720), True),
    "portrait": ({"480p": (480, 854), "720p": (720, 1280)}, (720, 1280), True),
    "rotated": ({"480p": (480, 854), "720p": (720, 1280)}, (720, 1280), True),
    "odd": ({"480p": (852, 480), "720p": (1280, 720)}, (1281, 721), True),
    "small_odd": ({"480p": (854, 480)}, (853, 479), True),
    "tiny": ({"480p": (640, 480)}, (320, 240), True),
    "no_audio": ({"480p": (854, 480)}, (640, 360), False),
    "anamorphic": ({"480p": (854, 480)}, (1024, 576), True),
}
CLIP_SECONDS = 2.0
BUNDLED_CLIPS = ("1080p", "rotated", "odd", "anamorphic", "no_audio")

pytestmark = pytest.mark.parametrize(
    ("name", "toolset"),
    [
        *(pytest.param(name, SYSTEM, id=name) for name in EXPECTED),
        *(pytest.param(name, BUNDLED, id=f"{name}-{BUNDLED}") for name in BUNDLED_CLIPS),
    ],
)


@pytest.fixture
def run(name: str, toolset: str, ladder_run: Callable[[str, str], JobRun]) -> JobRun:
    return ladder_run(name, toolset)


def test_the_result_event_lists_the_ladder(run: JobRun, name: str) -> None:
    renditions, display, _audio = EXPECTED[name]
    assert run.final.routing_key == "video.transcoded", run.final.payload
    result = run.final.payload
    assert result["renditions"] == list(renditions)
    assert (result["width"], result["height"]) == display
    assert result["duration"] == pytest.approx(CLIP_SECONDS, abs=0.1)
    assert result["thumbnail_key"] == f"thumbnails/{run.video_id}.jpg"
    assert run.dead == []


def test_the_result_event_gives_the_stored_bytes_of_each_rendition(run: JobRun, name: str) -> None:
    """Per rendition, the sum of its stored objects (playlist and segments), as on disk."""
    renditions, _display, _audio = EXPECTED[name]
    prefix = f"hls/{run.video_id}/"
    stored = {
        rendition: sum((run.root / key).stat().st_size for key in run.keys(f"{prefix}{rendition}/"))
        for rendition in renditions
    }
    assert all(size > 0 for size in stored.values())
    assert run.final.payload["rendition_bytes"] == stored


def test_the_store_holds_exactly_the_layout(run: JobRun, name: str) -> None:
    renditions, _display, _audio = EXPECTED[name]
    prefix = f"hls/{run.video_id}/"
    keys = run.keys(prefix)
    assert f"{prefix}master.m3u8" in keys
    for key in keys:
        rest = key.removeprefix(prefix)
        if rest == "master.m3u8":
            continue
        rendition, _, file = rest.partition("/")
        assert rendition in renditions
        assert file == "index.m3u8" or SEGMENT.match(file), key
    for rendition in renditions:
        assert f"{prefix}{rendition}/index.m3u8" in keys
    assert run.keys("thumbnails/") == [f"thumbnails/{run.video_id}.jpg"]


def test_renditions_have_the_planned_sizes_and_streams(run: JobRun, name: str) -> None:
    renditions, _display, audio = EXPECTED[name]
    for rendition, (width, height) in renditions.items():
        folder = run.root / f"hls/{run.video_id}/{rendition}"
        for uri, _duration in media_segments(folder / "index.m3u8"):
            kinds = {s["codec_type"]: s for s in streams(folder / uri)}
            video = kinds["video"]
            assert (video["width"], video["height"]) == (width, height), (rendition, uri)
            assert video["codec_name"] == "h264"
            assert video["pix_fmt"] == "yuv420p"
            assert video.get("sample_aspect_ratio", "1:1") in ("1:1", "0:1")
            if audio:
                assert kinds["audio"]["codec_name"] == "aac"
                assert kinds["audio"]["sample_rate"] == "48000"
                assert kinds["audio"]["channels"] == 2
            else:
                assert "audio" not in kinds


def test_keyframes_are_aligned_and_open_every_segment(run: JobRun, name: str) -> None:
    renditions, _display, _audio = EXPECTED[name]
    times = {}
    for rendition in renditions:
        folder = run.root / f"hls/{run.video_id}/{rendition}"
        playlist = folder / "index.m3u8"
        times[rendition] = keyframe_times(playlist)
        for uri, _duration in media_segments(playlist):
            assert first_frame_is_key(folder / uri), (rendition, uri)
    reference = next(iter(times.values()))
    assert all(t == reference for t in times.values()), times
    # one IDR per 1 s segment: at 0, 1, ... (relative to the first)
    starts = [round(t - reference[0], 2) for t in reference]
    assert starts == [float(i) for i in range(len(starts))], starts
    assert len(starts) >= 2


def test_segment_boundaries_match_across_renditions(run: JobRun, name: str) -> None:
    renditions, _display, _audio = EXPECTED[name]
    layouts = [media_segments(run.root / f"hls/{run.video_id}/{r}/index.m3u8") for r in renditions]
    assert all(layout == layouts[0] for layout in layouts)
    total = sum(duration for _uri, duration in layouts[0])
    assert total == pytest.approx(CLIP_SECONDS, abs=0.1)
    for _uri, duration in layouts[0][:-1]:
        assert duration == pytest.approx(1.0, abs=0.05)


def test_the_master_playlist_describes_every_rendition(run: JobRun, name: str) -> None:
    renditions, _display, audio = EXPECTED[name]
    text = (run.root / f"hls/{run.video_id}/master.m3u8").read_text()
    assert text.startswith("#EXTM3U")
    variants = parse_master(text)
    assert set(variants) == {f"{r}/index.m3u8" for r in renditions}
    for rendition, (width, height) in renditions.items():
        attrs = variants[f"{rendition}/index.m3u8"]
        assert attrs["RESOLUTION"] == f"{width}x{height}"
        codecs = attrs["CODECS"].split(",")
        assert re.fullmatch(r"avc1\.[0-9a-f]{6}", codecs[0])
        assert codecs[1:] == (["mp4a.40.2"] if audio else [])
        bandwidth, average = int(attrs["BANDWIDTH"]), int(attrs["AVERAGE-BANDWIDTH"])
        assert 0 < average <= bandwidth
        folder = run.root / f"hls/{run.video_id}/{rendition}"
        for uri, duration in media_segments(folder / "index.m3u8"):
            if duration >= 0.5:  # a half-target-duration run or longer (RFC 8216bis)
                assert (folder / uri).stat().st_size * 8 / duration <= bandwidth


def test_the_codecs_attribute_matches_the_stream(run: JobRun, name: str) -> None:
    renditions, _display, _audio = EXPECTED[name]
    variants = parse_master((run.root / f"hls/{run.video_id}/master.m3u8").read_text())
    profiles = {"High": 0x64, "Main": 0x4D, "Constrained Baseline": 0x42, "Baseline": 0x42}
    for rendition in renditions:
        codec = variants[f"{rendition}/index.m3u8"]["CODECS"].split(",")[0]
        folder = run.root / f"hls/{run.video_id}/{rendition}"
        stream = video_stream(folder / "segment_00000.ts")
        assert int(codec[5:7], 16) == profiles[stream["profile"]]
        assert int(codec[9:11], 16) == stream["level"]


def test_ffmpeg_plays_the_master_playlist_end_to_end(run: JobRun, name: str) -> None:
    assert decode_errors(run.root / f"hls/{run.video_id}/master.m3u8") == ""


def test_the_thumbnail_is_a_16_9_jpeg_with_a_picture(run: JobRun, name: str) -> None:
    image = run.root / f"thumbnails/{run.video_id}.jpg"
    assert image.read_bytes()[:3] == b"\xff\xd8\xff"
    stream = video_stream(image)
    assert (stream["codec_name"], stream["width"], stream["height"]) == ("mjpeg", 640, 360)
    assert mean_luma(image) > 40


def test_uploads_put_playlists_after_segments_and_the_master_last(run: JobRun, name: str) -> None:
    puts = run.store.puts
    playlists = [i for i, k in enumerate(puts) if k.endswith(".m3u8")]
    media = [i for i, k in enumerate(puts) if not k.endswith(".m3u8")]
    assert max(media) < min(playlists)
    assert puts[-1] == f"hls/{run.video_id}/master.m3u8"
    assert len(puts) == len(set(puts))


def test_progress_is_monotonic_below_100_and_throttled(run: JobRun, name: str) -> None:
    progress = [
        (t, e.payload["percent"]) for t, e in run.published if e.routing_key == "video.progress"
    ]
    percents = [p for _t, p in progress]
    assert percents == sorted(set(percents))
    assert all(0 <= p <= 99 for p in percents)
    for (t1, _), (t2, _) in itertools.pairwise(progress):
        assert t2 - t1 >= 1.0
    assert run.published[-1][1].routing_key == "video.transcoded"


def test_the_work_directory_is_gone(run: JobRun, name: str) -> None:
    assert list(run.work_dir.iterdir()) == []
