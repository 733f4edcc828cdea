"""The job handler around FFmpeg: failures, retries, redelivery, clean-up, interference."""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from common.bus import PermanentError
from common.events import Envelope, VideoUploaded
from tests.support.fakes import RecordingBus, RecordingStore
from tests.support.media import mean_luma
from tests.support.transcoder import bundled_settings, bundled_tools, fast_settings, run_job
from transcoder import errors
from transcoder.consumer import Transcoder
from transcoder.pipeline import source_suffix


def no_outputs(run: Any) -> None:
    assert run.keys("hls/") == []
    assert run.keys("thumbnails/") == []
    assert list(run.work_dir.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("text", errors.NOT_MEDIA),
        ("audio_only", errors.NO_VIDEO_STREAM),
        ("faststart_half", errors.TRUNCATED),
        ("moov_end_half", errors.TRUNCATED),
    ],
)
async def test_the_files_fault_ends_as_video_failed(
    clip: Callable[[str], Path], tmp_path: Path, name: str, reason: str
) -> None:
    run = await run_job(clip(name), tmp_path)
    assert run.final.routing_key == "video.failed"
    assert run.final.payload == {"video_id": run.video_id, "reason": reason}
    assert run.dead == []  # acknowledged: retrying cannot help
    no_outputs(run)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("text", errors.NOT_MEDIA),
        ("audio_only", errors.NO_VIDEO_STREAM),
        ("faststart_half", errors.TRUNCATED),  # seen by the bundled FFmpeg while encoding
        ("moov_end_half", errors.TRUNCATED),  # seen by the PyAV prober
    ],
)
async def test_the_bundled_tools_fail_the_same_files_for_the_same_reasons(
    clip: Callable[[str], Path], tmp_path: Path, name: str, reason: str
) -> None:
    settings = bundled_settings(tmp_path / "work")
    run = await run_job(clip(name), tmp_path, settings=settings, tools=bundled_tools())
    assert run.final.payload == {"video_id": run.video_id, "reason": reason}
    assert run.dead == []
    no_outputs(run)


async def test_the_bundled_tools_publish_a_recording_missing_its_last_frames(
    clip: Callable[[str], Path], tmp_path: Path
) -> None:
    settings = bundled_settings(tmp_path / "work")
    run = await run_job(
        clip("faststart_tail_cut"), tmp_path, settings=settings, tools=bundled_tools()
    )
    assert run.final.routing_key == "video.transcoded", run.final.payload
    assert run.final.payload["duration"] > 2.5


async def test_a_recording_missing_only_its_last_frames_is_still_published(
    clip: Callable[[str], Path], tmp_path: Path
) -> None:
    run = await run_job(clip("faststart_tail_cut"), tmp_path)
    assert run.final.routing_key == "video.transcoded", run.final.payload
    assert run.final.payload["duration"] > 2.5


async def test_a_missing_source_ends_as_video_failed(
    clip: Callable[[str], Path], tmp_path: Path
) -> None:
    async def remove(store: RecordingStore) -> None:
        await store.inner.delete("sources/7/tiny.mp4")

    run = await run_job(clip("tiny"), tmp_path, prepare=remove)
    assert run.final.payload["reason"] == errors.SOURCE_MISSING


async def test_a_time_out_ends_as_video_failed(clip: Callable[[str], Path], tmp_path: Path) -> None:
    settings = fast_settings(
        tmp_path / "work", transcode_timeout_seconds=0.3, transcode_preset="medium"
    )
    run = await run_job(clip("1080p"), tmp_path, settings=settings)
    assert run.final.routing_key == "video.failed"
    assert run.final.payload["reason"] == "Transcoding took longer than 0.3 seconds."
    no_outputs(run)


async def test_infrastructure_failures_are_retried_not_reported(
    clip: Callable[[str], Path], tmp_path: Path
) -> None:
    class Unreachable(RecordingStore):
        async def download(self, key: str, path: Path) -> None:
            raise ConnectionError("object store unreachable")

    run = await run_job(clip("tiny"), tmp_path, store=Unreachable(tmp_path / "objects"))
    assert run.results == []  # no video.failed: the video is not at fault
    assert len(run.dead) == 1  # retried, then parked
    assert list(run.work_dir.iterdir()) == []


async def test_a_missing_ffmpeg_is_retried_not_reported(
    clip: Callable[[str], Path], tmp_path: Path
) -> None:
    settings = fast_settings(tmp_path / "work", ffprobe_path="/nonexistent/ffprobe")
    run = await run_job(clip("tiny"), tmp_path, settings=settings)
    assert run.results == []
    assert len(run.dead) == 1


async def test_a_malformed_job_is_parked_at_once(tmp_path: Path) -> None:
    worker = Transcoder(RecordingStore(tmp_path), None, fast_settings(tmp_path))  # type: ignore[arg-type]
    with pytest.raises(PermanentError):
        await worker.handle(Envelope(routing_key="video.uploaded", payload={"video_id": "x"}))


async def test_a_redelivered_job_rewrites_the_same_objects_and_drops_leftovers(
    clip: Callable[[str], Path], tmp_path: Path
) -> None:
    async def leftovers(store: RecordingStore) -> None:
        await store.inner.put_bytes("hls/7/1080p/segment_00042.ts", b"old", "video/MP2T")
        await store.inner.put_bytes("hls/7/480p/segment_00099.ts", b"old", "video/MP2T")

    first = await run_job(clip("720p"), tmp_path, prepare=leftovers)
    assert first.final.routing_key == "video.transcoded"
    keys = first.keys("hls/")
    assert "hls/7/1080p/segment_00042.ts" not in keys
    assert "hls/7/480p/segment_00099.ts" not in keys
    again = await run_job(clip("720p"), tmp_path, store=first.store)
    # the encoder's threads make the bytes (so the sizes) differ a little from run to run;
    # what the result says is what the second run stored
    sizes = again.final.payload["rendition_bytes"]
    assert again.final.payload == first.final.payload | {"video_id": 7, "rendition_bytes": sizes}
    assert sizes.keys() == first.final.payload["rendition_bytes"].keys()
    assert sizes == {
        name: sum((again.root / key).stat().st_size for key in again.keys(f"hls/7/{name}/"))
        for name in again.final.payload["renditions"]
    }
    assert again.keys("hls/") == keys
    assert again.keys("thumbnails/") == ["thumbnails/7.jpg"]


async def test_an_admin_thumbnail_is_left_alone(
    clip: Callable[[str], Path], tmp_path: Path
) -> None:
    async def custom(store: RecordingStore) -> None:
        await store.inner.put_bytes("thumbnails/7.jpg", b"the admin's picture", "image/jpeg")

    run = await run_job(clip("tiny"), tmp_path, has_custom_thumbnail=True, prepare=custom)
    assert run.final.payload["thumbnail_key"] is None
    assert (run.root / "thumbnails/7.jpg").read_bytes() == b"the admin's picture"
    assert "thumbnails/7.jpg" not in run.store.puts


@pytest.mark.parametrize("bundled", [False, True], ids=["system", "bundled"])
async def test_the_thumbnail_skips_a_black_opening(
    clip: Callable[[str], Path], tmp_path: Path, bundled: bool
) -> None:
    if bundled:
        settings = bundled_settings(tmp_path / "work")
        run = await run_job(clip("black_start"), tmp_path, settings=settings, tools=bundled_tools())
    else:
        run = await run_job(clip("black_start"), tmp_path)
    assert run.final.routing_key == "video.transcoded"
    assert mean_luma(run.root / "thumbnails/7.jpg") > 60


async def test_a_video_deleted_mid_job_leaves_nothing_behind(
    clip: Callable[[str], Path], tmp_path: Path
) -> None:
    store = RecordingStore(tmp_path / "objects")

    async def delete_source(key: str) -> None:
        if key.endswith(".ts"):
            await store.inner.delete("sources/7/720p.mp4")

    store.before_put = delete_source
    run = await run_job(clip("720p"), tmp_path, store=store)
    assert run.results == [] or all(e.routing_key == "video.progress" for e in run.results)
    assert run.dead == []
    no_outputs(run)


async def test_progress_publishing_trouble_does_not_fail_the_job(
    clip: Callable[[str], Path], tmp_path: Path
) -> None:
    flaky = RecordingBus(fail_if=lambda envelope: envelope.routing_key == "video.progress")
    store = RecordingStore(tmp_path / "objects")
    await store.start()
    await store.inner.put_file("sources/3/a.mp4", clip("tiny"), "video/mp4")
    worker = Transcoder(store, flaky, fast_settings(tmp_path / "work"))  # type: ignore[arg-type]
    job = VideoUploaded(video_id=3, source_key="sources/3/a.mp4")
    await worker.handle(job.envelope())
    assert flaky.routing_keys() == ["video.transcoded"]


async def test_progress_is_throttled_to_the_interval(
    clip: Callable[[str], Path], tmp_path: Path
) -> None:
    settings = fast_settings(tmp_path / "work", transcode_preset="veryfast")
    run = await run_job(clip("1080p"), tmp_path, settings=settings, progress_interval=0.25)
    progress = [
        (t, e.payload["percent"]) for t, e in run.published if e.routing_key == "video.progress"
    ]
    assert progress, "a 1080p veryfast run reports progress"
    assert [p for _t, p in progress] == sorted({p for _t, p in progress})
    assert all(0 <= p <= 99 for _t, p in progress)
    assert all(b[0] - a[0] >= 0.25 for a, b in itertools.pairwise(progress))


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if text.encode() in f.read():
                    found.append(int(pid))
        except OSError:
            continue
    return found


async def test_a_cancelled_job_kills_ffmpeg_and_cleans_up(
    clip: Callable[[str], Path], tmp_path: Path
) -> None:
    started = asyncio.Event()

    class Bus:
        async def publish(self, envelope: Envelope) -> None:
            if envelope.routing_key == "video.progress":
                started.set()

    work = tmp_path / "work"
    store = RecordingStore(tmp_path / "objects")
    await store.start()
    await store.inner.put_file("sources/5/big.mp4", clip("1080p"), "video/mp4")
    settings = fast_settings(work, transcode_preset="slow")
    worker = Transcoder(store, Bus(), settings, progress_interval=0)  # type: ignore[arg-type]
    task = asyncio.create_task(
        worker.handle(VideoUploaded(video_id=5, source_key="sources/5/big.mp4").envelope())
    )
    await asyncio.wait_for(started.wait(), 60)
    assert _processes_mentioning(str(work))  # FFmpeg is running in the work dir
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert _processes_mentioning(str(work)) == []
    assert list(work.iterdir()) == []
    assert store.puts == []


def test_source_suffix() -> None:
    assert source_suffix("sources/1/Holiday Clip.MP4") == ".mp4"
    assert source_suffix("sources/1/noext") == ""
    assert source_suffix("sources/1/weird.$(rm -rf)") == ""
    assert source_suffix("sources/1/a.verylongextension") == ""
