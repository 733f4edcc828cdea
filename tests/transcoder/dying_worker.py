"""A transcoder worker for the crash tests, run as its own process and killed mid-job:

    python -m tests.transcoder.dying_worker CLIP WORK_DIR VIDEO_ID

It runs the real `Pipeline` (work directory, probe, one slow FFmpeg ladder run) on `CLIP`,
with the system's FFmpeg and the slowest x264 preset on one thread, so that the job is still
encoding when the test kills it.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from common.events import VideoUploaded
from common.storage.local import LocalObjectStore
from tests.support.transcoder import fast_settings
from transcoder.pipeline import Pipeline
from transcoder.tools import resolve_tools


async def main(clip: Path, work_dir: Path, video_id: int) -> None:
    store = LocalObjectStore(work_dir.parent / f"objects-{video_id}")
    await store.start()
    key = f"sources/{video_id}/clip.mp4"
    await store.put_file(key, clip, "video/mp4")
    settings = fast_settings(work_dir, transcode_preset="veryslow", transcode_threads=1)
    pipeline = Pipeline(store, settings, resolve_tools(settings))

    async def progress(percent: int) -> None:
        return None

    await pipeline.transcode(VideoUploaded(video_id=video_id, source_key=key), progress)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])))
