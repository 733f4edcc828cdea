"""The job pipeline: a source in the object store in, its HLS ladder + thumbnail out.

`transcoder.consumer` runs it for each `video.uploaded` and publishes what it returns. Order
of work, and why:

1. a private work directory, removed whatever happens (and, if the process dies, by the next
   worker to start: `transcoder.workdirs`);
2. download and probe the source; choose the ladder;
3. one FFmpeg run, its progress handed to the caller as it goes;
4. check the outputs, write the master playlist from measured values, make the thumbnail;
5. upload segments and thumbnail first, then the rendition playlists, then the master, so
   nothing refers to an object that is not there yet; then delete objects under
   `hls/<id>/` that this run did not write (leftovers of an earlier run). A redelivered job
   therefore overwrites the same keys with equivalent files, and a video that was already
   ready stays playable while it runs;
6. return the `video.transcoded` event, with the bytes stored per rendition, for the
   consumer to publish.

The file's fault raises `MediaError`; a source deleted meanwhile raises `Abandoned`.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from common.events import VideoTranscoded, VideoUploaded
from common.media import (
    JPEG_TYPE,
    MASTER_NAME,
    PLAYLIST_NAME,
    PLAYLIST_TYPE,
    SEGMENT_NAME,
    SEGMENT_TYPE,
    hls_prefix,
    master_key,
    playlist_key,
    segment_key,
    thumbnail_key,
    variant_uri,
)
from common.storage import ObjectNotFound, ObjectStore
from transcoder import errors
from transcoder.command import LadderJob
from transcoder.config import TranscoderSettings
from transcoder.encode import PercentHandler, run_ladder
from transcoder.errors import MediaError
from transcoder.ladder import output_frame_rate, plan_ladder
from transcoder.playlist import describe_variant, master_playlist, read_media_playlist
from transcoder.probe import probe
from transcoder.thumbnail import SegmentFile, make_thumbnail
from transcoder.tools import Tools
from transcoder.workdirs import claim, sweep

TRUNCATION_TOLERANCE = 0.9
"""Output shorter than this share of the announced duration means the file was cut off."""


def source_suffix(source_key: str) -> str:
    """The source's extension, if harmless (it helps FFmpeg pick raw-stream demuxers)."""
    suffix = PurePosixPath(source_key).suffix.lower()
    return suffix if re.fullmatch(r"\.[a-z0-9]{1,8}", suffix) else ""


@dataclass(frozen=True)
class Outputs:
    """What one successful run produced, in the work directory."""

    renditions: list[str]
    duration: float
    width: int
    height: int
    hls_dir: Path
    thumbnail: Path | None


class Abandoned(Exception):
    """The video was deleted while it was being transcoded."""


class Pipeline:
    """Transcodes one job at a time per call; knows the object store, not the bus."""

    def __init__(self, store: ObjectStore, settings: TranscoderSettings, tools: Tools) -> None:
        self.store = store
        self.settings = settings
        self.tools = tools

    async def transcode(self, job: VideoUploaded, progress: PercentHandler) -> VideoTranscoded:
        """Do the whole job except publishing the result; FFmpeg's progress goes to `progress`.
        Raises `MediaError` or `Abandoned`."""
        work = await asyncio.to_thread(claim, self.settings.transcode_work_dir, job.video_id)
        try:
            outputs = await self._produce(job, work.path, progress)
            sizes = await self._upload(job, outputs)
        finally:
            # shielded: a cancelled job (shutdown) still cleans up after itself
            await asyncio.shield(asyncio.to_thread(work.remove))
        return VideoTranscoded(
            video_id=job.video_id,
            renditions=outputs.renditions,
            duration=round(outputs.duration, 3),
            width=outputs.width,
            height=outputs.height,
            thumbnail_key=thumbnail_key(job.video_id) if outputs.thumbnail else None,
            rendition_bytes=sizes,
        )

    # ------------------------------------------------------------------ steps

    async def _produce(self, job: VideoUploaded, work: Path, progress: PercentHandler) -> Outputs:
        s = self.settings
        source = work / f"source{source_suffix(job.source_key)}"
        try:
            await self.store.download(job.source_key, source)
        except ObjectNotFound:
            raise MediaError(errors.SOURCE_MISSING) from None
        info = await probe(source, prober=self.tools.prober)
        renditions = plan_ladder(
            info.display_width,
            info.display_height,
            info.frame_rate,
            aspect=info.display_aspect_ratio,
        )
        hls_dir = work / "hls"
        await asyncio.to_thread(hls_dir.mkdir)
        ladder = LadderJob(source=source, info=info, renditions=renditions, out_dir=hls_dir)
        run = await run_ladder(ladder, s, progress, ffmpeg=self.tools.ffmpeg)

        duration = await asyncio.to_thread(finish_outputs, ladder, truncated=run.truncated_input)

        thumbnail = None
        if not job.has_custom_thumbnail:
            thumbnail = work / "thumbnail.jpg"
            lowest = hls_dir / renditions[0].name
            playlist = await asyncio.to_thread(read_media_playlist, lowest / PLAYLIST_NAME)
            frames = [SegmentFile(lowest / seg.uri, seg.duration) for seg in playlist.segments]
            if not await make_thumbnail(self.tools.ffmpeg, frames, thumbnail):
                raise MediaError("No picture for a thumbnail could be taken from the video.")
        return Outputs(
            renditions=[r.name for r in renditions],
            duration=duration,
            width=info.display_width,
            height=info.display_height,
            hls_dir=hls_dir,
            thumbnail=thumbnail,
        )

    async def _upload(self, job: VideoUploaded, outputs: Outputs) -> dict[str, int]:
        """Store the outputs; returns the bytes stored per rendition (playlist + segments)."""
        await self._require_source(job)
        prefix = hls_prefix(job.video_id)
        segments, playlists = await asyncio.to_thread(_upload_plan, job.video_id, outputs)
        slots = asyncio.Semaphore(self.settings.transcode_upload_concurrency)
        stored: dict[str, int] = {}  # key -> size, as the store reports it

        async def put(key: str, path: Path, content_type: str) -> None:
            async with slots:
                stored[key] = (await self.store.put_file(key, path, content_type)).size

        # everything a playlist points to first ...
        uploads = [put(key, path, SEGMENT_TYPE) for key, path in segments]
        if outputs.thumbnail is not None:
            uploads.append(put(thumbnail_key(job.video_id), outputs.thumbnail, JPEG_TYPE))
        await _all(uploads)
        # ... then the rendition playlists, and the master last
        for key, path in playlists:
            await put(key, path, PLAYLIST_TYPE)

        written = {key for key, _ in segments} | {key for key, _ in playlists}
        for key in await self.store.list_keys(prefix):
            if key not in written:
                await self.store.delete(key)

        try:
            await self._require_source(job)
        except Abandoned:
            # deleted while we uploaded: take back what we wrote
            await self.store.delete_prefix(prefix)
            if outputs.thumbnail is not None:
                await self.store.delete(thumbnail_key(job.video_id))
            raise
        return _bytes_per_rendition(job.video_id, outputs.renditions, stored)

    async def _require_source(self, job: VideoUploaded) -> None:
        try:
            await self.store.stat(job.source_key)
        except ObjectNotFound:
            raise Abandoned from None

    # ------------------------------------------------------------------ housekeeping

    def sweep_work_dirs(self) -> int:
        """Remove the work directories of dead workers (a live sibling's stay). Blocking."""
        return sweep(
            self.settings.transcode_work_dir,
            unlocked_max_age=self.settings.transcode_timeout_seconds + 3600,
        )


def _upload_plan(
    video_id: int, outputs: Outputs
) -> tuple[list[tuple[str, Path]], list[tuple[str, Path]]]:
    """(key, file) of every segment, and of every playlist with the master last."""
    hls = outputs.hls_dir
    segments: list[tuple[str, Path]] = []
    playlists: list[tuple[str, Path]] = []
    for name in outputs.renditions:
        for path in sorted((hls / name).iterdir()):
            if SEGMENT_NAME.fullmatch(path.name):
                segments.append((segment_key(video_id, name, path.name), path))
        playlists.append((playlist_key(video_id, name), hls / name / PLAYLIST_NAME))
    playlists.append((master_key(video_id), hls / MASTER_NAME))
    return segments, playlists


def _bytes_per_rendition(
    video_id: int, renditions: list[str], stored: dict[str, int]
) -> dict[str, int]:
    """The stored sizes summed per rendition folder (`hls/<id>/<name>/`: its playlist and
    segments; the master playlist is no rendition's)."""
    prefix = hls_prefix(video_id)
    return {
        name: sum(size for key, size in stored.items() if key.startswith(f"{prefix}{name}/"))
        for name in renditions
    }


def finish_outputs(job: LadderJob, *, truncated: bool) -> float:
    """Check what FFmpeg wrote and replace its master playlist with a measured one; returns
    the playable duration. Blocking (small files): run it in a thread."""
    info, hls_dir = job.info, job.out_dir
    playlists = {
        r.name: read_media_playlist(hls_dir / r.name / PLAYLIST_NAME) for r in job.renditions
    }
    for name, playlist in playlists.items():
        if not playlist.segments:
            raise MediaError(errors.decode_failed(f"no video came out for {name}"))
        for segment in playlist.segments:
            if not SEGMENT_NAME.fullmatch(segment.uri):
                raise RuntimeError(f"unexpected segment name {segment.uri!r} in {name}")
    duration = max(p.duration for p in playlists.values())
    expected = info.video_duration or info.duration
    # The MP4 demuxer's "partial file" alone is not enough: a recording whose last frame or
    # two were lost is still worth publishing.
    if duration < TRUNCATION_TOLERANCE * expected - 0.5 or (truncated and duration < expected - 1):
        raise MediaError(errors.TRUNCATED)
    rate = output_frame_rate(info.frame_rate)
    variants = [
        describe_variant(
            hls_dir / r.name / PLAYLIST_NAME,
            variant_uri(r.name),
            r.width,
            r.height,
            rate,
            info.has_audio,
        )
        for r in job.renditions
    ]
    (hls_dir / MASTER_NAME).write_text(master_playlist(variants), encoding="utf-8")
    return duration


async def _all(coros: list[Coroutine[Any, Any, None]]) -> None:
    """Run them concurrently; on the first failure cancel the rest, then raise it."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
